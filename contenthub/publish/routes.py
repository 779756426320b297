"""HTTP routes of the publish planner: cadence rules, marketing dates, best times, plans, slots, exports.

Weeks are any date of the week (normalised to its Monday). Writes need `plans:write`; publishing a slot
needs `events:write` (it records delivered events), so a bot that sends a due slot can also report it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from contenthub import clock
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.deps import HubDep, require
from contenthub.i18n import current_language
from contenthub.occasions import HolidayMark, MarketingDate
from contenthub.publish import editing, service
from contenthub.publish.editing import (
    ApproveAllIn,
    DueSlots,
    PublishResult,
    SlotChange,
    SlotIn,
    SlotPatch,
    SwapIn,
)
from contenthub.publish.service import (
    BestTime,
    Plan,
    PlanInfo,
    PlanSlot,
    RuleOut,
    VersionInfo,
)
from contenthub.timeutil import Instant

router = APIRouter(prefix="/v1", tags=["publish"])

Reader = Annotated[Principal, Depends(require(Perm.plans_read))]
Writer = Annotated[Principal, Depends(require(Perm.plans_write))]
Publisher = Annotated[Principal, Depends(require(Perm.events_write))]
Now = Annotated[datetime, Depends(clock.now)]
AudienceKey = Annotated[str, Query(description="'all', 'group:<id>' or 'segment:<id>'.", max_length=200)]


def request_lang(request: Request) -> str:
    """The request's language (``web.language``: ?lang=, the console's cookie, Accept-Language, Chinese)."""
    return current_language()


Lang = Annotated[str, Depends(request_lang)]


class PlanRequest(BaseModel):
    week: date = Field(description="Any day of the week to plan; the plan covers its Monday…Sunday.")
    channels: list[str] | None = Field(default=None, max_length=20, description="Default: every channel.")
    audiences: list[str] | None = Field(
        default=None, max_length=500, description="'all', 'group:<id>', 'segment:<id>'; default ['all']."
    )
    version: int | None = Field(default=None, ge=0, description="Plan version being replaced (409 if it moved on).")


class ReplanRequest(BaseModel):
    version: int | None = Field(default=None, ge=0)


# ---- cadence rules ----------------------------------------------------------------------------------------------


@router.get("/cadence-rules", response_model=list[RuleOut], summary="Every cadence rule in force (defaults included)")
def list_rules(hub: HubDep, who: Reader) -> list[RuleOut]:
    return service.effective_rules(hub)


@router.get("/cadence-rules/{channel}", response_model=RuleOut, summary="The rule that applies to an audience")
def get_rule(channel: str, hub: HubDep, who: Reader, audience: AudienceKey = "all") -> RuleOut:
    return service.get_rule(hub, channel, audience)


@router.put(
    "/cadence-rules/{channel}",
    response_model=RuleOut,
    summary="Create or replace a cadence rule",
    description="Contradicting caps (e.g. min_per_week > max_per_week) and unknown time zones are "
    "refused with 422; `error.fields` names every field involved.",
)
def put_rule(
    channel: str,
    hub: HubDep,
    who: Writer,
    audience: AudienceKey = "all",
    body: dict[str, Any] = Body(
        examples=[
            {
                "max_per_day": 1,
                "min_per_week": 3,
                "windows": [[12, 14], [19, 22]],
                "mix": {"educational": [2, 3], "promotional": [0, 1]},
                "timezone": "Asia/Shanghai",
            }
        ]
    ),
) -> RuleOut:
    return service.put_rule(hub, channel, audience, body)


@router.delete("/cadence-rules/{channel}", status_code=204, summary="Delete a custom rule (the default returns)")
def delete_rule(channel: str, hub: HubDep, who: Writer, audience: AudienceKey = "all") -> Response:
    service.delete_rule(hub, channel, audience)
    return Response(status_code=204)


# ---- marketing dates, holidays, best times ------------------------------------------------------------------------


@router.get("/marketing-dates", response_model=list[MarketingDate])
def get_marketing_dates(hub: HubDep, who: Reader) -> list[MarketingDate]:
    return service.marketing_dates(hub)


@router.put("/marketing-dates", response_model=list[MarketingDate], summary="Replace the marketing dates")
def put_marketing_dates(dates: list[MarketingDate], hub: HubDep, who: Writer) -> list[MarketingDate]:
    return service.put_marketing_dates(hub, dates)


@router.get("/holidays", response_model=list[HolidayMark], summary="Holidays, adjusted workdays, marketing dates")
def get_holidays(week: date, hub: HubDep, who: Reader) -> list[HolidayMark]:
    return service.holidays_of(hub, week)


@router.get("/best-times", response_model=BestTime, summary="Hour-of-week heat map for a channel and audience")
def get_best_time(hub: HubDep, who: Reader, channel: str, audience: AudienceKey = "all") -> BestTime:
    return service.best_time(hub, channel, audience)


# ---- plans ------------------------------------------------------------------------------------------------------------


@router.post(
    "/plans",
    response_model=Plan,
    status_code=201,
    summary="Plan a week (a new version)",
    description="Fills the week for channels × audiences with assets the recommender picks. Locked, "
    "published and skipped slots of the current version are kept. Channels the rules cannot fill "
    "get their reasons in `channel_summary`; an empty plan is a valid answer.",
)
async def create_plan(body: PlanRequest, hub: HubDep, who: Writer, now: Now) -> Plan:
    return await run_in_threadpool(
        service.generate,
        hub,
        body.week,
        body.channels,
        body.audiences,
        who.name,
        expected_version=body.version,
        now=now,
    )


@router.get("/plans", response_model=list[PlanInfo], summary="Planned weeks, latest first")
def list_plans(hub: HubDep, who: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[PlanInfo]:
    return service.list_plans(hub, limit)


@router.get("/plans/{week}", response_model=Plan, summary="The plan of a week (current or a given version)")
def get_plan(week: date, hub: HubDep, who: Reader, version: Annotated[int | None, Query(ge=1)] = None) -> Plan:
    return service.get_plan(hub, week, version)


@router.get("/plans/{week}/versions", response_model=list[VersionInfo])
def plan_versions(week: date, hub: HubDep, who: Reader) -> list[VersionInfo]:
    return service.list_versions(hub, week)


@router.post("/plans/{week}/replan", response_model=Plan, summary="Plan again, keeping locked and published slots")
async def replan(week: date, hub: HubDep, who: Writer, now: Now, body: ReplanRequest | None = None) -> Plan:
    return await run_in_threadpool(
        service.replan, hub, week, who.name, expected_version=body.version if body else None, now=now
    )


@router.post("/plans/{week}/slots", response_model=SlotChange, status_code=201, summary="Add a slot by hand")
def add_slot(week: date, body: SlotIn, hub: HubDep, who: Writer, now: Now, lang: Lang) -> SlotChange:
    return editing.add_slot(hub, week, body, who.name, now, lang)


@router.patch(
    "/plans/{week}/slots/{slot_id}",
    response_model=SlotChange,
    summary="Move, swap the asset, lock/unlock or change the status of a slot",
    description="A move that breaks a cap is refused with 409; `error.cap` names the cap.",
)
async def edit_slot(
    week: date, slot_id: str, body: SlotPatch, hub: HubDep, who: Writer, now: Now, lang: Lang
) -> SlotChange:
    return await run_in_threadpool(editing.edit_slot, hub, week, slot_id, body, who.name, now, lang)


@router.post(
    "/plans/{week}/slots/{slot_id}/swap",
    response_model=list[PlanSlot],
    summary="Trade places (time and channel) with another slot",
    description="409 when a slot would land in the past, over a cap, or on a channel its asset is not "
    "tagged for; send override_channel with override_reason to place it anyway (recorded on the slot).",
)
async def swap_slots(
    week: date, slot_id: str, body: SwapIn, hub: HubDep, who: Writer, now: Now, lang: Lang
) -> list[PlanSlot]:
    return await run_in_threadpool(editing.swap_slots, hub, week, slot_id, body, who.name, now, lang)


@router.post(
    "/plans/{week}/approve",
    response_model=SlotChange,
    summary="Approve every draft slot still ahead",
    description="For the whole week or one channel; past slots are left as they are.",
)
def approve_all(week: date, body: ApproveAllIn, hub: HubDep, who: Writer, now: Now) -> SlotChange:
    return editing.approve_all(hub, week, body, who.name, now)


@router.delete("/plans/{week}/slots/{slot_id}", response_model=SlotChange)
def delete_slot(
    week: date, slot_id: str, hub: HubDep, who: Writer, now: Now, version: Annotated[int | None, Query(ge=0)] = None
) -> SlotChange:
    return editing.delete_slot(hub, week, slot_id, who.name, version, now)


@router.post(
    "/plans/{week}/slots/{slot_id}/publish",
    response_model=PublishResult,
    summary="Mark an approved slot published and record delivered events (idempotent)",
)
async def publish_slot(week: date, slot_id: str, hub: HubDep, who: Publisher, now: Now) -> PublishResult:
    return await run_in_threadpool(editing.publish_slot, hub, week, slot_id, who.name, now)


@router.get("/plans/{week}/due", response_model=DueSlots, summary="Approved slots due for sending (for bots)")
def due(
    week: date, hub: HubDep, who: Reader, now: Now, channel: str | None = None, before: Instant | None = None
) -> DueSlots:
    return editing.due_slots(hub, week, channel, before, now)


@router.get("/plans/{week}/export.ics", response_class=Response, summary="The plan as an iCalendar file")
def export_ics(week: date, hub: HubDep, who: Reader, lang: Lang) -> Response:
    data = editing.export_ics(hub, week, lang)
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="plan-{week.isoformat()}.ics"'},
    )


@router.get("/plans/{week}/export.csv", response_class=Response, summary="The plan as CSV (UTF-8 with BOM)")
def export_csv(week: date, hub: HubDep, who: Reader, lang: Lang) -> Response:
    # the BOM makes Excel read Chinese titles as UTF-8
    return Response(
        "\ufeff" + editing.export_csv(hub, week, lang),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="plan-{week.isoformat()}.csv"'},
    )
