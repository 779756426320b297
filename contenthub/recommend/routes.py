"""HTTP routes of the recommender: users, identities, groups, events, next content, strategies, caps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub import audit
from contenthub.deps import HubDep, require
from contenthub.errors import InvalidError
from contenthub.recommend import caps, events, groups, lifecycle, segments, service, strategies, users
from contenthub.recommend.performance import ChannelPerformance, asset_performance
from contenthub.recommend.models import (
    EventBatch, Group, GroupIn, Identity, IngestResult, MembershipChange, Recommendation, User, UserIn,
)

router = APIRouter(prefix="/v1", tags=["recommend"])

Recommender = Annotated[Principal, Depends(require(Perm.recommend_read))]
EventWriter = Annotated[Principal, Depends(require(Perm.events_write))]
AudienceReader = Annotated[Principal, Depends(require(Perm.audience_read))]
AudienceWriter = Annotated[Principal, Depends(require(Perm.audience_write))]
Admin = Annotated[Principal, Depends(require(Perm.admin))]
N = Annotated[int, Query(ge=1, le=service.MAX_N, description="How many picks (1–100).")]
Reserve = Annotated[bool, Query(description="Take the cap slot and the asset for an immediate send: returns one "
                                "pick, recorded as served; concurrent callers never exceed the cap.")]


@router.post("/events", response_model=IngestResult, summary="Ingest a batch of up to 10,000 events",
             description="Partial acceptance: invalid events are listed in `rejected` with their index and reason; "
             "the valid ones are stored together, atomically. Re-sending an event id changes nothing (`duplicates`). "
             "The status is 200 when nothing was rejected, 207 when some events were rejected, 422 when all were.")
async def post_events(batch: EventBatch, hub: HubDep, who: EventWriter) -> Any:
    result = await run_in_threadpool(events.ingest, hub, batch.events)
    status = 200 if not result.rejected else (422 if result.accepted + result.duplicates == 0 else 207)
    body = result.model_dump()
    if status == 422:  # every 4xx carries error.message, like all other errors; `rejected` has the details
        first = result.rejected[0]
        body["error"] = {"code": "invalid", "message": f"All {len(result.rejected)} events were rejected; "
                         f"event {first.index}: {first.reason}", "field": "events"}
    return JSONResponse(body, status_code=status)


@router.get("/recommendations/users/{user_id}", response_model=Recommendation, summary="Next content for a user")
def recommend_user(
    user_id: str, hub: HubDep, who: Recommender, channel: str, scene: str | None = None, n: N = 3,
    strategy: str = "default", reserve: Reserve = False,
) -> Recommendation:
    return service.next_for_user(hub, user_id, channel, scene=scene, n=n, strategy=strategy, reserve=reserve)


@router.get("/recommendations/groups/{group_id}", response_model=Recommendation, summary="Next content for a group")
def recommend_group(
    group_id: str, hub: HubDep, who: Recommender, channel: str | None = None, scene: str | None = None, n: N = 3,
    strategy: str = "default", reserve: Reserve = False,
) -> Recommendation:
    return service.next_for_group(hub, group_id, channel, scene=scene, n=n, strategy=strategy, reserve=reserve)


@router.get("/recommendations/segments/{segment_id}", summary="Next content for every user of a segment (JSON lines)",
            response_class=StreamingResponse)
def recommend_segment(
    segment_id: str, hub: HubDep, who: Recommender, channel: str, scene: str | None = None, n: N = 1,
    strategy: str = "default", limit: Annotated[int, Query(ge=1, le=1_000_000)] = 100_000,
) -> StreamingResponse:
    seg = segments.get_segment(hub, segment_id)
    service._validate(hub, channel, scene, n)

    def lines() -> Iterator[bytes]:
        for uid in segments.members(hub, seg, limit=limit):
            rec = service.next_for_user(hub, uid, channel, scene=scene, n=n, strategy=strategy)
            yield (json.dumps(rec.model_dump(mode="json"), ensure_ascii=False) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/assets/{asset_id}/performance", response_model=list[ChannelPerformance], tags=["library"],
            summary="Served, delivered, opened, clicked, converted and rates per channel")
def get_performance(asset_id: str, hub: HubDep, who: AudienceReader) -> list[ChannelPerformance]:
    from contenthub.library.service import get_asset

    get_asset(hub, asset_id)
    return asset_performance(hub, asset_id)


@router.put("/users", response_model=User, summary="Create or update a user with identities (merges when needed)")
def upsert_user(body: UserIn, hub: HubDep, who: AudienceWriter) -> User:
    return users.upsert_user(hub, body)


@router.delete("/users/{user_id}", summary="Erase a user: identities, profile, events, memberships (logged)")
def erase_user(user_id: str, hub: HubDep, who: Admin) -> dict[str, Any]:
    removed = users.erase_user(hub, user_id)
    audit.record(hub, who.name, "erase", "user", user_id, **removed)
    return {"erased": user_id, "removed": removed}


@router.get("/users/{user_id}", response_model=User)
def get_user(user_id: str, hub: HubDep, who: AudienceReader) -> User:
    return users.get_user(hub, user_id)


@router.get("/users/{user_id}/profile", summary="Engagement tags, lifecycle stage and tier, recent events")
def get_profile(user_id: str, hub: HubDep, who: AudienceReader) -> dict[str, Any]:
    ov = service.user_overview(hub, user_id)
    return {**{k: v for k, v in ov.items() if k not in ("user", "last_event")}, "user": ov["user"].model_dump(),
            "tags": [{"label": a, "facet": b, "weight": c} for a, b, c in ov["tags"]]}


@router.post("/users/{user_id}/identities", response_model=User, summary="Link an identity (merging users)")
def link_identity(user_id: str, ident: Identity, hub: HubDep, who: AudienceWriter) -> User:
    return users.link_identity(hub, user_id, ident)


@router.get("/identities/{identity_type}/{value}", response_model=User, summary="Find a user by an identity")
def find_by_identity(identity_type: str, value: str, hub: HubDep, who: AudienceReader) -> User:
    try:
        ident = Identity(type=identity_type, value=value)  # type: ignore[arg-type]
    except Exception:
        from contenthub.recommend.models import IDENTITY_TYPES

        raise InvalidError(f"Unknown identity type '{identity_type}'.", field="identity_type", value=identity_type,
                           allowed=list(IDENTITY_TYPES)) from None
    uid = users.resolve_identity(hub, ident, create=False)
    if uid is None:
        from contenthub.errors import NotFoundError

        raise NotFoundError("No user has this identity.", field="identity")
    return users.get_user(hub, uid)


@router.put("/groups", response_model=Group)
def upsert_group(body: GroupIn, hub: HubDep, who: AudienceWriter) -> Group:
    return groups.upsert_group(hub, body)


@router.get("/groups", response_model=list[Group])
def list_groups(hub: HubDep, who: AudienceReader, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                offset: Annotated[int, Query(ge=0)] = 0) -> list[Group]:
    return groups.list_groups(hub, limit, offset)


@router.get("/groups/{group_id}", response_model=Group)
def get_group(group_id: str, hub: HubDep, who: AudienceReader) -> Group:
    return groups.get_group(hub, group_id)


@router.post("/groups/{group_id}/members", response_model=Group, summary="Members join or leave")
def change_members(group_id: str, body: MembershipChange, hub: HubDep, who: AudienceWriter) -> Group:
    return groups.change_members(hub, group_id, body)


@router.get("/strategies", response_model=list[strategies.Strategy], tags=["strategies"])
def list_strategies(hub: HubDep, who: Recommender) -> list[strategies.Strategy]:
    return strategies.list_strategies(hub)


@router.put("/strategies/{strategy_id}", response_model=strategies.Strategy, tags=["strategies"])
def put_strategy(strategy_id: str, body: strategies.Strategy, hub: HubDep,
                 who: Annotated[Principal, Depends(require(Perm.experiments_write))]) -> strategies.Strategy:
    if body.id != strategy_id:
        raise InvalidError(f"The body's id '{body.id}' differs from the URL's '{strategy_id}'.", field="id")
    audit.record(hub, who.name, "put", "strategy", strategy_id, weights=body.weights)
    return strategies.put_strategy(hub, body)


@router.get("/caps", response_model=list[caps.CapRule], tags=["caps"])
def list_caps(hub: HubDep, who: AudienceReader) -> list[caps.CapRule]:
    return caps.all_rules(hub)


@router.put("/caps/{channel}", response_model=caps.CapRule, tags=["caps"])
def put_cap(channel: str, body: caps.CapRule, hub: HubDep, who: Admin) -> caps.CapRule:
    if body.channel != channel:
        raise InvalidError(f"The body's channel '{body.channel}' differs from the URL's '{channel}'.", field="channel")
    audit.record(hub, who.name, "put", "cap_rule", channel, **body.model_dump(exclude={"channel", "note"}))
    return caps.put_rule(hub, body)


@router.get("/lifecycle-rules", response_model=lifecycle.LifecycleRules, tags=["caps"])
def get_lifecycle_rules(hub: HubDep, who: AudienceReader) -> lifecycle.LifecycleRules:
    return lifecycle.get_rules(hub)


@router.put("/lifecycle-rules", response_model=lifecycle.LifecycleRules, tags=["caps"])
def put_lifecycle_rules(body: lifecycle.LifecycleRules, hub: HubDep, who: AudienceWriter) -> lifecycle.LifecycleRules:
    audit.record(hub, who.name, "put", "lifecycle_rules", "default")
    return lifecycle.put_rules(hub, body)


@router.put("/segments/{segment_id}", response_model=segments.Segment, tags=["segments"])
def put_segment(segment_id: str, body: segments.SegmentIn, hub: HubDep, who: AudienceWriter) -> segments.Segment:
    audit.record(hub, who.name, "put", "segment", segment_id)
    return segments.put_segment(hub, segment_id, body)


@router.get("/segments", response_model=list[segments.SegmentCount], tags=["segments"])
def list_segments(hub: HubDep, who: AudienceReader) -> list[segments.SegmentCount]:
    return segments.list_with_counts(hub)


@router.get("/segments/{segment_id}", response_model=segments.SegmentCount, tags=["segments"])
def get_segment(segment_id: str, hub: HubDep, who: AudienceReader,
                sample: Annotated[int, Query(ge=0, le=100)] = 10) -> segments.SegmentCount:
    return segments.count(hub, segments.get_segment(hub, segment_id), sample=sample)


