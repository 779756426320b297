"""Writes that wait for no refresh, and still read-your-own-writes (store/elastic.py).

The indices refresh every 30 s here, so nothing is searchable by the periodic refresh during a test:
whatever a search finds, the store's own refresh-before-search made visible."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contenthub.config import Settings
from contenthub.store.elastic import ElasticStore
from contenthub.store.query import AssetFilter, EventQuery
from tests.es_support import es_url, require_module, unique_prefix
from tests.test_store_contract import event, make_asset, unit

pytestmark = pytest.mark.es
require_module()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ElasticStore]:
    s = ElasticStore(es_url() + "&refresh_interval=30s", Settings(data_dir=tmp_path, es_index_prefix=unique_prefix()))
    s.init()
    yield s
    s.drop()
    s.close()


def refreshes(store: ElasticStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = store._refresh

    def counted(kind: str) -> Any:
        seen.append(kind)
        return real(kind)

    monkeypatch.setattr(store, "_refresh", counted)
    return seen


def test_a_process_searches_what_it_just_wrote(store: ElasticStore) -> None:
    store.add_events([event("e1", user="u1"), event("e2", user="u2", group_id="g1")])
    assert [e["id"] for e in store.query_events(EventQuery(user_ids=("u1",)))] == ["e1"]
    assert store.count_events() == 2 and store.count_events(EventQuery(group_ids=("g1",))) == 1
    store.put_assets([make_asset("a1", "护眼台灯")])
    assert store.count_assets(AssetFilter()) == 1
    assert [h.id for h in store.text_search_assets("台灯", AssetFilter())] == ["a1"]
    store.put_vectors("m", {"a1": unit(1, 0, 0)})
    assert [h.id for h in store.knn_assets(unit(1, 0, 0), AssetFilter(), k=1)] == ["a1"]


def test_one_refresh_serves_every_write_before_it(store: ElasticStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = refreshes(store, monkeypatch)
    for i in range(5):
        store.add_events([event(f"e{i}", user="u1")])
    assert len(store.query_events(EventQuery(user_ids=("u1",)))) == 5
    assert len(store.query_events(EventQuery(user_ids=("u1",)))) == 5
    assert seen == ["events"], "five writes, two searches: one refresh"


def test_no_refresh_when_nothing_written_could_match(store: ElasticStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recommender reads one user's events right after storing another user's 'served' event."""
    store.add_events([event("e1", user="u1"), event("e2", user=None, group_id="g1")])
    store.query_events(EventQuery())  # everything refreshed
    seen = refreshes(store, monkeypatch)
    store.add_events([event("e3", user="u2")])
    assert [e["id"] for e in store.query_events(EventQuery(user_ids=("u1",)))] == ["e1"]
    assert store.count_events(EventQuery(group_ids=("g1",))) == 1
    assert seen == [], "u2's event cannot match a query for u1 or for group g1"
    assert {e["id"] for e in store.query_events(EventQuery(user_ids=("u1", "u2")))} == {"e1", "e3"}
    assert seen == ["events"]
    store.add_events([event("e4", user=None, group_id="g1")])
    assert store.count_events(EventQuery(group_ids=("g1",))) == 2
    assert store.count_events(EventQuery(user_ids=("u9",))) == 0
    assert seen == ["events", "events"], "a group's event: the group's query refreshes, another user's does not"


def test_a_large_batch_goes_in_parallel_chunks_and_answers_in_order(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Event creates of one batch are sent as several bulk requests at once; each event's answer still
    lines up with the event (a duplicate is skipped, a new one counted), whichever chunk finished first."""
    from contenthub.store.elastic import client

    store.add_events([event(f"e{i:04d}", user="u1") for i in range(0, 1200, 3)])  # every third exists
    sizes: list[int] = []
    real = store.es.bulk

    def counted(**kw: Any) -> Any:
        sizes.append(len(kw["operations"]))
        return real(**kw)

    monkeypatch.setattr(store.es, "bulk", counted)
    monkeypatch.setattr(client, "BULK_CHUNK", 500)
    inserted = store.add_events([event(f"e{i:04d}", user="u1") for i in range(1200)])
    assert inserted == [f"e{i:04d}" for i in range(1200) if i % 3]
    assert len(sizes) >= client.PARALLEL_REQUESTS and sum(sizes) == 2 * 1200
    assert store.count_events() == 1200
