"""Multi-document writes on Elasticsearch (store/es_intents.py), crashed after each step.

A "crash" is an exception raised from inside the write at a chosen step: what was written before it
stays, nothing after it happens, and the intent document is left behind as a killed process would
leave it. Recovery (``es_intents.recover``, run by every store at start and every minute) must then
finish the write exactly once, in order, and never overwrite what a later writer stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contenthub.config import Settings
from contenthub.store import es_intents
from contenthub.store.elastic import ElasticStore
from tests.es_support import es_url, require_module, unique_prefix

pytestmark = pytest.mark.es
require_module()


class Crash(Exception):
    pass


@pytest.fixture(params=[1, 2], ids=["one-shard", "two-shards"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ElasticStore]:
    """One shard: a write is one ordered bulk request. Two: one request per part of the order."""
    s = ElasticStore(
        es_url() + f"&shards={request.param}", Settings(data_dir=tmp_path, es_index_prefix=unique_prefix())
    )
    yield s
    s.drop()
    s.close()


def crash_after_writes(monkeypatch: pytest.MonkeyPatch, store: ElasticStore, writes: int) -> None:
    """The writer dies after ``writes`` of its document writes were applied (0: right after the intent),
    in the middle of a bulk request or between two."""
    budget: dict[str, int | None] = {"n": writes}
    real = store._bulk

    def bulk(ops: list[Any], **kw: Any) -> Any:
        left = budget["n"]
        if left is None:
            return real(ops, **kw)
        if len(ops) <= left:
            budget["n"] = left - len(ops)
            return real(ops, **kw)
        real(ops[:left], **kw)
        budget["n"] = None  # dead: recovery, in another process, writes normally
        raise Crash

    monkeypatch.setattr(store, "_bulk", bulk)


def state(store: ElasticStore) -> dict[str, Any]:
    got = {d: store.get_doc_version("plans", d) for d in ("head", "copy", "old")}
    return {d: (v[0]["gen"], v[1]) if v else None for d, v in got.items()}


def seed(store: ElasticStore) -> None:
    store.put_docs_atomic("plans", {"head": {"gen": 1}, "copy": {"gen": 1}, "old": {"gen": 1}})
    assert state(store) == {"head": (1, 1), "copy": (1, 1), "old": (1, 1)}


def pending_intents(store: ElasticStore) -> int:
    store._refresh("docs")
    return store._count("docs", {"term": {"collection": es_intents.INTENT}})


@pytest.mark.parametrize("phases", [0, 1, 2])
def test_a_write_crashed_after_any_step_is_finished_once_by_recovery(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch, phases: int
) -> None:
    seed(store)
    crash_after_writes(monkeypatch, store, phases)
    with pytest.raises(Crash):
        store.put_docs_atomic("plans", {"head": {"gen": 2}, "copy": {"gen": 2}}, delete=["old"])
    seen = state(store)
    # what a reader sees meanwhile is a prefix: head, then copy, then the deletion
    expected_prefix = [
        {"head": (1, 1), "copy": (1, 1), "old": (1, 1)},
        {"head": (2, 2), "copy": (1, 1), "old": (1, 1)},
        {"head": (2, 2), "copy": (2, 2), "old": (1, 1)},
    ][phases]
    assert seen == expected_prefix
    assert pending_intents(store) == 1
    assert es_intents.recover(store, grace=0) == 1
    assert state(store) == {"head": (2, 2), "copy": (2, 2), "old": None}
    assert pending_intents(store) == 0
    assert es_intents.recover(store, grace=0) == 0, "nothing left to replay"
    assert state(store) == {"head": (2, 2), "copy": (2, 2), "old": None}


def test_recovery_never_overwrites_a_later_writer(store: ElasticStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(store)
    crash_after_writes(monkeypatch, store, 1)  # head written, copy not, old not deleted
    with pytest.raises(Crash):
        store.put_docs_atomic("plans", {"head": {"gen": 2}, "copy": {"gen": 2}}, delete=["old"])
    # after the crash, before recovery, other writers change the copy and the doc to delete
    store.put_doc("plans", "copy", {"gen": 7}, expected_version=1)
    store.put_doc("plans", "old", {"gen": 8})
    assert es_intents.recover(store, grace=0) == 1
    assert state(store) == {"head": (2, 2), "copy": (7, 2), "old": (8, 2)}, "the later writes stand"


def test_replaying_a_write_that_had_finished_changes_nothing(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer applied everything and died before deleting its intent (or recovery runs while the
    writer is still finishing): the replay finds every doc stamped with the intent and leaves it."""
    seed(store)
    monkeypatch.setattr(store, "_delete_quietly", lambda kind, doc_id: None)
    store.put_docs_atomic("plans", {"head": {"gen": 2}, "copy": {"gen": 2}}, delete=["old"])
    monkeypatch.undo()
    after = state(store)
    assert after == {"head": (2, 2), "copy": (2, 2), "old": None}
    assert es_intents.recover(store, grace=0) == 1
    assert state(store) == after, "no second version, no resurrected doc"


def test_a_young_intent_is_left_to_its_writer(store: ElasticStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(store)
    crash_after_writes(monkeypatch, store, 0)
    with pytest.raises(Crash):
        store.put_docs_atomic("plans", {"head": {"gen": 2}})
    assert es_intents.recover(store) == 0, "younger than the grace period: its writer may be finishing"
    assert state(store)["head"] == (1, 1)


def test_a_new_store_process_replays_what_a_dead_one_left(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed(store)
    crash_after_writes(monkeypatch, store, 1)
    with pytest.raises(Crash):
        store.put_docs_atomic("plans", {"head": {"gen": 3}, "copy": {"gen": 3}})
    monkeypatch.undo()
    monkeypatch.setattr(es_intents, "INTENT_GRACE", 0.0)
    other = ElasticStore(es_url(), Settings(data_dir=tmp_path / "other", es_index_prefix=store.prefix))
    try:
        assert {d: other.get_doc("plans", d)["gen"] for d in ("head", "copy")} == {"head": 3, "copy": 3}
    finally:
        other.close()
