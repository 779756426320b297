"""Where the Elasticsearch tests find their server, and how they skip (or fail in CI) without one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from contenthub.config import Settings
from contenthub.embeddings import Embedder
from contenthub.hub import Hub, open_hub

HOW_TO_RUN = (
    "Elasticsearch tests skipped: start a local node with `bash scripts/elasticsearch.sh start` and set "
    "CONTENTHUB_TEST_ES_URL to the URL it prints (CI sets CONTENTHUB_REQUIRE_ES=1 to make this a failure)"
)

# Tests refresh every 100 ms instead of the default 1 s, so what a second process (or a server under test)
# reads catches up sooner; a process's own writes are visible to its next search either way (it refreshes
# first; tests/test_elastic_writes.py runs with 30 s). Replicas 0 keeps the single test node green.
TEST_OPTIONS = "refresh_interval=100ms&replicas=0"


def es_url() -> str:
    """The test node's URL with test index options, or skip (fail when CONTENTHUB_REQUIRE_ES=1)."""
    url = os.environ.get("CONTENTHUB_TEST_ES_URL", "").strip()
    if not url:
        if os.environ.get("CONTENTHUB_REQUIRE_ES") == "1":
            pytest.fail("CONTENTHUB_REQUIRE_ES=1 but CONTENTHUB_TEST_ES_URL is not set: " + HOW_TO_RUN)
        pytest.skip(HOW_TO_RUN)
    return url + ("&" if "?" in url else "?") + TEST_OPTIONS


def unique_prefix() -> str:
    return f"cht-{uuid.uuid4().hex[:10]}"


def require_module() -> None:
    """At import of a module whose every test needs Elasticsearch: skip it before any expensive
    session fixture (the embedding model) loads."""
    if not os.environ.get("CONTENTHUB_TEST_ES_URL", "").strip():
        if os.environ.get("CONTENTHUB_REQUIRE_ES") == "1":
            pytest.fail("CONTENTHUB_REQUIRE_ES=1 but CONTENTHUB_TEST_ES_URL is not set: " + HOW_TO_RUN, pytrace=False)
        pytest.skip(HOW_TO_RUN, allow_module_level=True)


@pytest.fixture(name="hub")
def es_hub(settings: Settings, embedder: Embedder) -> Iterator[Hub]:
    """The ``hub`` fixture on Elasticsearch: a module that imports this (``from tests.es_support import
    es_hub``) runs the tests it collects against a fresh index prefix on the test node instead of SQLite."""
    es_settings = settings.model_copy(update={"store_url": es_url(), "es_index_prefix": unique_prefix()})
    h = open_hub(es_settings, embedder=embedder)
    assert h.store.backend == "elasticsearch"
    yield h
    h.store.drop()  # type: ignore[attr-defined]
    h.close()
