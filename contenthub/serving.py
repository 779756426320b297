"""``contenthub serve --workers N``: N uvicorn processes on one port, each with its own listening socket.

Why not uvicorn's own ``--workers``: its workers share one listening socket, and the process that wakes
first accepts every connection waiting. Bots open their keep-alive connections together, so a burst can
land on one worker and stay there: measured with bench/recommend.py (2 workers, 32 connections), some
runs served 485 requests/s on one busy process while the other idled, others 985. Here each worker
binds its own socket with ``SO_REUSEPORT`` and the kernel spreads new connections over the workers by
their address hash, whichever worker is awake. A hash still splits a few dozen connections unevenly, so a
worker that accepts one while it holds more than another hands it to that worker (``balancing``).

The parent only supervises: it replaces a worker that dies (as uvicorn's supervisor does), and on
SIGINT/SIGTERM asks every worker to finish its requests and stop (SIGTERM: uvicorn's graceful shutdown).
Without ``SO_REUSEPORT`` (not Linux/BSD/macOS) it falls back to uvicorn's workers.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from contenthub import balancing

log = logging.getLogger("contenthub.serving")

STARTUP_GRACE_S = 15.0
"""A worker that exits with an error this soon after starting is a startup failure (port taken, bad
settings): everything stops instead of restarting it forever."""


HEADER_LIMIT_BYTES = 64 * 1024
"""Most a request line plus headers may take; uvicorn's httptools protocol has no limit of its own."""
HEADER_TIMEOUT_S = 10.0
"""Seconds a client has to send a request's headers, from connecting or from its first byte."""
_HEAD_431_BODY = b'{"error": {"code": "too_large", "message": "The request line and headers are larger than 64 KB."}}'
_HEAD_431 = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n"
             b"content-length: " + str(len(_HEAD_431_BODY)).encode() + b"\r\n\r\n" + _HEAD_431_BODY)


class GuardedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (httptools, else h11) with a size limit and a deadline on each request's headers.

    Why here and not in the app: an ASGI app sees a request only once its headers are complete; an endless
    or slowly dripped header block (3 unfinished 100 MB blocks held ~260 MB) never reaches it. A request is
    "in its headers" while no request is in flight on the connection (uvicorn's ``cycle`` is None or its
    response complete); bytes seen then are counted after the parser took them, so headers and body
    arriving in one read are never mistaken for a large header block. A class at module level (not made by
    a function) so that ``--workers`` can hand it to its spawned processes."""

    _head_bytes = 0
    _head_timer: asyncio.TimerHandle | None = None
    _served = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _in_head(self) -> bool:
        cycle = self.cycle
        return cycle is None or cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = asyncio.get_running_loop().call_later(HEADER_TIMEOUT_S, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head_bytes = 0

    def _head_late(self) -> None:
        self._head_timer = None
        # idle keep-alive connections are uvicorn's to close (timeout_keep_alive); a started head, or a
        # connection that never sent a whole request, is ours
        if self._in_head() and (self._head_bytes or not self._served) and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if not self._in_head():
            self._served = True
            self._disarm()
            return
        self._head_bytes += len(data)
        if self._head_bytes > HEADER_LIMIT_BYTES:
            self._disarm()
            self.transport.write(_HEAD_431)
            self.transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


PROTOCOL_OPTIONS: dict[str, Any] = {"http": GuardedHTTPProtocol, "h11_max_incomplete_event_size": HEADER_LIMIT_BYTES,
                                    "timeout_keep_alive": 5}
"""uvicorn options that bound each connection (``contenthub serve`` passes them)."""


def run(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve ``app`` (an import string) like ``uvicorn.run``; ``options`` are uvicorn Config options."""
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, host=host, port=port, workers=workers, **options)
        return
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()
    counts = balancing.shared_counts(ctx, workers)
    folder = balancing.folder_for(os.getpid())
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def start(index: int) -> tuple[BaseProcess, float]:
        proc = ctx.Process(target=_worker, args=(app, host, port, options, index, counts, folder),
                           name="contenthub-worker")
        proc.start()
        return proc, time.monotonic()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs = [start(i) for i in range(workers)]
    log.info("serving on http://%s:%d with %d worker processes (pids %s), one listening socket each",
             host, port, workers, ", ".join(str(p.pid) for p, _ in procs))
    failed = False
    while not stop.wait(0.5):
        for i, (proc, started) in enumerate(procs):
            if proc.is_alive():
                continue
            if proc.exitcode and time.monotonic() - started < STARTUP_GRACE_S:
                log.error("worker %s failed to start (exit code %s); stopping", proc.pid, proc.exitcode)
                failed = True
                stop.set()
                break
            log.warning("worker %s exited (code %s); starting a new one", proc.pid, proc.exitcode)
            procs[i] = start(i)
    _stop_all([p for p, _ in procs], float(options.get("timeout_graceful_shutdown") or 20))
    shutil.rmtree(folder, ignore_errors=True)
    if failed:
        raise SystemExit(1)


def _stop_all(procs: list[BaseProcess], grace: float) -> None:
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGTERM)  # graceful; a second SIGINT would make uvicorn force-quit
    deadline = time.monotonic() + grace + 10
    for proc in procs:
        proc.join(max(deadline - time.monotonic(), 0.1))
        if proc.is_alive():
            proc.kill()
            proc.join()


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _worker(app: str, host: str, port: int, options: dict[str, Any], index: int,
            counts: SynchronizedArray[int], folder: Path) -> None:
    """One worker process: its own socket in the port's SO_REUSEPORT group, a uvicorn server that keeps its
    share of the connections (``balancing``)."""
    sock = _listening_socket(host, port)
    balancer = balancing.Balancer(counts, index, folder)
    _BalancedServer(uvicorn.Config(app, host=host, port=port, **options), balancer).run(sockets=[sock])


class _BalancedServer(uvicorn.Server):
    """uvicorn's server with its connections counted, handed to a less busy worker when this one is ahead,
    and taking those the others hand to it (``balancing``)."""

    def __init__(self, config: uvicorn.Config, balancer: balancing.Balancer) -> None:
        super().__init__(config)
        self.balancer = balancer

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        config = self.config
        if config.is_ssl:  # a TLS session cannot change process: serve every connection where it lands
            await super().startup(sockets=sockets)
            return
        base = config.http_protocol_class
        config.http_protocol_class = balancing.balanced_protocol(base, self.balancer, handed_over=False)
        handed_over = balancing.balanced_protocol(base, self.balancer, handed_over=True)
        await super().startup(sockets=sockets)
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:  # what uvicorn's startup builds for a connection it accepts
            return handed_over(config=config, server_state=self.server_state, app_state=self.lifespan.state)

        def adopt(conn: socket.socket) -> None:
            task = loop.create_task(loop.connect_accepted_socket(protocol, conn))
            task.add_done_callback(_log_failure)

        self.balancer.listen(loop, adopt)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.balancer.close()
        await super().shutdown(sockets=sockets)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a connection handed over by another worker could not be served: %s", task.exception())
