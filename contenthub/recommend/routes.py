"""HTTP routes of the recommender: events, next content, asset performance, strategies (the audience's own routes
— users, identities, groups, caps, lifecycle rules, segments — are in contenthub/audience/routes.py)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from contenthub import audit
from contenthub.access import keys
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm, allows
from contenthub.deps import HubDep, check_rate, require
from contenthub.errors import InvalidError
from contenthub.variants import runtime as variants
from contenthub.hub import Hub
from contenthub.i18n import _, run_in_language
from contenthub.audience import segments
from contenthub.recommend import batch, events, service, strategies, turns
from contenthub.recommend.catalog import catalog_is_current
from contenthub.recommend.evaluation import logged
from contenthub.recommend.performance import ChannelPerformance, asset_performance
from contenthub.recommend.models import EventBatch, IngestResult, Recommendation
from starlette.types import ASGIApp, Receive, Scope, Send

from contenthub.web.language import language_of_scope

router = APIRouter(prefix="/v1", tags=["recommend"])

Recommender = Annotated[Principal, Depends(require(Perm.recommend_read))]
EventWriter = Annotated[Principal, Depends(require(Perm.events_write))]
AudienceReader = Annotated[Principal, Depends(require(Perm.audience_read))]
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
        body["error"] = {"code": "invalid", "message": _("All {n} events were rejected; event {index}: {reason}").format(
                         n=len(result.rejected), index=first.index, reason=first.reason), "field": "events"}
    return JSONResponse(body, status_code=status)


def _json(rec: Recommendation) -> Response:
    """Serialised once, by pydantic (the route's response_model still documents the shape)."""
    return Response(rec.model_dump_json(), media_type="application/json")


@router.get("/recommendations/users/{user_id}", response_model=Recommendation, summary="Next content for a user")
def recommend_user(
    user_id: str, hub: HubDep, who: Recommender, channel: str, scene: str | None = None, n: N = 3,
    strategy: str = "default", reserve: Reserve = False,
) -> Response:
    # Most calls never get here: NextContentFastPath (below) answers the well-formed ones.
    return _json(service.next_for_user(hub, user_id, channel, scene=scene, n=n, strategy=strategy, reserve=reserve))


_USER_PATH = re.compile(r"/v1/recommendations/users/([^/]+)")  # the route's path, `{user_id}` as Starlette's str
_N = re.compile(r"[1-9][0-9]{0,2}")
_FAST_PARAMS = frozenset({"channel", "scene", "n", "strategy"})
_STACK_HEADERS = frozenset({b"cookie", b"content-length", b"transfer-encoding"})
"""Request headers that make the middlewares act (session, body limits): such requests take the whole stack."""
FAST_PATH_THREADS = 2
"""Measured with bench/recommend.py on a quiet 2-core box (load ≤ 1, 10k assets, 100k users): 1 thread
409 req/s, p99 112 ms, 2.4 ms server CPU per request; 2 threads 391 req/s, p99 116 ms, 3.4 ms; 4 threads
259 req/s, p99 221 ms, 5.1 ms — more threads only fight over the GIL. Two, so one request waiting on a
catalog rebuild or the ingest write lock does not hold up every other."""
_executor_lock = threading.Lock()
_executor_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """The fast path's own few threads. Not the event loop: the service reads SQLite, may write (exposure
    logging, behind an ingesting batch's write lock) and may wait for a catalog rebuild, none of which may
    stall every other request. Not AnyIO's 40-thread pool either: measured in-process with the service
    stubbed, a hand-off costs ~250 µs of CPU here against ~340 µs there (~95 µs inline); with 32 requests
    in flight, few threads also keep the GIL hand-offs and the per-thread SQLite connections few."""
    global _executor_pool
    if _executor_pool is None:
        with _executor_lock:
            if _executor_pool is None:
                _executor_pool = ThreadPoolExecutor(FAST_PATH_THREADS, thread_name_prefix="next-content")
    return _executor_pool


def _nothing_to_wait_for(hub: Hub) -> bool:
    """Whether next content can run on the event loop itself: the catalog is built for the current assets
    (no rebuild to wait for) and no experiment is running (exposure logging writes, and a write may wait
    behind an ingesting batch). Then it is ~1.5 ms of pure computation and SQLite reads, which never wait
    for writers in WAL mode, and running it inline saves the hand-off to a worker thread: measured over
    HTTP (bench/recommend.py, one server process, load from another) 1.56 ms of server CPU per request
    inline against 2.4 ms through the executor — the difference is GIL hand-offs. Throughput comes from
    running one worker process per core (``serve --workers``)."""
    return catalog_is_current(hub) and not variants.running(hub)


class NextContentFastPath:
    """Answers ``GET /v1/recommendations/users/{user_id}`` — the request bots make most — without FastAPI's
    per-request machinery (dependency solving, parameter models, response model). Measured in-process with
    the service stubbed: ~600 µs of CPU per request through the route, ~95 µs here plus the hand-off to a
    worker thread; over HTTP (stubbed, uvicorn, concurrency 32): 0.80 against 0.43 ms of server CPU.

    It only takes requests whose outcome it can give exactly as the route would: an ``Authorization: Bearer``
    key verified in this process (``access.keys`` cache; on SQLite verified here when not remembered) whose
    role may read recommendations, and query parameters among channel/scene/n/strategy, each once, non-empty,
    ``n`` a plain integer 1–100.
    Everything else — no key, an unverified or wrong key, a console session, ``reserve``, an unknown or
    repeated parameter, a value that needs validating, HEAD, a root path — goes on to the FastAPI route,
    which stays the definition of the contract (OpenAPI, 422 messages, 401/403). The rate limit is taken
    here exactly once, as ``current_principal`` would; errors the service raises go through the app's own
    exception handlers, so bodies and headers (Retry-After) are the same.
    """

    def __init__(self, app: ASGIApp, *, headers: tuple[tuple[bytes, bytes], ...]) -> None:
        """``app``: the whole middleware stack (``app.create_app`` wraps it); ``headers``: the response headers
        the skipped middlewares add (the security headers).

        Why outermost: a request the fast path answers otherwise first passes six middlewares (Starlette's
        error middleware, FastAPI's telemetry and body-limit layers, our body limit, sessions, security
        headers), each a coroutine and most a wrapped ``send``. For the requests it takes — no cookie and
        no body — those layers change nothing but the added headers, so it answers before them and adds
        those headers itself; everything else still goes through the whole stack."""
        self.app = app
        self.headers = headers

    def _parse(self, scope: Scope) -> tuple[Any, ...] | None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        m = _USER_PATH.fullmatch(scope["path"])
        if m is None:
            return None
        raw = None
        seen_auth = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                if not seen_auth:  # the route reads the first Authorization header only
                    seen_auth = True
                    auth = value.decode("latin-1")
                    if auth[:7].lower() == "bearer ":
                        raw = auth[7:].strip()
            elif name in _STACK_HEADERS:
                return None  # a session cookie or a body: the middlewares it skips would act on it
        if not raw:
            return None
        params: dict[str, str] = {}
        for key, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
            if key not in _FAST_PARAMS or key in params or not value:
                return None
            params[key] = value
        channel = params.get("channel")
        n = params.get("n", "3")
        if channel is None or not _N.fullmatch(n) or int(n) > service.MAX_N:
            return None
        hub = scope["app"].state.hub
        digest = keys.cache_key(raw)
        principal = keys.cached_principal(hub.store, digest)
        if principal is None and hub.store.capabilities.local_reads:
            # Remembered keys expire every KEY_CACHE_TTL seconds, for every request in flight at once; sending
            # them all to the route (threadpool, dependency solving) stalled each worker for ~200 ms every
            # 2 s under load. On a local store re-verifying is one indexed read and a SHA-256 (~30 µs), done here.
            principal = keys.verify_and_remember(hub.store, raw, digest)
        if principal is None or not allows(principal.role, Perm.recommend_read):
            return None
        return hub, principal, m.group(1), channel, params.get("scene"), int(n), params.get("strategy", "default")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = self._parse(scope) if scope["type"] == "http" else None
        if call is None:
            await self.app(scope, receive, send)
            return
        hub, principal, user_id, channel, scene, n, strategy = call
        try:
            check_rate(hub, principal)
            compute = functools.partial(_in_language, language_of_scope(scope), functools.partial(
                service.next_for_user, hub, user_id, channel, scene=scene, n=n, strategy=strategy))
            rec = None
            if _nothing_to_wait_for(hub):
                # still nothing to wait for when its turn comes (a rebuild may have become due meanwhile)?
                rec = await turns.in_turn(lambda: compute() if _nothing_to_wait_for(hub) else None)
            if rec is None:
                rec = await asyncio.get_running_loop().run_in_executor(_executor(), compute)
        except Exception as exc:
            handler = _exception_handler(scope["app"], exc)
            if handler is None:
                # what Starlette's ServerErrorMiddleware (outside everything) answers, before re-raising
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
                raise
            response = await handler(Request(scope, receive), exc)
        else:
            response = _json(rec)
        present = {name for name, _ignored in response.raw_headers}
        response.raw_headers.extend(h for h in self.headers if h[0] not in present)
        await response(scope, receive, send)


def _in_language(lang: str, compute: Callable[[], Any]) -> Any:
    """Reasons read in the asker's language: the pick runs in a worker thread, outside the request's context
    (and this path answers before ``LanguageMiddleware``)."""
    return run_in_language(lang, compute)


def _exception_handler(app: Any, exc: Exception) -> Any:
    """The app's handler for ``exc``, found as Starlette's ExceptionMiddleware finds it (by the exception's MRO;
    a handler for ``Exception`` belongs to ServerErrorMiddleware, which gets the exception re-raised)."""
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


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
    mode: Annotated[Literal["full", "batch"], Query(
        description="full: next_for_user per member, with reasons and MMR diversity; batch: the vectorised "
                    "batch ranker (recommend.batch) — asset, score and recommendation id per pick, for large "
                    "segments")] = "full",
) -> StreamingResponse:
    seg = segments.get_segment(hub, segment_id)
    service._validate(hub, channel, scene, n)
    strategies.get_strategy(hub, strategy)  # unknown strategy → 404 before the stream starts

    def lines() -> Iterator[bytes]:
        if mode == "batch":
            members = list(segments.members(hub, seg, limit=limit))
            for line in batch.pick_lines(hub, members, channel, scene=scene, n=n, strategy=strategy):
                yield (json.dumps(line, ensure_ascii=False) + "\n").encode()
            return
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


@router.get("/strategies", response_model=list[strategies.Strategy], tags=["strategies"])
def list_strategies(hub: HubDep, who: Recommender) -> list[strategies.Strategy]:
    return strategies.list_strategies(hub)


@router.get("/strategies/evaluation", tags=["strategies"], summary="Off-policy value of each strategy on logged picks")
def evaluate_strategies(hub: HubDep, who: Recommender,
                        strategy: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    return logged.evaluate_strategies(hub, strategy)


@router.put("/strategies/{strategy_id}", response_model=strategies.Strategy, tags=["strategies"])
def put_strategy(strategy_id: str, body: strategies.Strategy, hub: HubDep,
                 who: Annotated[Principal, Depends(require(Perm.experiments_write))]) -> strategies.Strategy:
    if body.id != strategy_id:
        raise InvalidError(_("The body's id '{id}' differs from the URL's '{strategy_id}'.").format(id=body.id, strategy_id=strategy_id), field="id")
    audit.record(hub, who.name, "put", "strategy", strategy_id, weights=body.weights)
    return strategies.put_strategy(hub, body)
