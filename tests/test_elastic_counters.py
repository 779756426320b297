"""Counters on Elasticsearch written without a read: each store remembers the counter documents it wrote
last and names their ``_seq_no`` in the next compare-and-set. Exact when another process (a second store
on the same indices) wrote, overwrote or deleted them in between, or writes at the same time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contenthub.config import Settings
from contenthub.store.elastic import ElasticStore
from tests.es_support import es_url, unique_prefix

pytestmark = pytest.mark.es


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[ElasticStore, ElasticStore]]:
    """Two API processes' stores on the same indices."""
    settings = Settings(data_dir=tmp_path / "data", es_index_prefix=unique_prefix())
    a, b = ElasticStore(es_url(), settings), ElasticStore(es_url(), settings)
    yield a, b
    a.drop()
    a.close()
    b.close()


def test_a_store_writes_its_own_counters_again_without_reading(
    two: tuple[ElasticStore, ElasticStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = two
    a.add_to_counters("profile", [("u1", "n:click", 1.0), ("u2", "n:open", 2.0)])
    reads: list[Any] = []
    real = a._mget
    monkeypatch.setattr(a, "_mget", lambda *args, **kw: reads.append(args) or real(*args, **kw))
    a.add_to_counters("profile", [("u1", "n:click", 1.0), ("u2", "n:open", 2.0)])
    assert reads == []
    assert a.get_counters("profile", "u1") == {"n:click": 2.0}
    assert a.get_counters("profile", "u2") == {"n:open": 4.0}


def test_counters_stay_exact_when_another_process_wrote_in_between(two: tuple[ElasticStore, ElasticStore]) -> None:
    a, b = two
    for _ in range(5):
        a.add_to_counters("profile", [("u1", "n:click", 1.0)])
        b.add_to_counters("profile", [("u1", "n:click", 1.0), ("u2", "n:open", 2.0)])
    assert a.get_counters("profile", "u1") == {"n:click": 10.0}
    assert a.get_counters("profile", "u2") == {"n:open": 10.0}


def test_counters_after_another_process_overwrote_or_deleted_them(two: tuple[ElasticStore, ElasticStore]) -> None:
    a, b = two
    a.add_to_counters("profile", [("u1", "n:click", 1.0), ("u2", "n:click", 1.0)])
    b.set_counters("profile", {"u1": {"n:click": 7.0}})  # what `store copy` does to a target
    b.delete_counters("profile", "u2")  # what erasing a user does
    a.add_to_counters("profile", [("u1", "n:click", 1.0), ("u2", "n:click", 1.0)])
    assert b.get_counters("profile", "u1") == {"n:click": 8.0}
    assert b.get_counters("profile", "u2") == {"n:click": 1.0}


def test_counters_from_two_processes_at_once(two: tuple[ElasticStore, ElasticStore]) -> None:
    def add(store: ElasticStore) -> None:
        for _ in range(10):
            store.add_to_counters("popularity", [("*", "a1", 1.0), ("moments", "a1", 0.5)])

    threads = [threading.Thread(target=add, args=(s,)) for s in (*two, *two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = two
    assert a.get_counters("popularity", "*") == {"a1": 40.0}
    assert b.get_counters("popularity", "moments") == {"a1": 20.0}
