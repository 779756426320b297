"""Builds the web application: routers of every capability, pages, error shapes and middleware."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contenthub import __version__
from contenthub.access.gate import AuthBeforeBodyMiddleware
from contenthub.access.keys import ensure_key
from contenthub.access.roles import Role
from contenthub.config import Settings
from contenthub.deps import LoginRequired, changes_state_via_api
from contenthub.error_text import field_of, pydantic_message
from contenthub.errors import ProblemError
from contenthub.hub import Hub, open_hub
from contenthub.i18n import N_, _
from contenthub.limits import BodyLimitMiddleware
from contenthub.store.outage import unavailable
from contenthub.timeutil import RANGE_TEXT
from contenthub.web.language import LanguageMiddleware

WEB_DIR = Path(__file__).parent / "web"

UPLOAD_PATHS = ("/v1/assets/upload", "/library/upload")

READY_COLLECTION = "_readyz"  # /readyz reads one (absent) document of it: a real-time read by id, on any backend
READY_TIMEOUT = 5.0


def _secret(settings: Settings, name: str, configured: str) -> str:
    """Use the configured secret, else one generated once and kept in the data directory."""
    if configured:
        return configured
    path = settings.data_dir / f".{name}"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)
    path.chmod(0o600)
    return value


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'{nonce}; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""Pages: scripts only from /static; style elements from /static or carrying the response's nonce
(``web.templating.render`` makes it); style *attributes* stay allowed — bar widths and heat levels are data
(numbers the templates format), and an attribute cannot run script."""
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' "
    "'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
"""FastAPI's /docs and /redoc load their UI from jsdelivr and start it with an inline script."""
OTHER_CSP = b"default-src 'none'; frame-ancestors 'none'; sandbox"
"""JSON, files and media: nothing in them may run or load anything, even if a browser renders one."""
DOC_PATHS = ("/docs", "/redoc")


def content_security_policy(path: str, ctype: bytes, nonce: str | None) -> bytes:
    if not ctype.startswith(b"text/html"):
        return OTHER_CSP
    if path.startswith(DOC_PATHS):
        return DOCS_CSP.encode()
    return PAGE_CSP.format(nonce=f" 'nonce-{nonce}'" if nonce else "").encode()


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS and a Content-Security-Policy to every HTTP response that does not set them itself.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) runs each
    request through an extra task and memory stream and builds Request/Response objects around it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = {name.lower() for name, _ignored in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if b"content-security-policy" not in present:
                    ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                    nonce = (scope.get("state") or {}).get("csp_nonce")
                    headers.append((b"content-security-policy", content_security_policy(scope["path"], ctype, nonce)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGetMiddleware:
    """HEAD on every GET route: the request runs as a GET and the body is dropped (headers, Content-Length
    included, stay those of the GET). FastAPI's routes answer only the methods they declare, so HEAD was 405.
    A HEAD that names a state-changing parameter (``reserve``) stays a HEAD (405): HEAD must change nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "HEAD"
            or changes_state_via_api(scope["path"], "GET", dict(parse_qsl(scope["query_string"].decode("latin-1"))))
        ):
            await self.app(scope, receive, send)
            return

        async def send_head(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_head)


def _slash_redirect(app: FastAPI, scope: Scope) -> str | None:
    """The other spelling of the path (with or without a trailing slash) when a route matches it, as a
    relative Location. Never built from the Host header (Starlette's own redirect is), and never a
    scheme-relative ``//host`` path, which a browser would follow to another site."""
    path: str = scope["path"]
    other = path[:-1] if path.endswith("/") else path + "/"
    if not other or other == "/" or other.startswith("//"):
        return None
    method = "GET" if scope["method"] == "HEAD" else scope["method"]

    def matched(path: str) -> bool:
        probe = {**scope, "path": path, "method": method}
        return any(route.matches(probe)[0] == Match.FULL for route in app.router.routes)

    if matched(path) or not matched(other):  # a route's own 404 (a missing static file) is no spelling issue
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    return quote(other) + (f"?{query}" if query else "")


HTTP_MESSAGES = {
    404: N_("Not found: no page or API route has this address."),
    405: N_("This address does not accept this method (see /docs for the methods it takes)."),
}
"""Starlette's own errors (its detail is English: "Not Found", "Method Not Allowed")."""


def _validation_body(errors: list[Any]) -> dict[str, Any]:
    """422 body: the first problem as ``message`` (which field, what to enter, in the request's language),
    every problem in ``details`` with pydantic's stable ``type``."""
    details = [{"field": field_of(err), "message": pydantic_message(err), "type": err.get("type")} for err in errors]
    first = details[0] if details else {"field": None, "message": _("The request is not valid.")}
    where = f"{first['field']}: " if first["field"] else ""
    return {
        "error": {
            "code": "invalid",
            "message": f"{where}{first['message']}",
            "field": first["field"],
            "details": details,
        }
    }


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """Add a router's routes to the app itself, in order: what ``app.include_router(router)`` does here.

    Our routers set their prefix and tags on the APIRouter, so every route already carries its full path,
    tags and schema flags, and no router has include-time options, dependencies or event handlers. Why not
    include_router: FastAPI 0.16x matches an included router's routes through a per-request "effective
    route" layer, twice (match, then handle), and the app tries every route before the one that matches —
    most of what a /healthz placed after the routers costs in-process (figures: bench/RESULTS.md, "Figures behind design choices"). Routes added
    directly are matched once, by their path regex.
    """
    if router.on_startup or router.on_shutdown or router.dependencies:
        raise ValueError(f"router {router!r} needs app.include_router")
    app.router.routes.extend(router.routes)


def create_app(settings: Settings | None = None, hub: Hub | None = None) -> FastAPI:
    settings = settings or (hub.settings if hub else Settings())
    hub = hub or open_hub(settings)
    if settings.bootstrap_admin_key:
        ensure_key(hub.store, settings.bootstrap_admin_key, Role.admin, "bootstrap admin")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from contenthub.journeys.worker import start_background
        from contenthub.library import ocr_jobs
        from contenthub.library.search import warm_up
        from contenthub.library.service import resume_ocr

        if settings.warm_search:
            warm_up(hub)  # before the first request: the model loads here, not in someone's search
        resume_ocr(hub)
        stop_journeys = (
            start_background(hub, settings.journeys_loop_seconds) if settings.journeys_loop_seconds else None
        )
        yield
        if stop_journeys is not None:
            stop_journeys()
        ocr_jobs.stop(hub)
        hub.close()

    app = FastAPI(
        lifespan=lifespan,
        title="ContentHub",
        version=__version__,
        description="Content library, recommendations, publish planning and A/B reports for private-domain marketing. "
        "Authenticate with `Authorization: Bearer <key>`.",
    )
    app.state.hub = hub
    app.state.settings = settings
    app.router.redirect_slashes = False  # _slash_redirect (in the 404 handler) instead: relative, no Host header

    @app.exception_handler(ProblemError)
    async def problem_handler(request: Request, exc: ProblemError) -> Response:
        # 503 is a store outage (StoreUnavailableError, raised by the store layer): answered here like any
        # other problem, so the connection stays open and the next request after the outage just works.
        headers = {"Retry-After": str(exc.extra.get("retry_after", 1))} if exc.status in (429, 503) else None
        if not request.url.path.startswith("/v1/") and exc.status in (401, 403, 404, 503):
            from contenthub.web.templating import render_error

            page = render_error(request, exc)
            page.headers.update(headers or {})
            return page
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def request_validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_body(list(exc.errors())), status_code=422)

    @app.exception_handler(ValidationError)
    async def validation_handler(request: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(_validation_body(list(exc.errors())), status_code=422)

    @app.exception_handler(OverflowError)
    async def overflow_handler(request: Request, exc: OverflowError) -> JSONResponse:
        # Dates near year 1 or 9999 overflow when shifted to UTC or by a week; it is the input that is out
        # of range, so say so (422) instead of failing with a 500.
        import logging

        logging.getLogger("contenthub").warning("out-of-range input on %s: %s", request.url.path, exc)
        return JSONResponse(
            {
                "error": {
                    "code": "invalid",
                    "message": _(
                        "A date, time or number is outside the supported range ({detail}). Use times within {range}."
                    ).format(detail=exc, range=RANGE_TEXT),
                }
            },
            status_code=422,
        )

    @app.exception_handler(RecursionError)
    async def recursion_handler(request: Request, exc: RecursionError) -> JSONResponse:
        # The depth check (limits.too_deep, limits.loads_json) refuses deep JSON before any parser sees it;
        # should some other input still nest past Python's recursion limit, it is the input's fault: say so.
        import logging

        logging.getLogger("contenthub").warning("input nested too deeply on %s", request.url.path)
        return JSONResponse(
            {
                "error": {
                    "code": "invalid",
                    "message": _("The input nests too deeply; flatten it (JSON may nest at most 64 levels)."),
                }
            },
            status_code=422,
        )

    @app.exception_handler(LoginRequired)
    async def login_redirect(request: Request, exc: LoginRequired) -> RedirectResponse:
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_handler(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and (location := _slash_redirect(app, request.scope)) is not None:
            return Response(status_code=307, headers={"location": location})
        message = _(HTTP_MESSAGES[exc.status_code]) if exc.status_code in HTTP_MESSAGES else str(exc.detail)
        return JSONResponse(
            {"error": {"code": "http_error", "message": message}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    app.add_middleware(AuthBeforeBodyMiddleware)  # inside SessionMiddleware: console forms are signed in by it
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        SessionMiddleware,
        secret_key=_secret(settings, "session_secret", settings.session_secret),
        session_cookie="contenthub_session",
        same_site="lax",
        https_only=settings.secure_cookies,
        max_age=7 * 24 * 3600,
    )
    app.add_middleware(
        BodyLimitMiddleware,
        limit_for=lambda path: (
            settings.max_upload_bytes + 1024 * 1024 if path in UPLOAD_PATHS else settings.max_request_bytes
        ),
        json_paths=frozenset({"/v1/assets/import"}),
    )
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(LanguageMiddleware, timezone=settings.timezone)  # outermost: every handler reads it

    # Routes are matched in order and FastAPI's matching costs per route passed (and twice per included router),
    # so the health check and the hot API routes come first.
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        """Liveness: the process answers. It says nothing about the store (see /readyz)."""
        return {"ok": True, "store": hub.store.backend, "version": __version__}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, Any]:
        """Readiness: the store answers a read by id within READY_TIMEOUT s, else 503 + Retry-After (a load
        balancer stops sending traffic here until the store is back)."""
        try:
            await asyncio.wait_for(run_in_threadpool(hub.store.get_doc, READY_COLLECTION, "probe"), READY_TIMEOUT)
        except TimeoutError:
            raise unavailable(hub.store.backend, f"no answer within {READY_TIMEOUT:.0f} s") from None
        return {"ok": True, "store": hub.store.backend, "version": __version__}

    from contenthub.access.pages import router as access_pages
    from contenthub.access.routes import router as access_router
    from contenthub.audience.pages import router as audience_pages
    from contenthub.audience.routes import router as audience_router
    from contenthub.audience.segment_pages import router as segment_pages
    from contenthub.dashboard.pages import VENDOR_PATH, VendorFiles
    from contenthub.dashboard.pages import router as dashboard_pages
    from contenthub.dashboard.routes import router as dashboard_router
    from contenthub.experiments.console_pages import router as experiment_console
    from contenthub.experiments.pages import router as experiments_pages
    from contenthub.experiments.routes import router as experiments_router
    from contenthub.journeys.pages import router as journeys_pages
    from contenthub.journeys.routes import router as journeys_router
    from contenthub.library.pages import router as library_pages
    from contenthub.library.review_pages import router as review_pages
    from contenthub.library.routes import router as library_router
    from contenthub.library.tagging_routes import router as tagging_router
    from contenthub.publish.pages import router as publish_pages
    from contenthub.publish.routes import router as publish_router
    from contenthub.recommend.pages import router as recommend_pages
    from contenthub.recommend.routes import router as recommend_router
    from contenthub.web.pages import router as web_pages

    # recommend_router first: next content is the hot path (see _add_routes); no route of library_router matches
    # a path of recommend_router or the other way round (tests/test_app_routes.py checks every route resolves
    # as before).
    for router in (
        recommend_router,
        audience_router,
        library_router,
        publish_router,
        access_router,
        web_pages,
        library_pages,
        publish_pages,
        experiments_router,
        experiment_console,
        experiments_pages,
        audience_pages,
        recommend_pages,
    ):
        _add_routes(app, router)
    for router in (tagging_router, review_pages, journeys_router, journeys_pages, dashboard_router, dashboard_pages):
        _add_routes(app, router)
    for router in (access_pages, segment_pages):  # console pages of issue 22 (keys, segments)
        _add_routes(app, router)
    app.mount(VENDOR_PATH, VendorFiles(), name="vendor")  # before /static, which would shadow it
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    return app
