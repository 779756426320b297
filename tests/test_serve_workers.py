"""``contenthub serve --workers 2``: uvicorn's supervisor runs two worker processes on one port, both answer,
and a stop ends them all."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server_proc import ServerProcess, free_port


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(stat[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _workers(parent: int) -> list[int]:
    """The spawned worker processes (not multiprocessing's resource tracker)."""
    return [
        c
        for c in _descendants(parent)
        if b"multiprocessing.spawn" in Path(f"/proc/{c}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()
    ]


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_two_workers_answer_on_one_port_and_stop_cleanly(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    server = ServerProcess(
        tmp_path / "data",
        port=port,
        log_path=log,
        argv=[
            sys.executable,
            "-m",
            "contenthub.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
        ],
    )
    server.start(timeout=180)
    try:
        deadline = time.monotonic() + 120
        while log.read_bytes().count(b"Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _workers(server.pid)
        assert len(workers) == 2, (workers, _descendants(server.pid))
        clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(16)]  # keep-alive, opened together
        try:
            assert all(c.get("/healthz").status_code == 200 for c in clients)
        finally:
            for c in clients:
                c.close()
    finally:
        assert server.stop(timeout=60) == 0  # SIGTERM: the workers finish and the parent exits cleanly
    assert not [w for w in workers if Path(f"/proc/{w}").exists()], "a worker outlived the stop"


def test_a_port_taken_by_another_program_stops_serve_with_an_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServerProcess(
            tmp_path / "data",
            port=port,
            log_path=tmp_path / "serve.log",
            argv=[sys.executable, "-m", "contenthub.cli", "serve", "--port", str(port), "--workers", "2"],
        )
        with pytest.raises(RuntimeError, match="exited"):
            server.start(timeout=120)
        assert server.proc is not None and server.proc.returncode != 0
        assert b"address already in use" in (tmp_path / "serve.log").read_bytes().lower()
