"""The HTTP protocol ``contenthub serve`` runs uvicorn with: uvicorn's own, plus a size limit and a deadline on
each request's headers (an ASGI app never sees a request until its headers are complete)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

HEADER_LIMIT_BYTES = 64 * 1024
"""Most a request line plus headers may take; uvicorn's httptools protocol has no limit of its own."""
HEADER_TIMEOUT_S = 10.0
"""Seconds a client has to send a request's headers, from connecting or from its first byte."""
_HEAD_431_BODY = b'{"error": {"code": "too_large", "message": "The request line and headers are larger than 64 KB."}}'
_HEAD_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_HEAD_431_BODY)).encode() + b"\r\n\r\n" + _HEAD_431_BODY
)


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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
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


PROTOCOL_OPTIONS: dict[str, Any] = {
    "http": GuardedHTTPProtocol,
    "h11_max_incomplete_event_size": HEADER_LIMIT_BYTES,
    "timeout_keep_alive": 5,
}
"""uvicorn options that bound each connection (``contenthub serve`` passes them)."""
