"""Authentication before the body: a request that carries a body is authenticated from its headers first.

Why: Starlette reads (and spools to the temp folder) a whole multipart body before any route or dependency
runs, so an unauthenticated client could make every worker store 200 MB uploads or hold a connection open
for as long as it cares to drip bytes — and only then hear 401. Here the caller's key (or console session,
for the console's own forms) is checked as soon as the headers are in: a stranger gets 401 (403, 429)
before one byte of the body is read, and the connection is closed. The principal found is the one the
route's dependency uses (``deps.current_principal`` caches it on the request), so nothing is verified twice
and the rate limit is taken once.

Requests without a body, and the two forms that work before anyone is signed in (login, logout), pass as
they are; routes keep their own permission checks.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from contenthub.deps import current_principal
from contenthub.errors import ProblemError, UnauthorizedError
from contenthub.i18n import _

OPEN_FORMS = frozenset({"/login", "/logout"})


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class AuthBeforeBodyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_FORMS or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        api = scope["path"].startswith("/v1/")
        try:
            principal = await current_principal(request, scope["app"].state.hub)
            if principal is None and api:
                raise UnauthorizedError(
                    _(
                        "An API key is required. Send it as 'Authorization: Bearer <key>' (create one with `contenthub keys create --role editor`)."
                    )
                )
        except ProblemError as exc:
            if exc.status == 503 and await _drained(scope, receive):
                await _refuse(send, exc, keep_alive=True)
            else:
                await _refuse(send, exc)
            return
        if principal is None:  # a console form posted without a session: sign in first, as page routes do
            target = quote(
                scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else "")
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", f"/login?next={target}".encode()),
                        (b"content-length", b"0"),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


OUTAGE_DRAIN_MAX = 64 * 1024
"""Bytes of body read and dropped to keep a connection open when the store could not authenticate the
caller (an outage, 503): a bot's event batch or form, never an upload a stranger could make us read."""


async def _drained(scope: Scope, receive: Receive) -> bool:
    """Read and drop a small declared body (up to OUTAGE_DRAIN_MAX), so the connection can serve the
    caller's retry after an outage (503 + Retry-After); False for a large or undeclared length."""
    length = next((v for k, v in scope.get("headers") or () if k == b"content-length"), None)
    if length is None or not length.strip().isdigit() or int(length) > OUTAGE_DRAIN_MAX:
        return False
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return message["type"] == "http.request"


async def _refuse(send: Send, exc: ProblemError, *, keep_alive: bool = False) -> None:
    """The app's error shape, and ``connection: close`` unless the body was read (``keep_alive``): an
    unread body is never read."""
    body = json.dumps({"error": exc.to_dict()}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if not keep_alive:
        headers.append((b"connection", b"close"))
    if exc.status in (429, 503):
        headers.append((b"retry-after", str(exc.extra.get("retry_after", 1)).encode()))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
