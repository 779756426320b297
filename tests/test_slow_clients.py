"""Slow and large clients over loopback (issue #26, Medium 5): unauthenticated large and slow uploads are
refused within a second and leave nothing on disk; endless or dripped header blocks are cut off.

The app runs in this process under uvicorn with the options ``contenthub serve`` uses
(``http_protocol.PROTOCOL_OPTIONS``), on a free loopback port; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from contenthub import http_protocol
from contenthub.limits import BodyLimitMiddleware
from tests.server_proc import free_port

UPLOAD_BYTES = 180 * 1024 * 1024


@pytest.fixture
def served(clients: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[Path], int]]:
    spool = tmp_path / "spool"  # where Starlette would spool a multipart body
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.setattr(http_protocol, "HEADER_TIMEOUT_S", 0.5)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            clients.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            **http_protocol.PROTOCOL_OPTIONS,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    folders = [spool, clients.hub.store.media_tmp_dir(), clients.hub.settings.media_dir]
    yield port, folders, min(UPLOAD_BYTES, clients.hub.settings.max_upload_bytes)  # within the size limit
    server.should_exit = True
    thread.join(5)


def _files(folders: list[Path]) -> list[str]:
    return sorted(str(p) for f in folders if f.exists() for p in f.rglob("*"))


def _head(port: int, path: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary=xx\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def _status_within(sock: socket.socket, seconds: float) -> tuple[int, float]:
    started = time.monotonic()
    sock.settimeout(seconds)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]), time.monotonic() - started


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection (EOF, reset or a refused send) within ``seconds``."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.05)
    chunk = b"y" * 65536
    while time.monotonic() < deadline:
        try:
            sock.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return True
        except TimeoutError:
            pass
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            pass
        except ConnectionResetError:
            return True
    return False


@pytest.mark.parametrize("path", ["/v1/assets/upload", "/v1/assets/import", "/library/upload"])
def test_unauthenticated_large_uploads_are_refused_within_a_second(served: Any, path: str) -> None:
    port, folders, size = served
    before = _files(folders)
    socks = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(4)]
    try:
        for s in socks:
            s.sendall(_head(port, path, size) + b"--xx\r\n" + b"z" * 32768)
        for s in socks:
            status, took = _status_within(s, 1.0)
            assert status in (401, 303) and took < 1.0, (status, took)
            assert _closed_within(s, 1.0), "the unread body is never read: the connection closes"
    finally:
        for s in socks:
            s.close()
    assert _files(folders) == before


def test_slow_drip_uploads_are_refused_within_a_second(served: Any) -> None:
    port, folders, size = served
    before = _files(folders)
    socks = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(30)]
    try:
        for s in socks:
            s.sendall(_head(port, "/v1/assets/upload", size))
        started = time.monotonic()
        for s in socks:
            s.sendall(b"-")  # one byte of body each: the drip
            status, _ = _status_within(s, 1.0)
            assert status == 401
        assert time.monotonic() - started < 1.0
    finally:
        for s in socks:
            s.close()
    assert _files(folders) == before


def test_an_endless_header_block_is_cut_off(served: Any) -> None:
    port, _, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(f"POST /v1/assets/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Pad: ".encode())
        started = time.monotonic()
        status = None
        try:
            for _ in range(64):  # up to 4 MB of one header line, never finished
                s.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            status, _ = _status_within(s, 1.0)
        except (ConnectionResetError, IndexError):
            status = None  # closed before the 431 could be read: still cut off
        assert status in (431, None) and time.monotonic() - started < 1.5


def test_dripped_headers_hit_the_header_deadline(served: Any) -> None:
    port, _, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        s.settimeout(0.1)
        while time.monotonic() - started < 2.0 and not closed:
            try:
                s.sendall(b"X: y\r\n")
                closed = s.recv(1) == b""
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        assert closed and time.monotonic() - started < 1.5  # HEADER_TIMEOUT_S is 0.5 s here


def test_a_body_slower_than_the_minimum_rate_gets_408() -> None:
    """An authenticated drip (a byte at a time, never pausing long enough for the stall timeout) is ended."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"n": len(await request.body())})

    app = BodyLimitMiddleware(
        Starlette(routes=[Route("/x", echo, methods=["POST"])]),
        lambda p: 10**6,
        body_timeout=5.0,
        min_rate=100.0,
        grace=0.2,
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"a", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [],
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("t", 80),
        "http_version": "1.1",
    }
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    assert time.monotonic() - started < 1.5
    assert sent[0]["status"] == 408 and "slower than" in json.loads(sent[1]["body"])["error"]["message"]
