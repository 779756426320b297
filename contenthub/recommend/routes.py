"""HTTP routes of the recommender: events, next content, asset performance, strategies (the audience's own routes
— users, identities, groups, caps, lifecycle rules, segments — are in contenthub/audience/routes.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from contenthub import audit
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.audience import segments
from contenthub.audience.profiles import Profile
from contenthub.deps import HubDep, authorized, current_principal, require
from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.recommend import batch, events, service, strategies
from contenthub.recommend.catalog import catalog_is_current
from contenthub.recommend.evaluation import logged
from contenthub.recommend.models import EventBatch, IngestResult, Recommendation
from contenthub.recommend.performance import ChannelPerformance, asset_performance
from contenthub.timeutil import utcnow
from contenthub.variants import runtime as variants

router = APIRouter(prefix="/v1", tags=["recommend"])

Recommender = Annotated[Principal, Depends(require(Perm.recommend_read))]
EventWriter = Annotated[Principal, Depends(require(Perm.events_write))]
AudienceReader = Annotated[Principal, Depends(require(Perm.audience_read))]
N_HELP = "How many picks (1–100)."
RESERVE_HELP = (
    "Take the cap slot and the asset for an immediate send: returns one pick, recorded as served; "
    "concurrent callers never exceed the cap."
)
N = Annotated[int, Query(ge=1, le=service.MAX_N, description=N_HELP)]
Reserve = Annotated[bool, Query(description=RESERVE_HELP)]


@router.post(
    "/events",
    response_model=IngestResult,
    summary="Ingest a batch of up to 10,000 events",
    description="Partial acceptance: invalid events are listed in `rejected` with their index and reason; "
    "the valid ones are stored together, atomically. Re-sending an event id changes nothing (`duplicates`). "
    "The status is 200 when nothing was rejected, 207 when some events were rejected, 422 when all were.",
)
async def post_events(batch: EventBatch, hub: HubDep, who: EventWriter) -> Any:
    result = await run_in_threadpool(events.ingest, hub, batch.events)
    status = 200 if not result.rejected else (422 if result.accepted + result.duplicates == 0 else 207)
    body = result.model_dump()
    if status == 422:  # every 4xx carries error.message, like all other errors; `rejected` has the details
        first = result.rejected[0]
        body["error"] = {
            "code": "invalid",
            "message": _("All {n} events were rejected; event {index}: {reason}").format(
                n=len(result.rejected), index=first.index, reason=first.reason
            ),
            "field": "events",
        }
    return JSONResponse(body, status_code=status)


def _json(rec: Recommendation) -> Response:
    """Serialised once, by pydantic (the route's response_model still documents the shape)."""
    return Response(rec.model_dump_json(), media_type="application/json")


class NextContentQuery(BaseModel):
    """The query parameters of next content for a user, defined once: FastAPI documents them (OpenAPI) from
    the route's signature, and ``_answer_next_content`` validates each request with this same model, so the
    422 bodies are the app's usual ones (``app._validation_body``)."""

    channel: str
    scene: str | None = None
    n: int = Field(3, ge=1, le=service.MAX_N, description=N_HELP)
    strategy: str = "default"
    reserve: bool = Field(False, description=RESERVE_HELP)


def recommend_user(
    user_id: str, hub: HubDep, who: Recommender, query: Annotated[NextContentQuery, Query()]
) -> Response:
    return _next_content(hub, user_id, query)


def _next_content(
    hub: Hub,
    user_id: str,
    query: NextContentQuery,
    *,
    now: datetime | None = None,
    found_profile: Profile | None = None,
) -> Response:
    """``service.next_for_user`` for one validated query; ``now``/``found_profile``: what the route's awaited
    read (``service.read_for_user``) found already."""
    return _json(
        service.next_for_user(
            hub,
            user_id,
            query.channel,
            scene=query.scene,
            n=query.n,
            strategy=query.strategy,
            reserve=query.reserve,
            now=now,
            found_profile=found_profile,
        )
    )


def _nothing_to_wait_for(hub: Hub) -> bool:
    """Whether next content can run on the event loop itself: the catalog is built for the current assets
    (no rebuild to wait for) and no experiment is running (exposure logging writes, and a write may wait
    behind an ingesting batch). Then it is the profile's store read, awaited (``service.read_for_user``:
    SQLite reads at once, never waiting for writers in WAL mode; Elasticsearch's async client lets the loop
    serve other requests while the node answers), and pure computation, which running inline saves the
    hand-off to a worker thread and its GIL hand-offs. Throughput comes from one worker process per core
    (``serve --workers``)."""
    return catalog_is_current(hub) and not variants.running(hub)


async def _answer_next_content(request: Request) -> Response:
    """What FastAPI's generic handler does for ``recommend_user``, written out for this one signature: the
    route's own permission dependency (``deps.current_principal`` then ``deps.authorized``: key or session,
    failed-authentication limit, rate limit), its parameter model, then the endpoint itself. Errors are
    raised, so the app's exception handlers write every error body, as for any route. What it saves is
    FastAPI's per-request dependency solving and the threadpool hop for a computation that need not wait."""
    hub: Hub = request.app.state.hub
    who = authorized(request, await current_principal(request, hub), Perm.recommend_read)
    query = NextContentQuery.model_validate(dict(request.query_params))
    user_id = request.path_params["user_id"]
    if not query.reserve and _nothing_to_wait_for(hub):
        now = utcnow()
        profile = await service.read_for_user(hub, user_id, query.channel, scene=query.scene, n=query.n, now=now)
        return _next_content(hub, user_id, query, now=now, found_profile=profile)
    return await run_in_threadpool(functools.partial(recommend_user, user_id, hub, who, query))


class NextContentRoute(APIRoute):
    """The route of next content for a user, the request bots make most: documented by FastAPI from
    ``recommend_user``'s signature (OpenAPI; its ``require`` dependency for the role matrix), answered by
    ``_answer_next_content`` (FastAPI's documented extension point for a route's handler)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return _answer_next_content


router.add_api_route(
    "/recommendations/users/{user_id}",
    recommend_user,
    methods=["GET"],
    response_model=Recommendation,
    summary="Next content for a user",
    route_class_override=NextContentRoute,
)


@router.get("/recommendations/groups/{group_id}", response_model=Recommendation, summary="Next content for a group")
def recommend_group(
    group_id: str,
    hub: HubDep,
    who: Recommender,
    channel: str | None = None,
    scene: str | None = None,
    n: N = 3,
    strategy: str = "default",
    reserve: Reserve = False,
) -> Recommendation:
    return service.next_for_group(hub, group_id, channel, scene=scene, n=n, strategy=strategy, reserve=reserve)


@router.get(
    "/recommendations/segments/{segment_id}",
    summary="Next content for every user of a segment (JSON lines)",
    response_class=StreamingResponse,
)
def recommend_segment(
    segment_id: str,
    hub: HubDep,
    who: Recommender,
    channel: str,
    scene: str | None = None,
    n: N = 1,
    strategy: str = "default",
    limit: Annotated[int, Query(ge=1, le=1_000_000)] = 100_000,
    mode: Annotated[
        Literal["full", "batch"],
        Query(
            description="full: next_for_user per member, with reasons and MMR diversity; batch: the vectorised "
            "batch ranker (recommend.batch) — asset, score and recommendation id per pick, for large "
            "segments"
        ),
    ] = "full",
    reserve: Reserve = False,
) -> StreamingResponse:
    seg = segments.get_segment(hub, segment_id)
    service._validate(hub, channel, scene, n)
    strategies.get_strategy(hub, strategy)  # unknown strategy → 404 before the stream starts

    def lines() -> Iterator[bytes]:
        if mode == "batch":
            members = list(segments.members(hub, seg, limit=limit))
            for line in batch.pick_lines(hub, members, channel, scene=scene, n=n, strategy=strategy, reserve=reserve):
                yield (json.dumps(line, ensure_ascii=False) + "\n").encode()
            return
        for uid in segments.members(hub, seg, limit=limit):
            rec = service.next_for_user(hub, uid, channel, scene=scene, n=n, strategy=strategy, reserve=reserve)
            yield (json.dumps(rec.model_dump(mode="json"), ensure_ascii=False) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get(
    "/assets/{asset_id}/performance",
    response_model=list[ChannelPerformance],
    tags=["library"],
    summary="Served, delivered, opened, clicked, converted and rates per channel",
)
def get_performance(asset_id: str, hub: HubDep, who: AudienceReader) -> list[ChannelPerformance]:
    from contenthub.library.service import get_asset

    get_asset(hub, asset_id)
    return asset_performance(hub, asset_id)


@router.get("/strategies", response_model=list[strategies.Strategy], tags=["strategies"])
def list_strategies(hub: HubDep, who: Recommender) -> list[strategies.Strategy]:
    return strategies.list_strategies(hub)


@router.get("/strategies/evaluation", tags=["strategies"], summary="Off-policy value of each strategy on logged picks")
def evaluate_strategies(
    hub: HubDep, who: Recommender, strategy: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    return logged.evaluate_strategies(hub, strategy)


@router.put("/strategies/{strategy_id}", response_model=strategies.Strategy, tags=["strategies"])
def put_strategy(
    strategy_id: str,
    body: strategies.Strategy,
    hub: HubDep,
    who: Annotated[Principal, Depends(require(Perm.experiments_write))],
) -> strategies.Strategy:
    if body.id != strategy_id:
        raise InvalidError(
            _("The body's id '{id}' differs from the URL's '{strategy_id}'.").format(
                id=body.id, strategy_id=strategy_id
            ),
            field="id",
        )
    audit.record(hub, who.name, "put", "strategy", strategy_id, weights=body.weights)
    return strategies.put_strategy(hub, body)
