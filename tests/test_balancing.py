"""balancing: a worker ahead of the others hands a new connection over, the other worker serves it as the
same connection, and the counts follow; one not ahead keeps it."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contenthub.balancing import AHEAD, Balancer, balanced_protocol


class FakeTransport(asyncio.BaseTransport):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.aborted = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else default

    def abort(self) -> None:
        self.aborted = True
        self.sock.close()


class Recorder(asyncio.Protocol):
    """Stands in for uvicorn's protocol class."""

    def __init__(self, **kwargs: Any) -> None:
        self.made = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def _connection() -> tuple[socket.socket, socket.socket]:
    """A real TCP connection: (client end, server end)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


@contextmanager
def _accepted(balancer: Balancer) -> Iterator[FakeTransport]:
    """A connection as a worker's transport sees it; both ends and ``balancer`` are closed afterwards."""
    client, server_end = _connection()
    try:
        yield FakeTransport(server_end)
    finally:
        client.close()
        server_end.close()
        balancer.close()


def test_a_worker_ahead_hands_the_connection_over(tmp_path: Path) -> None:
    counts = multiprocessing.get_context("spawn").Array("i", 2)
    busy, idle = Balancer(counts, 0, tmp_path), Balancer(counts, 1, tmp_path)
    counts[0] = AHEAD  # worker 0 already holds AHEAD more than worker 1
    protocol = balanced_protocol(Recorder, busy, handed_over=False)()
    client, server_end = _connection()

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        adopted: asyncio.Future[socket.socket] = loop.create_future()
        idle.listen(loop, adopted.set_result)
        transport = FakeTransport(server_end)
        protocol.connection_made(transport)
        assert transport.aborted and not protocol.made  # given away before uvicorn's protocol saw it
        conn = await asyncio.wait_for(adopted, 5)
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")
        return await asyncio.wait_for(loop.sock_recv(conn, 100), 5)  # the same connection, in worker 1's hands

    try:
        assert asyncio.run(main()) == b"GET / HTTP/1.1\r\n\r\n"
        assert counts[:] == [AHEAD, 1]  # counted for the worker that took it
        protocol.connection_lost(None)
        assert counts[:] == [AHEAD, 1] and not protocol.lost  # not this worker's any more
    finally:
        client.close()
        busy.close()
        idle.close()
    assert not list(tmp_path.iterdir())  # the hand-over sockets are removed


def test_a_worker_not_ahead_keeps_it_and_counts_it(tmp_path: Path) -> None:
    counts = multiprocessing.get_context("spawn").Array("i", 2)
    mine = Balancer(counts, 0, tmp_path)
    counts[0], counts[1] = AHEAD - 1, 0
    protocol = balanced_protocol(Recorder, mine, handed_over=False)()
    with _accepted(mine) as transport:
        protocol.connection_made(transport)
        assert protocol.made and not transport.aborted
        assert counts[:] == [AHEAD, 0]
        protocol.connection_lost(None)
        assert protocol.lost and counts[:] == [AHEAD - 1, 0]


def test_a_connection_handed_over_is_never_handed_on(tmp_path: Path) -> None:
    counts = multiprocessing.get_context("spawn").Array("i", 2)
    receiver = Balancer(counts, 1, tmp_path)
    counts[0], counts[1] = 0, 5  # far ahead, yet the connection came from the other worker
    protocol = balanced_protocol(Recorder, receiver, handed_over=True)()
    with _accepted(receiver) as transport:
        protocol.connection_made(transport)
        assert protocol.made and not transport.aborted
        assert counts[:] == [0, 5]  # the worker that handed it over counted it already
        protocol.connection_lost(None)
        assert counts[:] == [0, 4]


def test_a_worker_that_cannot_be_reached_leaves_the_connection_here(tmp_path: Path) -> None:
    counts = multiprocessing.get_context("spawn").Array("i", 2)
    busy = Balancer(counts, 0, tmp_path)  # worker 1 never listens
    counts[0] = AHEAD + 3
    protocol = balanced_protocol(Recorder, busy, handed_over=False)()
    with _accepted(busy) as transport:
        protocol.connection_made(transport)
        assert protocol.made and not transport.aborted
        assert counts[:] == [AHEAD + 4, 0]
