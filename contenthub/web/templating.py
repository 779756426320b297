"""Jinja2 environment shared by every page; autoescaping is on for all templates.

Translations: Jinja2's i18n extension with gettext callables that read the request's language from
``contenthub.i18n`` (set by ``web.language.LanguageMiddleware``), so one environment serves every language
and templates write ``{{ _('English text') }}`` (new-style: ``_('%(n)s users', n=count)``; a literal ``%``
is written ``%%``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from contenthub import i18n, localtime
from contenthub.access.roles import Perm, allows
from contenthub.deps import csrf_token
from contenthub.errors import ProblemError
from contenthub.labels import dash_cell, dash_column, label, match_text, rule_text, why_text
from contenthub.timeutil import from_iso

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.add_extension("jinja2.ext.i18n")
TEMPLATES.env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext, npgettext=i18n.npgettext
)


def path_segment(value: Any) -> str:
    """An id as one URL path segment: every '/', '?', '#', '%' and '.' quoted. Jinja's own ``urlencode``
    keeps '/', so an id like ``../../x`` would still climb out of ``/users/``."""
    return quote(str(value), safe="").replace(".", "%2E")


def local_time(value: Any, show_zone: bool = False, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A stored UTC stamp (string or datetime) in the hub's time zone; empty stays empty."""
    if not value:
        return ""
    dt = from_iso(value) if isinstance(value, str) else value
    return localtime.format_datetime(dt, show_zone=show_zone, fmt=fmt)


def local_in(value: datetime, fmt: str) -> str:
    """An aware time in its own zone (a slot in its rule's zone), in the reader's language."""
    return localtime.format_local(value, fmt)


def zone_label(zone: str | None = None) -> str:
    """The hub's zone, or a named IANA zone, as a person names it (``中国时间``)."""
    return localtime.zone_label(ZoneInfo(zone) if zone else None)


def _per_render(fn: Callable[..., str]) -> Callable[..., str]:
    """A filter whose answer depends on the request's language or zone. Jinja folds a filter applied to a literal
    (``'target_per_week'|rule_text``) into the compiled template, in whichever language compiled it first;
    a filter that takes the render context is never folded."""

    @pass_context
    def filter_(_ctx: Context, value: Any, *args: Any, **kwargs: Any) -> str:
        return fn(value, *args, **kwargs)

    return filter_


TEMPLATES.env.filters["segment"] = path_segment
TEMPLATES.env.filters["local_in"] = _per_render(local_in)
TEMPLATES.env.filters["local_time"] = _per_render(local_time)
TEMPLATES.env.filters["why_text"] = _per_render(why_text)
TEMPLATES.env.filters["match_text"] = _per_render(match_text)
TEMPLATES.env.filters["rule_text"] = _per_render(rule_text)
TEMPLATES.env.globals["label"] = label
TEMPLATES.env.globals["dash_column"] = dash_column
TEMPLATES.env.globals["dash_cell"] = dash_cell
TEMPLATES.env.globals["zone_label"] = zone_label


def lang_of(request: Request) -> str:
    """The request's language (chosen by the middleware; read here so pages need not import i18n)."""
    return i18n.current_language()


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    principal = getattr(request.state, "principal", None)
    state = request.scope.setdefault("state", {})  # the nonce of this response's Content-Security-Policy
    nonce = state.get("csp_nonce") or state.setdefault("csp_nonce", secrets.token_urlsafe(16))
    ctx = {
        "request": request,
        "can": lambda perm: principal is not None and allows(principal.role, Perm(perm)),
        "csp_nonce": nonce,
        "lang": lang,
        "csrf": csrf_token(request),
        "principal": principal,
        "hub_timezone": localtime.hub_zone().key,
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie("lang", lang, samesite="lax", max_age=365 * 24 * 3600)
    return response


def render_error(request: Request, exc: ProblemError) -> HTMLResponse:
    return render(request, "error.html", status_code=exc.status, message=exc.message, status=exc.status)
