"""Login, logout and the landing redirect (pages that belong to no single capability)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from contenthub import audit, bad_records
from contenthub.access import keys, sessions
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm, allows
from contenthub.deps import HubDep, check_csrf, check_failed_auth, client_address, note_failed_auth, require
from contenthub.i18n import _
from contenthub.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(next_url: str) -> str:
    """Only same-site paths: an open redirect after login is a phishing aid."""
    if next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return "/library"


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/library", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/library") -> HTMLResponse:
    return render(request, "login.html", next_url=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login(
    request: Request,
    hub: HubDep,
    key: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/library",
) -> HTMLResponse | RedirectResponse:
    check_csrf(request, csrf_token)
    address = client_address(request)
    check_failed_auth(hub, address)
    principal = keys.verify(hub.store, key.strip())
    if principal is None:
        note_failed_auth(hub, address)
        return render(
            request, "login.html", status_code=401, next_url=_safe_next(next), error=_("That key is wrong or revoked.")
        )
    if not allows(principal.role, Perm.library_read) and not allows(principal.role, Perm.reports_read):
        # a bot key is for the API only: a console session would land on pages it may not open
        return render(
            request,
            "login.html",
            status_code=403,
            next_url=_safe_next(next),
            error=_(
                "This is a bot key: it works only for the API (recommendations, events, due sends) and cannot open "
                "the console. Log in with an editor, viewer or admin key."
            ),
        )
    csrf = request.session.get("csrf")
    sessions.end(hub.store, str(request.session.get("sid") or ""))
    request.session.clear()  # new session on login: no fixation
    # the cookie carries only the session's random id; what it grants lives in the store (access.sessions)
    request.session.update({"sid": sessions.start(hub.store, principal), "csrf": csrf})
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, hub: HubDep, csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    check_csrf(request, csrf_token)
    sessions.end(hub.store, str(request.session.get("sid") or ""))  # the old cookie stops working at once
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, hub: HubDep, who: Annotated[Principal, Depends(require(Perm.admin))]) -> HTMLResponse:
    return render(request, "admin/audit.html", entries=audit.entries(hub, limit=300))


@router.get("/admin/bad-records", response_class=HTMLResponse)
def bad_records_page(
    request: Request, hub: HubDep, who: Annotated[Principal, Depends(require(Perm.admin))]
) -> HTMLResponse:
    return render(request, "admin/bad_records.html", entries=bad_records.entries(hub))
