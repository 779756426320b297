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
