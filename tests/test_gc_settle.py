"""gc_settle: survivors are frozen (full collections stop walking them), and a full settle reclaims
reference cycles that became garbage among frozen objects."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from contenthub import gc_settle


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def thawed() -> Iterator[None]:
    """Leave the test process as it was: nothing frozen."""
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settle_freezes_survivors_and_collects_garbage_first(thawed: None) -> None:
    garbage = _cycle()  # unreachable already: collected, not frozen
    kept = Node()
    gc_settle.settle()
    assert garbage() is None
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(kept)
    assert not any(o is kept for o in gc.get_objects())  # frozen: in no generation the collector walks


def test_frozen_cycles_wait_for_a_full_settle(thawed: None) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    gc_settle.settle()  # the live cycle is frozen
    del a, b  # now garbage, but frozen: an ordinary collection does not walk it
    gc.collect()
    assert ref() is not None
    gc_settle.settle()  # nor does an ordinary settle
    assert ref() is not None
    gc_settle.settle(full=True)
    assert ref() is None
    assert gc.get_freeze_count() > 0  # and the survivors are frozen again


def test_start_runs_one_thread(thawed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc_settle, "_thread", None)
    gc_settle.start(every=3600, full_every=3600)
    first = gc_settle._thread
    gc_settle.start(every=3600, full_every=3600)
    assert first is not None and first.is_alive() and gc_settle._thread is first and first.daemon
