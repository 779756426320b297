"""HTTP API of the dashboard: every view as JSON, or as CSV with ``?format=csv``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.dashboard import service, tables
from contenthub.dashboard.models import (
    AssetLeaders,
    ChannelHealth,
    CohortBy,
    Fatigue,
    LifecycleFlows,
    LtvModel,
    ObservedLtv,
    Retention,
    UserValue,
)
from contenthub.deps import HubDep, require

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])
Reader = Annotated[Principal, Depends(require(Perm.reports_read))]
Writer = Annotated[Principal, Depends(require(Perm.audience_write))]
Weeks = Annotated[int, Query(ge=1, le=52, description="How many weeks to show (1–52).")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv: the same numbers as a table.")]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/csv": {}}}}


def _answer(view: BaseModel, fmt: str, table: Callable[[Any], tables.Table], name: str) -> Any:
    if fmt == "csv":
        return Response(
            tables.to_csv(table(view)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="dashboard-{name}.csv"'},
        )
    return view


@router.get("/retention", response_model=Retention, responses=CSV, summary="Retention by cohort, weeks 0–N")
async def retention(hub: HubDep, who: Reader, by: CohortBy = "week", weeks: Weeks = 12, format: Format = "json") -> Any:
    view = await run_in_threadpool(service.retention_view, hub, by, weeks)
    return _answer(view, format, tables.retention, f"retention-{by}")


@router.get("/lifecycle", response_model=LifecycleFlows, responses=CSV, summary="Lifecycle states and moves per week")
async def lifecycle(hub: HubDep, who: Reader, weeks: Weeks = 12, format: Format = "json") -> Any:
    view = await run_in_threadpool(service.lifecycle_view, hub, weeks)
    return _answer(view, format, tables.lifecycle, "lifecycle")


@router.get("/channels", response_model=ChannelHealth, responses=CSV, summary="Channel health per week, caps in force")
async def channels(
    hub: HubDep,
    who: Reader,
    weeks: Weeks = 12,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    format: Format = "json",
) -> Any:
    view = await run_in_threadpool(service.channels_view, hub, weeks, channel)
    return _answer(view, format, tables.channels, "channels")


@router.get("/assets", response_model=AssetLeaders, responses=CSV, summary="Best and worst assets per scene and type")
async def assets(
    hub: HubDep, who: Reader, min_deliveries: Annotated[int, Query(ge=1, le=1_000_000)] = 10, format: Format = "json"
) -> Any:
    view = await run_in_threadpool(service.assets_view, hub, min_deliveries)
    return _answer(view, format, tables.assets, "assets")


@router.get("/fatigue", response_model=Fatigue, responses=CSV, summary="Open and mute rates by sends per user per week")
async def fatigue(
    hub: HubDep,
    who: Reader,
    channel: Annotated[str, Query(min_length=1, max_length=64)] = "wecom_1v1",
    format: Format = "json",
) -> Any:
    view = await run_in_threadpool(service.fatigue_view, hub, channel)
    return _answer(view, format, tables.fatigue, f"fatigue-{channel}")


@router.get("/ltv", response_model=ObservedLtv, responses=CSV, summary="Observed cumulative revenue per user by cohort")
async def ltv(
    hub: HubDep, who: Reader, by: Literal["week", "source"] = "week", weeks: Weeks = 12, format: Format = "json"
) -> Any:
    view = await run_in_threadpool(service.ltv_observed_view, hub, by, weeks)
    return _answer(view, format, tables.ltv_observed, f"ltv-{by}")


@router.get(
    "/ltv/model",
    response_model=LtvModel,
    responses=CSV,
    summary="The value model (BG/NBD + Gamma-Gamma) and its error on held-out weeks",
)
async def ltv_model(hub: HubDep, who: Reader, format: Format = "json") -> Any:
    view = await run_in_threadpool(service.ltv_model_view, hub)
    return _answer(view, format, tables.ltv_holdout, "ltv-holdout")


@router.get("/users/{user_id}/value", response_model=UserValue, summary="A user's predicted value and value tier")
async def user_value(user_id: str, hub: HubDep, who: Reader) -> UserValue:
    return await run_in_threadpool(service.user_value, hub, user_id)


@router.post(
    "/refresh",
    summary="Rebuild the dashboard now and copy predicted value onto users",
    description="Users get attributes `predicted_value` and `predicted_tier` (for segments: `attr.predicted_tier`).",
)
async def refresh(hub: HubDep, who: Writer) -> dict[str, Any]:
    return await run_in_threadpool(service.refresh, hub)
