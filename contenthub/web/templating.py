"""Jinja2 environment shared by every page; autoescaping is on for all templates."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from contenthub.deps import csrf_token
from contenthub.errors import ProblemError
from contenthub.web.i18n import pick_lang, t

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def path_segment(value: Any) -> str:
    """An id as one URL path segment: every '/', '?', '#', '%' and '.' quoted. Jinja's own ``urlencode``
    keeps '/', so an id like ``../../x`` would still climb out of ``/users/``."""
    return quote(str(value), safe="").replace(".", "%2E")


TEMPLATES.env.filters["segment"] = path_segment


def lang_of(request: Request) -> str:
    return pick_lang(request.query_params.get("lang"), request.cookies.get("lang"))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    principal = getattr(request.state, "principal", None)
    state = request.scope.setdefault("state", {})  # the nonce of this response's Content-Security-Policy
    nonce = state.get("csp_nonce") or state.setdefault("csp_nonce", secrets.token_urlsafe(16))
    ctx = {
        "request": request,
        "csp_nonce": nonce,
        "lang": lang,
        "t": lambda key: t(key, lang),
        "csrf": csrf_token(request),
        "principal": principal,
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)
    if request.query_params.get("lang") in ("zh", "en"):
        response.set_cookie("lang", lang, samesite="lax", max_age=365 * 24 * 3600)
    return response


def render_error(request: Request, exc: ProblemError) -> HTMLResponse:
    return render(request, "error.html", status_code=exc.status, message=exc.message, status=exc.status)
