"""Pages: the users list, filtered by stage, tier, tag, group and source (a user's own page, with what we
would send next, is recommend/pages.py)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.audience import groups, users
from contenthub.audience.models import Identity
from contenthub.audience.user_filters import TIERS, UserFilter, filtered_users
from contenthub.deps import HubDep, require
from contenthub.library import taxonomy
from contenthub.web.templating import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.audience_read))]
PAGE = 50


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    hub: HubDep,
    who: Reader,
    q: str = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    stage: str = "",
    tier: str = "",
    tag: str = "",
    group: str = "",
    source: str = "",
) -> HTMLResponse:
    q = q.strip()[:200]
    chosen = UserFilter(stage=stage[:40], tier=tier[:40], tag=tag[:80], group=group[:128], source=source[:64])
    if q:
        doc = users.find_user(hub, q)
        if doc is None:
            for itype in ("openid", "external_userid", "unionid", "member_id", "cookie"):
                uid = users.resolve_identity(hub, Identity(type=itype, value=q), create=False)
                if uid:
                    doc = users.find_user(hub, uid)
                    break
        rows = [doc] if doc else []
        total = len(rows)
    elif chosen.active():
        ids, total = filtered_users(hub, chosen, offset=offset, limit=PAGE)
        rows = [d for d in (users.find_user(hub, uid) for uid in ids) if d]
    else:
        rows = [d for d in hub.store.list_docs(users.USERS, limit=PAGE, offset=offset) if not d.get("merged_into")]
        total = sum(1 for _ in users.iter_users(hub))  # users merged into another are not counted
    return render(
        request,
        "recommend/users.html",
        rows=rows,
        q=q,
        offset=offset,
        total=total,
        page=PAGE,
        chosen=chosen,
        stages=taxonomy.entries(hub.store, "stages"),
        tiers=TIERS,
        groups=groups.list_groups(hub, limit=1000),
        sources=taxonomy.entries(hub.store, "channels"),
        query=urlencode({k: v for k, v in chosen.model_dump().items() if v}),
    )
