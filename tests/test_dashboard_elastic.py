"""The dashboard on an Elasticsearch-backed hub: the same checks against the raw events, collected again.

This module's ``hub`` fixture replaces the SQLite one (a fresh index prefix on the test node), so the weekly
counters are written by the ES store's counter updates and read back by its ``scan_counters``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contenthub.config import Settings
from contenthub.embeddings import Embedder
from contenthub.hub import Hub, open_hub
from tests.es_support import es_url, require_module, unique_prefix
from tests.test_dashboard import (  # noqa: F401 - collected here against Elasticsearch
    test_channel_health_matches_event_counts,
    test_empty_hub_says_what_is_missing,
    test_fatigue_bins_match_the_events,
    test_retention_triangle_matches_the_events,
    world,
)

pytestmark = pytest.mark.es
require_module()


@pytest.fixture
def hub(settings: Settings, embedder: Embedder) -> Iterator[Hub]:
    es_settings = settings.model_copy(update={"store_url": es_url(), "es_index_prefix": unique_prefix()})
    h = open_hub(es_settings, embedder=embedder)
    assert h.store.backend == "elasticsearch"
    yield h
    h.store.drop()  # type: ignore[attr-defined]
    h.close()
