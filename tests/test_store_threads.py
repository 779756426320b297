"""Connections of ended threads are closed: a long-running server must not collect one per thread ever run."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from contenthub.store.sqlite import SQLiteStore


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_threads_that_end_do_not_leave_connections_open(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    store.put_doc("c", "x", {"v": 1})

    def read() -> None:
        assert store.get_doc("c", "x") == {"v": 1}

    for _ in range(3):  # warm up: the main thread's connection and any lazily opened files
        t = threading.Thread(target=read)
        t.start()
        t.join()
    before = _open_fds()
    for _ in range(50):
        t = threading.Thread(target=read)
        t.start()
        t.join()
    assert _open_fds() - before <= 4, "each ended thread's connection (db + wal handles) must be closed"
    assert store.get_doc("c", "x") == {"v": 1}
    store.close()


def _try_turn(lock_path: str) -> bool:
    """In another process: can it take the write turn right now?"""
    import fcntl
    import os

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_write_holds_the_write_turn_other_processes_wait_on(tmp_path: Path) -> None:
    """Writers of every process queue on one flock (woken at once when it is free) before BEGIN IMMEDIATE,
    instead of SQLite's sleep-and-retry busy wait; it is held exactly while a write transaction is open."""
    import multiprocessing

    store = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    lock_path = f"{store.db_path}.write-lock"
    store.put_doc("notes", "a", {"n": 1})
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(_try_turn, (lock_path,)) is True
        with store._tx() as tx:
            tx.execute("INSERT INTO docs (collection, id, body, version, updated_at) VALUES ('notes','b','{}',1,'t')")
            assert pool.apply(_try_turn, (lock_path,)) is False
        assert pool.apply(_try_turn, (lock_path,)) is True
    assert store.get_doc("notes", "b") == {}
    store.close()


def _wal_frames(store: SQLiteStore) -> int:
    """mxFrame of the wal-index header (the -shm file, offset 16, native order: sqlite.org/walformat.html):
    the frames in the WAL now, which drops when the WAL starts over."""
    import sys

    return int.from_bytes(Path(f"{store.db_path}-shm").read_bytes()[16:20], sys.byteorder)


def test_ingested_batches_are_checkpointed_in_the_background(tmp_path: Path, monkeypatch) -> None:
    """Every CHECKPOINT_EVENTS events the checkpoint thread copies the WAL back, so the WAL starts over
    instead of growing batch after batch (the ingest connection's own checkpoint is far off); close() stops
    the thread."""
    import time

    from contenthub.store.sqlite import connection as sq

    monkeypatch.setattr(sq, "CHECKPOINT_EVENTS", 50)
    store = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    frames = []
    for b in range(20):
        store.add_events(
            [
                {
                    "id": f"e{b}-{i}",
                    "type": "open",
                    "user_id": f"u{b}-{i}",
                    "asset_id": "a1",
                    "channel": "sms",
                    "group_id": None,
                    "recommendation_id": None,
                    "ts": "2026-11-01T10:00:00.000000Z",
                    "value": None,
                }
                for i in range(60)
            ]
        )
        frames.append(_wal_frames(store))
        time.sleep(0.05)  # the thread's turn
    thread = store._checkpointer
    assert thread is not None and thread.is_alive()
    assert any(later < earlier for earlier, later in zip(frames, frames[1:], strict=False)), frames  # it started over
    assert frames[-1] <= 2 * frames[1], frames  # not 20 batches' worth
    assert store.count_events() == 1200
    store.close()
    assert not thread.is_alive()
