"""Keep the keep-alive connections of ``serve --workers N`` even across the worker processes.

Why: each worker listens on its own ``SO_REUSEPORT`` socket (see ``serving``) and the kernel picks one by a
hash of the client's address, so 32 bot connections split at random — 18/14, 20/12 and 21/11 in
bench/recommend.py runs. A connection stays on its worker for its life, and at concurrency 32 a request
waits for the requests queued on its own worker: with 20/12 that worker's median was 28 ms against 17 ms on
the other, and the p99 over both went from ~31 to ~42 ms.

How: the workers share one count of open connections each (an array in shared memory). A worker that
accepts a connection while it holds more than the least busy worker passes the socket to that worker
over a Unix datagram socket (``SCM_RIGHTS``) before reading a byte of it, then closes its own descriptor;
the other worker serves it as if it had accepted it. A connection handed over is never handed on. Nothing
the client sees changes, and any failure to hand over keeps the connection where it is.

Neither uvicorn nor the kernel offers this: uvicorn's own workers share one listening socket (bursts land
on whichever process wakes first), and a stateful kernel choice needs an eBPF program.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from array import array
from collections.abc import Callable
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

log = logging.getLogger("contenthub.serving")

AHEAD = 1
"""Connections a worker may hold above the least busy one before it hands new ones over (1: as even as can be)."""


class Balancer:
    """One worker's side: its count in ``counts`` (index ``me``), its hand-over socket in ``folder``."""

    def __init__(self, counts: SynchronizedArray[int], me: int, folder: Path) -> None:
        self.counts = counts
        self.me = me
        self.folder = folder
        self.counts[me] = 0  # a worker started again: the connections its predecessor held are gone
        self.inbox: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.outbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.outbox.setblocking(False)

    def _path(self, worker: int) -> str:
        return str(self.folder / f"worker-{worker}.sock")

    def _add(self, worker: int, n: int) -> None:
        with self.counts.get_lock():  # += reads and writes separately: the lock makes it one step
            self.counts[worker] += n

    def opened(self) -> None:
        self._add(self.me, 1)

    def closed(self) -> None:
        self._add(self.me, -1)

    def target(self) -> int | None:
        """The least busy worker, when this one holds AHEAD or more connections than it (else None)."""
        counts = self.counts[:]
        least = min(range(len(counts)), key=counts.__getitem__)
        return least if counts[self.me] - counts[least] >= AHEAD else None

    def hand_over(self, transport: asyncio.BaseTransport) -> bool:
        """Pass the connection of ``transport`` to a less busy worker; True when it went (the caller then
        closes its transport and forgets the connection)."""
        worker = self.target()
        sock = transport.get_extra_info("socket")
        if worker is None or sock is None:
            return False
        try:
            # sendmsg, not socket.send_fds: send_fds drops its address argument (CPython 3.11)
            self.outbox.sendmsg([b"c"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", [sock.fileno()]))], 0,
                               self._path(worker))
        except OSError as exc:  # the other worker is restarting, or its inbox is full: keep it here
            log.debug("could not hand a connection to worker %d: %s", worker, exc)
            return False
        self._add(worker, 1)  # counted now, so the next accept here sees it; the receiver does not count it again
        return True

    def listen(self, loop: asyncio.AbstractEventLoop, adopt: Callable[[socket.socket], Any]) -> None:
        """Receive connections handed over by other workers and give each to ``adopt``."""
        path = self._path(self.me)
        Path(path).unlink(missing_ok=True)
        inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        inbox.bind(path)
        inbox.setblocking(False)
        self.inbox = inbox

        def receive() -> None:
            while True:
                try:
                    _, fds, _, _ = socket.recv_fds(inbox, 16, 4)
                except (BlockingIOError, InterruptedError):
                    return
                for fd in fds:
                    conn = socket.socket(fileno=fd)
                    conn.setblocking(False)
                    adopt(conn)

        loop.add_reader(inbox.fileno(), receive)
        self._loop = loop

    def close(self) -> None:
        if self._loop is not None and self.inbox is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.inbox.fileno())  # before the socket goes: the loop must not poll it
        for s in (self.inbox, self.outbox):
            if s is not None:
                s.close()
        if self.inbox is not None:
            Path(self._path(self.me)).unlink(missing_ok=True)


def balanced_protocol(base: type, balancer: Balancer, *, handed_over: bool) -> type:
    """``base`` (uvicorn's HTTP protocol class) counting its connections in ``balancer``; unless the
    connection was ``handed_over`` already, one accepted while this worker is ahead goes to another."""

    class Balanced(base):  # type: ignore[misc,valid-type]
        _gone = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
            if not handed_over and balancer.hand_over(transport):
                self._gone = True
                transport.abort()  # closes this process's descriptor only: the other worker holds the connection
                return
            if not handed_over:  # one handed over was counted by the worker that handed it over
                balancer.opened()
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._gone:
                return
            balancer.closed()
            super().connection_lost(exc)

    Balanced.__name__ = Balanced.__qualname__ = f"Balanced{base.__name__}"
    return Balanced


def shared_counts(ctx: Any, workers: int) -> SynchronizedArray[int]:
    """The per-worker connection counts, in shared memory (made by the parent before the workers start)."""
    return ctx.Array("i", workers)


def folder_for(pid: int) -> Path:
    """Where the workers of the parent ``pid`` keep their hand-over sockets."""
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"contenthub-serve-{pid}"
