"""``contenthub serve --workers 2``: two processes on one port, connections spread evenly over both (handed
over where the kernel put too many on one), a clean stop."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from contenthub.balancing import AHEAD
from tests.server_proc import ServerProcess, free_port


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry))
    return found


def _sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return count


def _workers(parent: int) -> list[int]:
    """The spawned worker processes of ``contenthub serve`` (not multiprocessing's resource tracker)."""
    return [c for c in _children(parent) if b"multiprocessing.spawn" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT") or not Path("/proc").exists(), reason="Linux only")
def test_two_workers_share_the_port_and_the_connections(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "data", port=port, log_path=tmp_path / "serve.log",
                           argv=[sys.executable, "-m", "contenthub.cli", "serve", "--port", str(port), "--workers", "2",
                                 "--no-access-log"])
    server.start(timeout=180)
    try:
        log = tmp_path / "serve.log"
        deadline = time.monotonic() + 120
        while log.read_bytes().count(b"Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # both workers listen (each on its own socket) before the burst
        workers = _workers(server.pid)
        assert len(workers) == 2, (workers, _children(server.pid))
        before = {w: _sockets(w) for w in workers}
        clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(32)]  # keep-alive, opened together
        try:
            assert all(c.get("/healthz").status_code == 200 for c in clients)
            gained = {w: _sockets(w) - before[w] for w in workers}
        finally:
            for c in clients:
                c.close()
        assert sum(gained.values()) >= 32
        # each worker keeps within balancing.AHEAD of the other (the kernel alone split 32 at random: 20/12, 21/11)
        assert max(gained.values()) - min(gained.values()) <= AHEAD + 1, f"connections are not even: {gained}"
    finally:
        assert server.stop(timeout=60) == 0  # SIGTERM: the workers finish and the parent exits cleanly
    assert not [w for w in workers if Path(f"/proc/{w}").exists()], "a worker outlived the stop"


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_a_port_taken_by_another_program_stops_serve_with_an_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServerProcess(tmp_path / "data", port=port, log_path=tmp_path / "serve.log",
                               argv=[sys.executable, "-m", "contenthub.cli", "serve", "--port", str(port),
                                     "--workers", "2"])
        with pytest.raises(RuntimeError, match="exited"):
            server.start(timeout=120)
        assert server.proc is not None and server.proc.returncode == 1
        assert b"failed to start" in (tmp_path / "serve.log").read_bytes()
