"""Limits: graceful shutdown finishes in-flight requests, stalled bodies time out, idle connections close,
and session cookies are Secure when the site is served over HTTPS.

The shutdown test runs the real ``contenthub serve`` (the command operators use, where uvicorn's
``timeout_graceful_shutdown`` is set) in a subprocess on loopback and sends SIGTERM while a request's body
is still arriving.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contenthub.limits import BodyLimitMiddleware
from tests.server_proc import ServerProcess

ADMIN = "chk_limitsadmin_" + "s" * 32


def _request_head(port: int, path: str, body_len: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {ADMIN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n"
    ).encode()


def _read_response(sock: socket.socket, timeout: float = 30.0) -> tuple[int, bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest


@pytest.fixture
def served(tmp_path: Path) -> Any:
    data = tmp_path / "data"
    server = ServerProcess(data, env_extra={"CONTENTHUB_BOOTSTRAP_ADMIN_KEY": ADMIN}, log_path=tmp_path / "serve.log")
    server.argv = [sys.executable, "-m", "contenthub.cli", "serve", "--port", str(server.port), "--data-dir", str(data)]
    server.start()
    yield server
    server.kill()


def test_sigterm_lets_an_in_flight_request_finish(served: ServerProcess) -> None:
    body = json.dumps(
        {"events": [{"id": "inflight-1", "type": "unsubscribe", "user_id": "u1", "channel": "sms"}]}
    ).encode()
    sock = socket.create_connection(("127.0.0.1", served.port))
    try:
        sock.sendall(_request_head(served.port, "/v1/events", len(body)) + body[:20])
        time.sleep(0.5)  # the server has the headers and is waiting for the rest of the body
        served.signal(signal.SIGTERM)
        time.sleep(1.5)
        assert served.alive(), "the server waits for the in-flight request instead of dropping it"
        with pytest.raises(OSError):  # …while no longer accepting new connections
            socket.create_connection(("127.0.0.1", served.port), timeout=2).close()
        sock.sendall(body[20:])
        status, payload = _read_response(sock)
    finally:
        sock.close()
    assert status == 200 and json.loads(payload)["accepted"] == 1
    served.proc.wait(timeout=30)  # type: ignore[union-attr]
    log = served.log_path.read_text()  # type: ignore[union-attr]
    assert "Waiting for connections to close" in log and "Finished server process" in log
    conn = sqlite3.connect(served.data_dir / "contenthub.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE id='inflight-1'").fetchone()[0] == 1
    finally:
        conn.close()


def test_idle_keep_alive_connections_are_closed(served: ServerProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", served.port))
    try:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n\r\n".encode())
        status, _ = _read_response(sock)
        assert status == 200
        sock.settimeout(15)
        started = time.monotonic()
        assert sock.recv(1) == b"", "the server closes an idle keep-alive connection"
        assert time.monotonic() - started < 12
    finally:
        sock.close()


def test_serve_bounds_graceful_shutdown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`contenthub serve` passes a graceful-shutdown deadline: in-flight requests finish, a hung one cannot
    keep a deploy waiting forever."""
    import uvicorn
    from typer.testing import CliRunner

    from contenthub.cli import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setenv("CONTENTHUB_DATA_DIR", str(tmp_path / "d"))  # serve sets it; restored after the test
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--port", "1"])
    assert result.exit_code == 0, result.output
    assert 5 <= seen["timeout_graceful_shutdown"] <= 60


def test_a_stalled_body_gets_408_and_frees_the_worker() -> None:
    """A client that stops sending mid-body is answered 408 after the idle timeout (no worker or temp file held)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"n": len(await request.body())})

    app = BodyLimitMiddleware(
        Starlette(routes=[Route("/x", echo, methods=["POST"])]), lambda p: 10**6, body_timeout=0.3
    )
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b'{"a": ', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # the client never sends the rest
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("t", 80),
        "http_version": "1.1",
    }
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    assert time.monotonic() - started < 2
    assert sent[0]["status"] == 408
    assert "stalled" in json.loads(sent[1]["body"])["error"]["message"]


@pytest.mark.parametrize("secure", [True, False])
def test_session_cookie_is_secure_when_served_over_https(clients: Any, secure: bool) -> None:
    from contenthub.app import create_app

    clients.hub.settings.secure_cookies = secure
    app = create_app(clients.hub.settings, clients.hub)
    base = "https://hub.example" if secure else "http://hub.example"
    c = TestClient(app, base_url=base)
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post(
        "/login", data={"key": clients.keys["editor"], "csrf_token": token, "next": "/library"}, follow_redirects=False
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "contenthub_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert ("; secure" in cookie) == secure
    assert c.get("/library").status_code == 200, "the browser sends the cookie back over the site's scheme"
    if secure:  # a Secure cookie never travels over plain http
        plain = TestClient(app, base_url="http://hub.example", cookies=c.cookies)
        assert plain.get("/library", follow_redirects=False).status_code == 303
