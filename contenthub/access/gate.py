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

A store outage while the key is looked up (a key not verified in the last ``KEY_CACHE_TTL`` seconds) is no
verdict on the caller: it gets the outage answer every route gives (503 + ``Retry-After``) and, when its body
is no larger than an API request may be, that body is read and dropped so that the connection stays open
(README: "the connection stays open"). Only a larger or chunked body closes it, as a refusal does.
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
            if exc.status == 503 and _small_body(scope):
                await _drain(receive)
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


def _small_body(scope: Scope) -> bool:
    """A declared Content-Length within the API's request limit (``Settings.max_request_bytes``)."""
    limit = scope["app"].state.settings.max_request_bytes
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return value.strip().isdigit() and int(value) <= limit
    return False


async def _drain(receive: Receive) -> None:
    """Read the body and drop it. ``receive`` is the body limit's (``limits.BodyLimitMiddleware``), so a body
    larger than declared, or dripped, is refused there as for any request."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _refuse(send: Send, exc: ProblemError, *, keep_alive: bool = False) -> None:
    """The app's error shape, and ``connection: close`` unless the body was read (``keep_alive``): an unread
    body is never read. Retry-After on 429 and 503, as the app's own error handler sends it."""
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
