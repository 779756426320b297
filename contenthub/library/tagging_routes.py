"""HTTP routes of the tag suggester: keyword cues, training, accuracy, rejects and the review queue.

Routes only translate HTTP to ``contenthub.library.tagging`` calls; every rule lives there.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.deps import HubDep, require
from contenthub.library import service, tagging
from contenthub.library.tagging import AccuracyReport, CuesIn, CuesOut, RejectIn, RejectOut, ReviewItem, TrainReport

router = APIRouter(prefix="/v1", tags=["tagging"])

Reader = Annotated[Principal, Depends(require(Perm.library_read))]
Writer = Annotated[Principal, Depends(require(Perm.library_write))]
Editor = Annotated[Principal, Depends(require(Perm.taxonomy_write))]


@router.get("/tagging/cues", response_model=CuesOut, summary="Keyword cues per scene, content type and channel")
def get_cues(hub: HubDep, who: Reader) -> CuesOut:
    return tagging.get_cues(hub)


@router.put(
    "/tagging/cues",
    response_model=CuesOut,
    summary="Replace the cues of the facets sent (send `version` to avoid lost updates)",
)
def put_cues(body: CuesIn, hub: HubDep, who: Editor) -> CuesOut:
    return tagging.put_cues(hub, body)


@router.post(
    "/tagging/train",
    response_model=TrainReport,
    summary="Retrain the suggester on confirmed tags and feedback now (takes seconds)",
)
def train(hub: HubDep, who: Editor) -> TrainReport:
    return tagging.train_suggester(hub)


@router.get(
    "/tagging/accuracy",
    response_model=AccuracyReport,
    summary="How often editors kept the top (and top-3) suggestion, over recent decisions",
)
def accuracy(hub: HubDep, who: Reader, recent: Annotated[int, Query(ge=1, le=5000)] = 200) -> AccuracyReport:
    return tagging.accuracy(hub, recent)


class ReviewPageOut(BaseModel):
    items: list[ReviewItem]
    total: int
    limit: int
    offset: int


@router.get(
    "/tagging/review", response_model=ReviewPageOut, summary="Untagged assets, least certain top scene suggestion first"
)
def review(
    hub: HubDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100000)] = 0,
) -> ReviewPageOut:
    items, total = tagging.review_queue(hub, limit=limit, offset=offset)
    return ReviewPageOut(items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/assets/{asset_id}/reject-suggestions",
    response_model=RejectOut,
    summary="Record that suggested labels are wrong (none listed: all current suggestions)",
)
def reject_suggestions(asset_id: str, hub: HubDep, who: Writer, body: RejectIn | None = None) -> RejectOut:
    return tagging.reject_suggestions(hub, service.get_asset(hub, asset_id), who.name, body)
