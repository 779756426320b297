"""A store outage answers 503 + Retry-After (JSON on /v1, a page elsewhere), keeps the connection open,
fails /readyz but not /healthz, and ends by itself when the store is back.

The outage is real: a server process talks to the test Elasticsearch node through a TCP relay this test
can cut (every connection dropped, the port refusing) and restore.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError
from elasticsearch import NotFoundError as ESNotFound
from fastapi.testclient import TestClient

from contenthub.access import keys
from contenthub.app import create_app
from contenthub.audience.profiles import user_read
from contenthub.config import Settings
from contenthub.errors import ConflictError, StoreUnavailableError
from contenthub.hub import open_hub
from contenthub.store import elastic, sqlite
from contenthub.store.outage import translate_outages
from contenthub.store.query import HitPage
from tests.es_support import es_url, unique_prefix
from tests.server_proc import ServerProcess, free_port

ADMIN = "outage-admin-key-0123456789"


def _api_error(status: int, kind: str) -> ApiError:
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "localhost", 9200),
    )
    return ApiError(kind, meta, {"error": {"type": kind}})


def test_outages_are_told_apart_from_other_errors() -> None:
    assert elastic.outage_reason(TransportConnectionError("refused"))
    assert elastic.outage_reason(_api_error(503, "unavailable_shards_exception"))
    assert elastic.outage_reason(_api_error(429, "es_rejected_execution_exception"))
    assert elastic.outage_reason(_api_error(400, "mapper_parsing_exception")) is None
    assert elastic.outage_reason(ESNotFound("index_not_found_exception", _api_error(404, "x").meta, {})) is None
    assert sqlite.outage_reason(sqlite3.OperationalError("database is locked"))
    assert sqlite.outage_reason(sqlite3.OperationalError("disk I/O error"))
    assert sqlite.outage_reason(sqlite3.OperationalError("no such table: docs")) is None


def test_every_public_call_and_generator_of_a_store_translates_outages() -> None:
    @translate_outages("Test", lambda e: "down" if isinstance(e, OSError) else None)
    class Store:
        def get(self, fail: BaseException | None) -> int:
            if fail:
                raise fail
            return 1

        def scan(self) -> Iterator[int]:
            yield 1
            raise OSError("gone mid-scan")

        async def read_async(self, fail: BaseException | None) -> int:
            await asyncio.sleep(0)
            return self.get(fail)

        def _helper(self) -> None:
            raise OSError("private helpers run inside a public call")

    s = Store()
    assert s.get(None) == 1
    with pytest.raises(StoreUnavailableError) as info:
        s.get(OSError("refused"))
    assert info.value.status == 503 and info.value.extra["retry_after"] >= 1
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(ConflictError):  # everything else passes through unchanged
        s.get(ConflictError("taken"))
    it = s.scan()
    assert next(it) == 1
    with pytest.raises(StoreUnavailableError):
        next(it)
    with pytest.raises(OSError):
        s._helper()
    assert asyncio.run(s.read_async(None)) == 1
    with pytest.raises(StoreUnavailableError) as info:
        asyncio.run(s.read_async(OSError("refused while awaited")))
    assert info.value.extra["retry_after"] >= 1


def test_bulk_items_that_met_an_unavailable_shard_are_an_outage() -> None:
    assert isinstance(elastic._write_failure("x", [503, 503]), StoreUnavailableError)
    assert isinstance(elastic._write_failure("x", [503, 400]), elastic.StoreError)


class Relay:
    """A TCP relay 127.0.0.1:port → upstream that can be cut (connections reset, port closed) and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.live: set[socket.socket] = set()
        self.lock = threading.Lock()

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.live |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        # shutdown() before close(): a thread blocked in accept() or recv() on the socket keeps it alive
        # (still listening, still connected) through a mere close().
        assert self.listener is not None
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.listener = None
        with self.lock:
            for s in self.live:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.live.clear()


@pytest.fixture
def server_behind_relay(tmp_path: Path) -> Iterator[tuple[ServerProcess, Relay]]:
    url = urlsplit(es_url())
    relay = Relay((url.hostname or "127.0.0.1", url.port or 9200))
    relay.start()
    store_url = urlunsplit((url.scheme, f"127.0.0.1:{relay.port}", url.path, url.query, ""))
    prefix = unique_prefix()
    server = ServerProcess(
        tmp_path / "data",
        env_extra={
            "CONTENTHUB_STORE_URL": store_url,
            "CONTENTHUB_ES_INDEX_PREFIX": prefix,
            "CONTENTHUB_BOOTSTRAP_ADMIN_KEY": ADMIN,
        },
        log_path=tmp_path / "server.log",
    )
    server.start(timeout=240)
    try:
        yield server, relay
    finally:
        server.stop()
        if relay.listener is None:
            relay.start()
        store = elastic.ElasticStore(store_url, Settings(data_dir=tmp_path / "data"), prefix=prefix)
        store.drop()
        store.close()


@pytest.mark.es
def test_an_awaited_read_of_an_unreachable_node_is_an_outage_and_recovers(tmp_path: Path) -> None:
    """Next content's awaited profile read (``read_subjects_async``, the async client) meets an outage as
    every other read does: ``StoreUnavailableError`` (503 + Retry-After over HTTP), and reads again once
    the node answers, on the same loop and client."""
    url = urlsplit(es_url())
    relay = Relay((url.hostname or "127.0.0.1", url.port or 9200))
    relay.start()
    store_url = urlunsplit((url.scheme, f"127.0.0.1:{relay.port}", url.path, url.query, ""))
    store = elastic.ElasticStore(store_url, Settings(data_dir=tmp_path / "data"), prefix=unique_prefix())
    spec = user_read()

    async def read_cut_read() -> tuple[str | None, StoreUnavailableError, str | None]:
        before = (await store.read_subjects_async(["u1"], spec))["u1"].doc
        relay.cut()
        with pytest.raises(StoreUnavailableError) as info:
            await store.read_subjects_async(["u1"], spec)
        relay.start()
        after = (await store.read_subjects_async(["u1"], spec))["u1"].doc
        return (before or {}).get("id"), info.value, (after or {}).get("id")

    try:
        store.put_doc("users", "u1", {"id": "u1", "created_at": "2026-01-01T00:00:00+00:00"})
        before, error, after = asyncio.run(read_cut_read())
        assert before == after == "u1"
        assert error.status == 503 and error.extra["retry_after"] >= 1 and "again" in error.message
    finally:
        if relay.listener is None:
            relay.start()
        store.drop()
        store.close()


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, body: object = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {ADMIN}", "Accept-Language": "en"}  # an English-speaking bot
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


@pytest.mark.es
def test_store_outage_answers_503_keeps_the_connection_and_recovers(
    server_behind_relay: tuple[ServerProcess, Relay],
) -> None:
    server, relay = server_behind_relay
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    events = {"events": [{"id": "e-before", "type": "unsubscribe", "user_id": "u1", "channel": "wecom_1v1"}]}
    status, _, body = _request(conn, "POST", "/v1/events", events)
    assert status == 200, body
    # the catalog built: next content's requests take the fast path (its profile read awaited on the loop)
    assert _request(conn, "GET", "/v1/recommendations/users/u1?channel=wecom_1v1")[0] == 200
    assert _request(conn, "GET", "/readyz")[0] == 200
    sock = conn.sock

    relay.cut()
    routes = [
        (
            "POST",
            "/v1/events",
            {"events": [{"id": "e-during", "type": "unsubscribe", "user_id": "u1", "channel": "wecom_1v1"}]},
        ),
        ("GET", "/v1/recommendations/users/u1?channel=wecom_1v1", None),  # the fast path
        ("GET", "/v1/assets", None),
    ]
    for method, path, payload in routes:
        status, headers, body = _request(conn, method, path, payload)
        assert status == 503, (path, status, body)
        assert int(headers["retry-after"]) >= 1
        error = json.loads(body)["error"]
        assert error["code"] == "store_unavailable" and "again" in error["message"], error
    status, headers, body = _request(conn, "GET", "/library")
    assert status == 503 and headers["content-type"].startswith("text/html") and "retry-after" in headers
    assert b"<html" in body.lower() and b"store_unavailable" not in body
    status, headers, _ = _request(conn, "GET", "/readyz")
    assert status == 503 and "retry-after" in headers
    assert _request(conn, "GET", "/healthz")[0] == 200, "liveness says nothing about the store"
    assert conn.sock is sock, "the outage answers on the same keep-alive connection"

    relay.start()
    deadline = time.monotonic() + 60
    while (status := _request(conn, "GET", "/readyz")[0]) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200, "ready again once the store answers"
    status, _, body = _request(conn, "POST", "/v1/events", routes[0][2])
    assert status == 200 and json.loads(body)["accepted"] == 1, body
    assert conn.sock is sock


def test_a_locked_sqlite_store_answers_503_on_api_and_pages(settings: Settings) -> None:
    """The same answer on SQLite, where the outage is a lock held past busy_timeout (simulated: waiting
    30 s for a real one would make this test slow)."""

    @translate_outages("SQLite", sqlite.outage_reason)
    class LockedStore(sqlite.SQLiteStore):
        def filter_assets(self, *args: object, **kwargs: object) -> HitPage:
            raise sqlite3.OperationalError("database is locked")

    hub = open_hub(settings)
    try:
        _, key = keys.create_key(hub.store, "admin", "outage")
        client = TestClient(create_app(settings, hub))
        client.headers["Authorization"] = f"Bearer {key}"
        assert client.get("/readyz").json()["ok"] is True
        hub.store.__class__ = LockedStore
        r = client.get("/v1/assets")
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        assert r.json()["error"]["code"] == "store_unavailable"
        page = client.get("/library")
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
        assert "retry-after" in page.headers
        hub.store.__class__ = sqlite.SQLiteStore
        assert client.get("/v1/assets").status_code == 200
    finally:
        hub.close()


def test_a_key_looked_up_during_an_outage_gets_retry_after_and_keeps_the_connection(settings: Settings) -> None:
    """A key not verified within KEY_CACHE_TTL is looked up in the store before a request's body is read
    (access/gate.py); when that look-up meets the outage, the answer is the outage's like everywhere else.
    CI lost Retry-After here once, on a loaded machine where more than KEY_CACHE_TTL passed between the
    ES outage test's first request and the cut: the cache miss is forced here instead of left to timing."""

    @translate_outages("SQLite", sqlite.outage_reason)
    class LockedStore(sqlite.SQLiteStore):
        def get_doc(self, *args: object, **kwargs: object) -> dict[str, Any] | None:
            raise sqlite3.OperationalError("database is locked")

    settings = settings.model_copy(update={"max_request_bytes": 64 * 1024})  # below the upload limit
    hub = open_hub(settings)
    try:
        _, key = keys.create_key(hub.store, "admin", "outage")
        client = TestClient(create_app(settings, hub))
        client.headers["Authorization"] = f"Bearer {key}"
        events = {"events": [{"id": "e1", "type": "unsubscribe", "user_id": "u1", "channel": "wecom_1v1"}]}
        assert client.post("/v1/events", json=events).status_code == 200
        hub.store.__class__ = LockedStore
        keys.forget_verified_keys()  # what KEY_CACHE_TTL seconds of waiting would do
        r = client.post("/v1/events", json=events)
        assert r.status_code == 503 and r.headers["retry-after"] == "2", (r.status_code, r.headers)
        assert r.json()["error"]["code"] == "store_unavailable"
        assert "connection" not in r.headers, "a body within the API's limit is read and dropped: keep-alive"
        big = b"x" * (settings.max_request_bytes + 1)  # an upload larger than any API request: not read
        r = client.post("/v1/assets/upload", content=big, headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        assert r.headers["connection"] == "close"
        r = client.get("/v1/assets")  # no body: the route's own look-up answers
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        hub.store.__class__ = sqlite.SQLiteStore
        assert client.post("/v1/events", json=events).status_code == 200
    finally:
        hub.close()
