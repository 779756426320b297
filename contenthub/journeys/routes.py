"""HTTP routes of journeys: definitions (versioned), templates, enrolment, user state, funnels, due sends.

Editing needs ``audience:write``; bots fetch due sends with ``recommend:read`` (and confirm them by
posting `delivered` events with the recommendation id to ``POST /v1/events``); funnels need
``reports:read``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.audience import users
from contenthub.deps import HubDep, require
from contenthub.errors import InvalidError, NotFoundError
from contenthub.i18n import _
from contenthub.journeys import engine, funnel, outbox, service
from contenthub.journeys.models import (
    JOURNEY_ID_RE,
    AdvanceResult,
    DueSend,
    EnrollIn,
    EnrollResult,
    Funnel,
    Journey,
    JourneyIn,
    JourneyState,
    JourneySummary,
    VersionInfo,
)
from contenthub.journeys.templates import TEMPLATES

router = APIRouter(prefix="/v1", tags=["journeys"])

Reader = Annotated[Principal, Depends(require(Perm.audience_read))]
Writer = Annotated[Principal, Depends(require(Perm.audience_write))]
Bot = Annotated[Principal, Depends(require(Perm.recommend_read))]
Reports = Annotated[Principal, Depends(require(Perm.reports_read))]
Admin = Annotated[Principal, Depends(require(Perm.admin))]


@router.get("/journeys", response_model=list[JourneySummary], summary="Journeys with status and entry counts")
def list_journeys(hub: HubDep, who: Reader) -> list[JourneySummary]:
    return service.list_journeys(hub)


@router.post("/journeys", response_model=Journey, status_code=201, summary="Create a journey (version 1)")
def create_journey(body: JourneyIn, hub: HubDep, who: Writer) -> Journey:
    return service.save(hub, body, who.name)


@router.get("/journeys/templates", summary="The default journey templates (editable once installed)")
def list_templates(hub: HubDep, who: Reader) -> dict[str, Any]:
    return TEMPLATES


@router.post(
    "/journeys/templates/{template_id}",
    response_model=Journey,
    status_code=201,
    summary="Install a default template as a new journey (draft unless status=active)",
)
def install_template(
    template_id: str,
    hub: HubDep,
    who: Writer,
    status: Literal["draft", "active"] = "draft",
    journey_id: Annotated[str | None, Query(pattern=JOURNEY_ID_RE)] = None,
) -> Journey:
    return service.install_template(hub, template_id, who.name, status=status, journey_id=journey_id)


@router.get(
    "/journeys/due",
    response_model=list[DueSend],
    summary="Sends due now on a channel, each with the asset picked for its user",
    description="Each send holds the channel's cap slot and its asset (as `reserve=true` does). Send it, then "
    "confirm with a `delivered` event carrying its `recommendation_id` (POST /v1/events). An unconfirmed send "
    "is offered again after 15 minutes (same id and asset), at most 3 times, and dropped at `expires_at`.",
)
async def due_sends(
    hub: HubDep, who: Bot, channel: str, limit: Annotated[int, Query(ge=1, le=outbox.MAX_LIMIT)] = 100
) -> list[DueSend]:
    return await run_in_threadpool(outbox.fetch_due, hub, channel, limit)


@router.post(
    "/journeys/advance",
    response_model=AdvanceResult,
    summary="Run one scheduler pass now (operators; the loop or `contenthub journeys run` does it anyway)",
)
async def advance(hub: HubDep, who: Admin, limit: Annotated[int, Query(ge=1, le=100000)] = 5000) -> AdvanceResult:
    return await run_in_threadpool(engine.advance_due, hub, None, limit)


@router.get("/journeys/{journey_id}", response_model=Journey, summary="A journey (head, or an older version)")
def get_journey(
    journey_id: str, hub: HubDep, who: Reader, version: Annotated[int | None, Query(ge=1)] = None
) -> Journey:
    return service.get(hub, journey_id, version)


@router.put(
    "/journeys/{journey_id}",
    response_model=Journey,
    summary="Edit a journey: saves a new version; users in flight keep the version they entered with",
)
def edit_journey(
    journey_id: str,
    body: JourneyIn,
    hub: HubDep,
    who: Writer,
    expected_version: Annotated[int | None, Query(ge=1, description="409 if the head moved on")] = None,
) -> Journey:
    return service.save(hub, body, who.name, journey_id=journey_id, expected_version=expected_version)


@router.delete(
    "/journeys/{journey_id}",
    response_model=Journey,
    summary="Archive a journey: nobody enters any more; users in flight leave at their next step",
)
def archive_journey(journey_id: str, hub: HubDep, who: Writer) -> Journey:
    return service.set_status(hub, journey_id, "archived", who.name)


@router.get("/journeys/{journey_id}/versions", response_model=list[VersionInfo])
def journey_versions(journey_id: str, hub: HubDep, who: Reader) -> list[VersionInfo]:
    return service.versions(hub, journey_id)


@router.get(
    "/journeys/{journey_id}/funnel",
    response_model=Funnel,
    summary="Per-step funnel: entered, sent, opened, clicked, converted, exited, drop-off",
)
def journey_funnel(
    journey_id: str,
    hub: HubDep,
    who: Reports,
    version: Annotated[int | None, Query(ge=1, description="One version; default all summed")] = None,
) -> Funnel:
    return funnel.build(hub, journey_id, version)


@router.post(
    "/journeys/{journey_id}/enroll",
    response_model=EnrollResult,
    summary="Put users into a journey now (manual trigger); re-entry rules and experiments apply",
)
def enroll(journey_id: str, body: EnrollIn, hub: HubDep, who: Writer) -> EnrollResult:
    journey = service.get(hub, journey_id)
    if journey.status in ("archived", "paused"):
        raise InvalidError(
            _("Journey '{journey_id}' is {status}; activate it before enrolling.").format(
                journey_id=journey_id, status=journey.status
            ),
            field="status",
            value=journey.status,
            allowed=["draft", "active"],
        )
    result = EnrollResult()
    for uid in body.user_ids:
        doc = users.find_user(hub, uid)
        if doc is None:
            result.skipped[uid] = "no such user"
            continue
        ok, why = engine.enroll(hub, journey, doc["id"])
        if ok:
            result.enrolled.append(doc["id"])
        else:
            result.skipped[uid] = why
    return result


@router.get(
    "/journeys/{journey_id}/users/{user_id}",
    response_model=JourneyState,
    summary="Where a user is in a journey: pinned version, step, due time, history",
)
def user_state(journey_id: str, user_id: str, hub: HubDep, who: Reader) -> JourneyState:
    doc = engine.get_state(hub, journey_id, user_id)
    if doc is None:
        raise NotFoundError(
            _("User '{user_id}' has never been in journey '{journey_id}'.").format(
                user_id=user_id, journey_id=journey_id
            ),
            field="user_id",
            value=user_id,
        )
    return JourneyState.model_validate(doc)
