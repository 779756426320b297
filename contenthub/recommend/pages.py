"""Pages: users list, a user's profile with 'what we would send next and why', asset performance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.deps import HubDep, require
from contenthub.errors import ProblemError
from contenthub.library import taxonomy
from contenthub.recommend import service, users
from contenthub.recommend.models import Identity
from contenthub.web.templating import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.audience_read))]
PAGE_CHANNELS = ("wecom_1v1", "wecom_group", "mp_subscription", "moments")


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, hub: HubDep, who: Reader, q: str = "",
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    found = None
    q = q.strip()[:200]
    if q:
        doc = users.find_user(hub, q)
        if doc is None:
            for itype in ("openid", "external_userid", "unionid", "member_id", "cookie"):
                uid = users.resolve_identity(hub, Identity(type=itype, value=q), create=False)
                if uid:
                    doc = users.find_user(hub, uid)
                    break
        found = [doc] if doc else []
    rows = found if found is not None else [
        d for d in hub.store.list_docs(users.USERS, limit=50, offset=offset) if not d.get("merged_into")]
    return render(request, "recommend/users.html", rows=rows, q=q, offset=offset,
                  total=hub.store.count_docs(users.USERS), channel_names=taxonomy.names(hub.store, "channels"))


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, hub: HubDep, who: Reader, user_id: str) -> HTMLResponse:
    ov = service.user_overview(hub, user_id)
    nexts = []
    for channel in PAGE_CHANNELS:
        try:
            nexts.append(service.next_for_user(hub, ov["user"].id, channel, n=3))
        except ProblemError:
            continue
    names = taxonomy.names(hub.store, "channels")
    titles = {a: d["title"] for a, d in hub.store.get_assets([e["asset_id"] for e in ov["events"] if e.get("asset_id")]).items()}
    return render(request, "recommend/user.html", ov=ov, nexts=nexts, channel_names=names, titles=titles,
                  stage_names=taxonomy.names(hub.store, "stages"))
