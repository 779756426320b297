"""Chooses each request's language and time zone before anything answers it.

``?lang=``, then the console's ``lang`` cookie, then ``Accept-Language``, then Chinese (``i18n.negotiate``).
The choice lives in a context variable for the rest of the request, so API error messages, pick reasons,
planner warnings and pages all read the same language without passing it along.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from contenthub import i18n, localtime


def language_of_scope(scope: Scope) -> str:
    query_lang = None
    if qs := scope.get("query_string"):
        query_lang = dict(parse_qsl(qs.decode("latin-1"))).get("lang")
    cookie_lang = accept = None
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            cookie_lang = cookie_parser(value.decode("latin-1")).get("lang")
        elif name == b"accept-language":
            accept = value.decode("latin-1")
    return i18n.negotiate(query_lang, cookie_lang, accept)


class LanguageMiddleware:
    """A plain ASGI middleware (see app.SecurityHeadersMiddleware for why not BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, timezone: str) -> None:
        self.app = app
        self.timezone = timezone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            i18n.set_language(language_of_scope(scope))
            localtime.set_timezone(self.timezone)
        await self.app(scope, receive, send)
