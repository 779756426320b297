"""Admin page for API keys: create (the secret is shown once) and revoke, so nobody needs the CLI to
hand a marketer a console key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from contenthub import audit
from contenthub.access import keys
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm, Role
from contenthub.deps import HubDep, check_csrf, require
from contenthub.errors import ProblemError
from contenthub.web.forms import field_errors
from contenthub.web.templating import render

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Perm.admin))]


class KeyForm(BaseModel):
    role: Role
    name: str = Field(min_length=1, max_length=80)


def _page(
    request: Request,
    hub: HubDep,
    *,
    created: tuple[keys.KeyInfo, str] | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
    flash: str = "",
) -> HTMLResponse:
    listed = sorted(keys.list_keys(hub.store), key=lambda k: (k.revoked_at is not None, k.created_at), reverse=False)
    return render(
        request,
        "admin/keys.html",
        status_code=status_code,
        keys=listed,
        created=created,
        errors=errors or {},
        form=form or {"role": "editor", "name": ""},
        roles=list(Role),
        flash=flash,
    )


@router.get("/admin/keys", response_class=HTMLResponse)
def keys_page(request: Request, hub: HubDep, who: Admin, flash: str = "") -> HTMLResponse:
    return _page(request, hub, flash="revoked" if flash == "revoked" else "")


@router.post("/admin/keys", response_class=HTMLResponse)
def create_key(
    request: Request,
    hub: HubDep,
    who: Admin,
    csrf_token: Annotated[str, Form()] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
) -> HTMLResponse:
    check_csrf(request, csrf_token)
    form = {"role": role, "name": name}
    try:
        data = KeyForm.model_validate({"role": role, "name": name.strip()})
        info, secret = keys.create_key(hub.store, data.role, data.name)
    except (ProblemError, ValidationError) as exc:
        return _page(request, hub, errors=field_errors(exc, ("role", "name")), form=form, status_code=422)
    audit.record(hub, who.name, "create", "api_key", info.id, role=info.role.value, name=info.name)
    # the secret is in this one response only: the store keeps its hash
    return _page(request, hub, created=(info, secret))


@router.post("/admin/keys/{key_id}/revoke", response_model=None)
def revoke_key(
    request: Request, hub: HubDep, who: Admin, key_id: str, csrf_token: Annotated[str, Form()] = ""
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    keys.revoke(hub.store, key_id)
    audit.record(hub, who.name, "revoke", "api_key", key_id)
    return RedirectResponse("/admin/keys?flash=revoked", status_code=303)
