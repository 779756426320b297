"""Pages: a user's profile with 'what we would send next and why' on each channel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.audience import overview
from contenthub.deps import HubDep, require
from contenthub.errors import ProblemError
from contenthub.library import taxonomy
from contenthub.recommend import service
from contenthub.web.templating import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.audience_read))]
PAGE_CHANNELS = ("wecom_1v1", "wecom_group", "mp_subscription", "moments")


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, hub: HubDep, who: Reader, user_id: str) -> HTMLResponse:
    ov = overview.user_overview(hub, user_id)
    nexts = []
    for channel in PAGE_CHANNELS:
        try:
            nexts.append(service.next_for_user(hub, ov["user"].id, channel, n=3))
        except ProblemError:
            continue
    names = taxonomy.names(hub.store, "channels")
    titles = {
        a: d["title"]
        for a, d in hub.store.get_assets([e["asset_id"] for e in ov["events"] if e.get("asset_id")]).items()
    }
    return render(
        request,
        "recommend/user.html",
        ov=ov,
        nexts=nexts,
        channel_names=names,
        titles=titles,
        stage_names=taxonomy.names(hub.store, "stages"),
    )
