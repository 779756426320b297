"""The application over HTTP with an Elasticsearch-backed hub: a few of the existing HTTP flows, unchanged.

The flows are imported from their own test modules and collected here again; this module's ``hub``
fixture replaces the SQLite one, so every request goes to a fresh index prefix on the test node.
Most of the time (minutes on a busy 2-core machine) is the embedding model, as in the SQLite run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contenthub.config import Settings
from contenthub.embeddings import Embedder
from contenthub.hub import Hub, open_hub
from tests.es_support import es_url, require_module, unique_prefix
from tests.test_library_api import (  # noqa: F401 - collected here against Elasticsearch
    test_search_text_filters_and_semantic,
    test_upload_image_dedupes_bytes,
)
from tests.test_recommend_api import (  # noqa: F401 - collected here against Elasticsearch
    library,
    test_caps_return_capped_with_next_time,
    test_click_changes_next_content,
    test_events_idempotent_and_partial_acceptance,
    test_identity_merge_keeps_history,
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
