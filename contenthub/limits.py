"""Request body limits enforced while the body streams in, not after it is parsed.

Why an ASGI middleware: Starlette would spool a whole multipart body to disk before any route sees
it; counting bytes in ``receive`` stops an oversized or endless (chunked) body at the limit. The same
place bounds how long a client may pause mid-body and how slowly it may send it (a slow-loris upload
would otherwise hold a worker thread and a temp file forever), refuses JSON nested deeper than any real body
(``too_deep``) and JSON text that is not valid Unicode (a lone ``\\ud800``
escape parses into a Python string that SQLite, Elasticsearch and our own JSON responses cannot encode).

The refusal is raised inside ``receive``; FastAPI and Starlette wrap whatever ``receive`` raises into
their own 400, so the middleware remembers why it refused and answers with that status instead.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contenthub.i18n import _, current_language

MIN_BODY_RATE = 16 * 1024
"""Bytes per second a body must average once BODY_GRACE_S have passed: a slow-drip upload (a byte every few
seconds, never pausing long enough for the stall timeout) is ended instead of holding a worker for minutes."""
BODY_GRACE_S = 10.0
_SUSPECT = re.compile(rb"\\u[dD][89a-fA-F]")  # cheap pre-check: any surrogate escape at all


class _Refused(Exception):
    def __init__(self, status: int, error: dict[str, object]) -> None:
        super().__init__(error["message"])
        self.status = status
        self.error = error


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{max(n // 1024, 1)} KB"


def _too_large(limit: int) -> _Refused:
    return _Refused(
        413,
        {
            "code": "too_large",
            "message": _("The request body is larger than the limit of {limit}.").format(limit=_size(limit)),
            "limit_bytes": limit,
        },
    )


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a JSON body may have. Python's parser (and pydantic after it) recurse
per level: ~1,000 levels (2 KB of brackets) raised RecursionError, a 500. Real bodies nest a few levels
(journey definitions, the deepest, about ten)."""
_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*"')


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text (or JSON lines) nests arrays/objects more than ``limit`` deep, found without parsing.

    Strings are cut out (a bracket inside one is text; bytes operations only, no per-byte Python loop: this
    runs on every JSON body), the rest reduced to its brackets; each pass of
    removing empty pairs peels one level off every value, so ``limit`` passes empty any text that nests no
    deeper. Text that stops shrinking is not JSON, which the parser reports in its own words."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    # escapes are pairs read left to right (``\\\\`` first, then ``\\"``): what remains of '"' delimits strings
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = body.translate(None, _NOT_MARKS)
    marks = marks.replace(b'""', b"")  # strings without brackets (nearly all)
    brackets = _STRING.sub(b"", marks) if b'"' in marks else marks
    for _ignored in range(limit):
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if not shorter or len(shorter) == len(brackets):
            return False
        brackets = shorter
    return brackets.replace(b"[]", b"").replace(b"{}", b"") != brackets


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` after ``too_deep``: how JSON text that arrives inside a request (a form field, a line of
    an import) is parsed. Too deep is a ``json.JSONDecodeError``, which callers already turn into a 422."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if too_deep(raw):
        raise json.JSONDecodeError(
            f"nested more than {MAX_JSON_DEPTH} levels deep",
            text if isinstance(text, str) else raw.decode("utf-8", "replace"),
            0,
        )
    return json.loads(text)


def _has_lone_surrogate(body: bytes) -> bool:
    """True when the JSON parses but holds an unpaired UTF-16 surrogate (in a key or a value)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return False  # not JSON at all: the route's own parser reports that
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        limit_for: Callable[[str], int],
        body_timeout: float = 30.0,
        min_rate: float = MIN_BODY_RATE,
        grace: float = BODY_GRACE_S,
        json_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.body_timeout = body_timeout
        self.min_rate = min_rate
        self.grace = grace
        self.json_paths = json_paths  # paths whose bodies are JSON (lines) whatever their content type says

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_error(send, _too_large(limit), scope)
            return
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = (
            ctype == b"application/json"
            or ctype.endswith((b"+json", b"ndjson", b"jsonl", b"json-seq"))
            or scope["path"] in self.json_paths
        )
        chunks: list[bytes] = []
        seen = 0
        body_done = False
        started = False
        refused: _Refused | None = None

        loop = asyncio.get_running_loop()
        body_started = loop.time()

        async def limited_receive() -> Message:
            nonlocal seen, body_done, refused
            if body_done:  # after the body only a disconnect can come: wait as long as the response streams
                return await receive()
            # the body's deadline: a pause of body_timeout, or an average rate below min_rate after the grace
            left = self.grace + seen / self.min_rate - (loop.time() - body_started)
            try:
                message = await asyncio.wait_for(receive(), max(min(self.body_timeout, left), 0.0))
            except TimeoutError:
                if left < self.body_timeout:
                    refused = _Refused(
                        408,
                        {
                            "code": "timeout",
                            "message": _(
                                "The request body arrives slower than {rate}/s; send it without pauses."
                            ).format(rate=_size(int(self.min_rate))),
                        },
                    )
                else:
                    refused = _Refused(
                        408,
                        {
                            "code": "timeout",
                            "message": _(
                                "The request body stalled for more than {seconds:g} s; send it without pauses."
                            ).format(seconds=self.body_timeout),
                        },
                    )
                raise refused from None
            if message["type"] != "http.request":
                body_done = True
                return message
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:
                refused = _too_large(limit)
                raise refused
            if is_json:
                chunks.append(body)
            if not message.get("more_body", False):
                body_done = True
                if is_json:
                    whole = b"".join(chunks)
                    chunks.clear()
                    if too_deep(whole):
                        refused = _Refused(
                            422,
                            {
                                "code": "invalid",
                                "message": _(
                                    "The JSON nests arrays and objects more than {depth} levels deep; flatten it."
                                ).format(depth=MAX_JSON_DEPTH),
                            },
                        )
                        raise refused
                    if _SUSPECT.search(whole) and _has_lone_surrogate(whole):
                        refused = _Refused(
                            422,
                            {
                                "code": "invalid",
                                "message": _(
                                    "The JSON holds an unpaired surrogate escape (\\ud800–\\udfff), which is not valid Unicode text; send UTF-8 text or escape the whole surrogate pair."
                                ),
                            },
                        )
                        raise refused
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused is not None:  # the app answered our refusal with its own error: answer ours instead
                if not started:
                    started = True
                    await _send_error(send, refused, scope)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if refused is None:
                raise
        if refused is not None and not started:
            await _send_error(send, refused, scope)


FORM_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")


def _is_console_form(scope: Scope) -> bool:
    """A browser form posted to a console page (not the API): its refusal is a page, never JSON."""
    if scope["path"].startswith("/v1/"):
        return False
    ctype = next((v for k, v in scope.get("headers") or () if k == b"content-type"), b"")
    return ctype.split(b";")[0].strip().lower() in FORM_TYPES


async def _send_error(send: Send, refused: _Refused, scope: Scope) -> None:
    """JSON for the API; for a console form (a too-large upload) a small page in the reader's language with a
    way back to the form — a browser never shows a JSON body. Written here, not from the templates: this
    answers before the app (and its sessions) ran."""
    path = scope["path"]
    if not _is_console_form(scope):
        body = json.dumps({"error": refused.error}).encode()
        ctype = b"application/json"
    else:
        message = html.escape(str(refused.error["message"]))
        body = (
            f'<!doctype html><html lang="{"zh-CN" if current_language() == "zh" else "en"}"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" '
            f'href="/static/app.css"><main><section class="card narrow"><h1>{html.escape(_("Something went wrong"))}'
            f' ({refused.status})</h1><p class="error" role="alert">{message}</p><p><a href="{html.escape(path)}">'
            f"{html.escape(_('Back'))}</a></p></section></main></html>"
        ).encode()
        ctype = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", ctype),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
