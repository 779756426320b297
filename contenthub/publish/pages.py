"""The weekly calendar page: a days × channels grid of slots, caps used, holidays, the best-time heat map,
and a slot page with the asset preview, the rationale and edit forms (CSRF-protected, zh/en).

Pages call the same service functions as the API; a refused edit (409 cap, 422 input) re-renders the slot
page with the message instead of an error page, so the editor sees why and can try another time.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from contenthub import clock
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm, allows
from contenthub.audience import groups, segments
from contenthub.deps import HubDep, check_csrf, require
from contenthub.errors import InvalidError, ProblemError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import taxonomy
from contenthub.library.search import SearchRequest
from contenthub.library.search import search as search_assets
from contenthub.publish import audiences as audience_lookup
from contenthub.publish import editing, service
from contenthub.publish.describe import describe_rule
from contenthub.publish.editing import ApproveAllIn, SlotPatch, SwapIn
from contenthub.publish.planner import resolve_rule, week_start_of
from contenthub.publish.rules import CHANNELS, CONTENT_TYPES
from contenthub.web.templating import lang_of, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.plans_read))]
Writer = Annotated[Principal, Depends(require(Perm.plans_write))]
Publisher = Annotated[Principal, Depends(require(Perm.events_write))]
Now = Annotated[datetime, Depends(clock.now)]
WEEKDAYS = {
    "zh": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
}


def _names(hub: Hub, lang: str) -> dict[str, dict[str, str]]:
    return {
        facet: {e.id: (e.zh if lang == "zh" else e.en) for e in entries}
        for facet, entries in taxonomy.all_taxonomy(hub.store).items()
    }


def _message(exc: Exception) -> str:
    if isinstance(exc, ProblemError):
        return exc.message
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


def _status(exc: Exception) -> int:
    return exc.status if isinstance(exc, ProblemError) else 422


def _week(hub: Hub, text: str, now: datetime) -> date:
    if not text:
        return week_start_of(now.astimezone(ZoneInfo(hub.settings.timezone)).date())
    try:
        return week_start_of(date.fromisoformat(text))
    except ValueError:
        raise InvalidError(
            _("week: '{text}' is not a date; use YYYY-MM-DD.").format(text=text), field="week", value=text
        ) from None


def _calendar_url(week: date, **params: str) -> str:
    return "/calendar?" + urlencode({"week": week.isoformat(), **{k: v for k, v in params.items() if v}})


def _heat_rows(scores: list[list[float]]) -> list[list[tuple[float, float]]]:
    """(score, 0–1 intensity) per cell, intensity relative to the week's best hour."""
    top = max(max(row) for row in scores) or 1.0
    return [[(v, v / top) for v in row] for row in scores]


@router.get("/calendar", response_class=HTMLResponse)
def calendar_page(
    request: Request,
    hub: HubDep,
    who: Reader,
    now: Now,
    week: str = "",
    audience: str = "",
    heat_channel: str = "",
    heat_audience: str = "all",
    msg: str = "",
) -> HTMLResponse:
    lang = lang_of(request)
    error = None
    try:
        monday = _week(hub, week, now)
    except InvalidError as exc:
        monday, error = _week(hub, "", now), exc.message
    plan = service.find_plan(hub, monday)
    holidays = service.holidays_of(hub, monday)
    days = [monday + timedelta(days=i) for i in range(7)]
    marks: dict[date, list[Any]] = defaultdict(list)
    for mark in holidays:
        marks[mark.date].append(mark)

    slots = [s for s in plan.slots if not audience or s.audience.key == audience] if plan else []
    channels = list(plan.channels) if plan else list(CHANNELS)
    channels += [c for c in CHANNELS if c not in channels and any(s.channel == c for s in slots)]
    grid: dict[str, dict[date, list[Any]]] = {c: {d: [] for d in days} for c in channels}
    for slot in slots:
        local_day = slot.start.date()  # start is held in its rule's zone: its date is the local day
        if local_day in grid.get(slot.channel, {}):
            grid[slot.channel][local_day].append(slot)
    today = now.astimezone(ZoneInfo(hub.settings.timezone)).date()
    sent: dict[str, dict[date, list[Any]]] = {c: defaultdict(list) for c in channels}
    for post in service.sent_in_week(hub, monday, now):
        if post.channel in sent:
            sent[post.channel][post.day].append(post)

    heat_channel = heat_channel if heat_channel in CHANNELS else (channels[0] if channels else CHANNELS[0])
    try:
        heat = service.best_time(hub, heat_channel, heat_audience or "all")
    except ProblemError as exc:
        heat, error = service.best_time(hub, heat_channel, "all"), exc.message
    audience_options = (
        ["all"]
        + [f"group:{g.id}" for g in groups.list_groups(hub, limit=500)]
        + [f"segment:{d['id']}" for d in hub.store.list_docs(segments.COLLECTION, limit=500)]
    )
    labels = {key: audience_lookup.label(hub, audience_lookup.parse_audience(key)) for key in audience_options}
    if plan:
        for key in plan.audiences:
            labels.setdefault(key, key)
    return render(
        request,
        "publish/calendar.html",
        week=monday,
        days=days,
        weekdays=WEEKDAYS[lang],
        plan=plan,
        grid=grid,
        channels=channels,
        marks=marks,
        names=_names(hub, lang),
        content_types=CONTENT_TYPES,
        caps=editing.cap_usage(hub, plan) if plan else {},
        targets=editing.target_by_channel(hub, plan) if plan else {},
        heat=heat,
        heat_rows=_heat_rows(heat.scores),
        heat_audience=heat_audience or "all",
        audience=audience,
        audience_options=audience_options,
        labels=labels,
        all_channels=CHANNELS,
        prev_url=_calendar_url(monday - timedelta(days=7), audience=audience),
        next_url=_calendar_url(monday + timedelta(days=7), audience=audience),
        today_url=_calendar_url(_week(hub, "", now), audience=audience),
        can_write=allows(who.role, Perm.plans_write),
        error=error,
        msg=msg,
        statutory_years=_statutory_years(),
        today=today,
        now=now,
        sent=sent,
    )


def _statutory_years() -> tuple[int, int]:
    from contenthub.occasions import statutory_years

    return statutory_years()


def _split_keys(text: str) -> list[str]:
    return [k.strip() for k in text.replace("，", ",").replace("\n", ",").split(",") if k.strip()]


@router.post("/calendar/plan", response_class=HTMLResponse, response_model=None)
def plan_form(
    request: Request,
    hub: HubDep,
    who: Writer,
    now: Now,
    csrf_token: Annotated[str, Form()] = "",
    week: Annotated[str, Form()] = "",
    channels: Annotated[list[str], Form()] = [],
    audiences: Annotated[list[str], Form()] = [],
    extra_audiences: Annotated[str, Form(max_length=5000)] = "",
    version: Annotated[int | None, Form()] = None,
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    monday = _week(hub, week, now)
    keys = list(dict.fromkeys([*audiences, *_split_keys(extra_audiences)])) or ["all"]
    try:
        plan = service.generate(hub, monday, channels or None, keys, who.name, expected_version=version, now=now)
        note = f"{_('Plan version')} {plan.version} · {len(plan.active())}"
    except ProblemError as exc:
        note = "! " + exc.message
    return RedirectResponse(_calendar_url(monday, msg=note), status_code=303)


@router.post("/calendar/replan", response_class=HTMLResponse, response_model=None)
def replan_form(
    request: Request,
    hub: HubDep,
    who: Writer,
    now: Now,
    csrf_token: Annotated[str, Form()] = "",
    week: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    monday = _week(hub, week, now)
    try:
        plan = service.replan(hub, monday, who.name, expected_version=version, now=now)
        note = f"{_('Plan version')} {plan.version} · {len(plan.active())}"
    except ProblemError as exc:
        note = "! " + exc.message
    return RedirectResponse(_calendar_url(monday, msg=note), status_code=303)


class AssetPicker(BaseModel):
    """The slot page's asset search: words, a content type and a channel (empty: any)."""

    q: str = Field(default="", max_length=200)
    content_type: str = ""
    channel: str = ""


PICKER_SIZE = 12


def _choices(hub: Hub, slot: Any, picker: AssetPicker) -> list[Any]:
    """Approved assets valid at the slot's time that match the picker, the slot's own asset left out."""
    req = SearchRequest(
        q=picker.q.strip(),
        statuses=("approved",),
        valid_at=slot.start,
        limit=PICKER_SIZE + 1,
        channels=(picker.channel,) if picker.channel in CHANNELS else (),
        content_types=(picker.content_type,) if picker.content_type in CONTENT_TYPES else (),
    )
    return [hit.asset for hit in search_assets(hub, req).items if hit.asset.id != slot.asset_id][:PICKER_SIZE]


def _slot_page(
    request: Request,
    hub: Hub,
    who: Principal,
    monday: date,
    slot_id: str,
    now: datetime,
    flash: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    picker: AssetPicker | None = None,
    override_asked: dict[str, str] | None = None,
) -> HTMLResponse:
    lang = lang_of(request)
    plan = service.get_plan(hub, monday)
    slot = plan.slot(slot_id)
    asset = hub.store.get_asset(slot.asset_id)
    rule = resolve_rule(service.rules_by_key(hub), slot.channel, slot.audience)
    names = _names(hub, lang)
    return render(
        request,
        "publish/slot.html",
        status_code=status_code,
        plan=plan,
        slot=slot,
        asset=asset,
        rule=rule,
        rule_words=describe_rule(rule, lang, names.get("content_types", {})) if rule else [],
        names=names,
        week=monday,
        flash=flash,
        error=error,
        all_channels=CHANNELS,
        audience_label=audience_lookup.label(hub, slot.audience),
        transitions=[s for s in service.TRANSITIONS[slot.status] if s != "published"],
        can_write=allows(who.role, Perm.plans_write),
        can_publish=allows(who.role, Perm.events_write),
        back_url=_calendar_url(monday),
        local_start=slot.start.strftime("%Y-%m-%dT%H:%M"),
        past=slot.start < now,
        picker=picker or AssetPicker(channel=slot.channel, content_type=slot.content_type),
        choices=_choices(hub, slot, picker or AssetPicker(channel=slot.channel, content_type=slot.content_type)),
        content_types=CONTENT_TYPES,
        override_asked=override_asked,
    )


@router.get("/calendar/slots/{slot_id}", response_class=HTMLResponse)
def slot_page(
    request: Request,
    hub: HubDep,
    who: Reader,
    now: Now,
    slot_id: str,
    week: str = "",
    msg: str = "",
    q: str = "",
    content_type: str = "",
    channel: str = "",
    search: str = "",
) -> HTMLResponse:
    monday = _week(hub, week, now)
    picker = None
    if search:  # the picker form was sent: its fields (empty means any), else the slot's channel and type
        picker = AssetPicker(q=q[:200], content_type=content_type, channel=channel)
    return _slot_page(request, hub, who, monday, slot_id, now, flash=msg or None, picker=picker)


def _after_edit(
    request: Request,
    hub: Hub,
    who: Principal,
    monday: date,
    slot_id: str,
    now: datetime,
    action: Any,
    request_form: dict[str, str] | None = None,
) -> Any:
    """Run an edit; on success redirect (POST/redirect/GET), on refusal show the slot page with the reason."""
    try:
        result = action()
    except (ProblemError, ValidationError) as exc:
        asked = None
        if isinstance(exc, ProblemError) and exc.extra.get("cap") == "channel":
            asked = {
                k: str(v) for k, v in (request_form or {}).items() if k in ("asset_id", "channel", "other", "start")
            }
        return _slot_page(
            request, hub, who, monday, slot_id, now, error=_message(exc), status_code=_status(exc), override_asked=asked
        )
    if getattr(result, "deleted", False):
        return RedirectResponse(_calendar_url(monday, msg="deleted"), status_code=303)
    warnings = "; ".join(getattr(result, "warnings", []) or [])
    query = urlencode({"week": monday.isoformat(), "msg": "saved" + (f" ({warnings})" if warnings else "")})
    return RedirectResponse(f"/calendar/slots/{slot_id}?{query}", status_code=303)


def _local_start(hub: Hub, monday: date, slot_id: str, text: str) -> datetime:
    """A datetime-local value is wall time in the slot's own zone (what the page showed)."""
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidError(
            _("start: '{text}' is not a date and time.").format(text=text), field="start", value=text
        ) from None
    zone = ZoneInfo(service.get_plan(hub, monday).slot(slot_id).timezone)
    return naive.replace(tzinfo=zone) if naive.tzinfo is None else naive


@router.post("/calendar/slots/{slot_id}/edit", response_class=HTMLResponse, response_model=None)
def slot_edit(
    request: Request,
    hub: HubDep,
    who: Writer,
    now: Now,
    slot_id: str,
    csrf_token: Annotated[str, Form()] = "",
    week: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
    start: Annotated[str, Form(max_length=40)] = "",
    asset_id: Annotated[str, Form(max_length=64)] = "",
    locked: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    channel: Annotated[str, Form(max_length=40)] = "",
    override_channel: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form(max_length=500)] = "",
) -> Any:
    check_csrf(request, csrf_token)
    monday = _week(hub, week, now)

    def apply() -> Any:
        fields: dict[str, Any] = {"version": version}
        if start:
            fields["start"] = _local_start(hub, monday, slot_id, start)
        if asset_id.strip():
            fields["asset_id"] = asset_id.strip()
        if locked in ("0", "1"):
            fields["locked"] = locked == "1"
        if status:
            fields["status"] = status
        if channel:
            fields["channel"] = channel
        if override_channel == "1":
            fields.update(override_channel=True, override_reason=override_reason)
        return editing.edit_slot(
            hub, monday, slot_id, SlotPatch.model_validate(fields), who.name, now, lang_of(request)
        )

    return _after_edit(
        request,
        hub,
        who,
        monday,
        slot_id,
        now,
        apply,
        {"asset_id": asset_id.strip(), "channel": channel, "start": start},
    )


@router.post("/calendar/slots/{slot_id}/delete", response_class=HTMLResponse, response_model=None)
def slot_delete(
    request: Request,
    hub: HubDep,
    who: Writer,
    now: Now,
    slot_id: str,
    csrf_token: Annotated[str, Form()] = "",
    week: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
) -> Any:
    check_csrf(request, csrf_token)
    monday = _week(hub, week, now)
    return _after_edit(
        request,
        hub,
        who,
        monday,
        slot_id,
        now,
        lambda: editing.delete_slot(hub, monday, slot_id, who.name, version, now),
    )


@router.post("/calendar/slots/{slot_id}/publish", response_class=HTMLResponse, response_model=None)
def slot_publish(
    request: Request,
    hub: HubDep,
    who: Publisher,
    now: Now,
    slot_id: str,
    csrf_token: Annotated[str, Form()] = "",
    week: Annotated[str, Form()] = "",
) -> Any:
    check_csrf(request, csrf_token)
    monday = _week(hub, week, now)
    return _after_edit(
        request, hub, who, monday, slot_id, now, lambda: editing.publish_slot(hub, monday, slot_id, who.name, now)
    )


@router.post("/calendar/slots/{slot_id}/swap", response_class=HTMLResponse, response_model=None)
def slot_swap(
    request: Request,
    hub: HubDep,
    who: Writer,
    now: Now,
    slot_id: str,
    csrf_token: Annotated[str, Form()] = "",
    week: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
    other: Annotated[str, Form(max_length=64)] = "",
    override_channel: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form(max_length=500)] = "",
) -> Any:
    """Trade places with another slot (drag a slot onto another one, or pick it up with the keyboard)."""
    check_csrf(request, csrf_token)
    monday = _week(hub, week, now)

    def apply() -> Any:
        body = SwapIn.model_validate(
            {
                "version": version,
                "other": other,
                "override_channel": override_channel == "1",
                "override_reason": override_reason or None,
            }
        )
        editing.swap_slots(hub, monday, slot_id, body, who.name, now, lang_of(request))
        return None

    return _after_edit(request, hub, who, monday, slot_id, now, apply, {"other": other})


@router.post("/calendar/approve", response_class=HTMLResponse, response_model=None)
def approve_form(
    request: Request,
    hub: HubDep,
    who: Writer,
    now: Now,
    csrf_token: Annotated[str, Form()] = "",
    week: Annotated[str, Form()] = "",
    channel: Annotated[str, Form(max_length=40)] = "",
    version: Annotated[int | None, Form()] = None,
) -> RedirectResponse:
    """Approve every draft slot still ahead, for the week or one channel (a button per row and one per week)."""
    check_csrf(request, csrf_token)
    monday = _week(hub, week, now)
    try:
        body = ApproveAllIn.model_validate({"version": version, "channel": channel or None})
        change = editing.approve_all(hub, monday, body, who.name, now)
        note = f"{_('Plan version')} {change.plan_version} · {'; '.join(change.warnings)}"
    except (ProblemError, ValidationError) as exc:
        note = "! " + _message(exc)
    return RedirectResponse(_calendar_url(monday, msg=note), status_code=303)


@router.get("/calendar/month", response_class=HTMLResponse)
def month_page(request: Request, hub: HubDep, who: Reader, now: Now, month: str = "") -> HTMLResponse:
    """A month at a glance: holidays and marketing dates, and per day the planned slots by channel."""
    lang = lang_of(request)
    today = now.astimezone(ZoneInfo(hub.settings.timezone)).date()
    error = None
    try:
        first = date.fromisoformat(month + "-01") if month else today.replace(day=1)
        if not date(2, 1, 1) <= first <= date(9998, 12, 1):  # a month view needs its neighbours
            raise ValueError(month)
    except ValueError:
        first, error = (
            today.replace(day=1),
            f"month: '{month}' is not a month between 0002-01 and 9998-12; use YYYY-MM.",
        )
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    weeks = []
    monday = week_start_of(first)
    while monday <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    marks: dict[date, list[Any]] = defaultdict(list)
    for mark in service.holidays_between(hub, weeks[0], weeks[-1] + timedelta(days=6)):
        marks[mark.date].append(mark)
    per_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    planned: set[date] = set()
    for week in weeks:
        plan = service.find_plan(hub, week)
        if plan is None:
            continue
        planned.add(week)
        for slot in plan.active():
            per_day[slot.start.date()][slot.channel] += 1
    prev_month = (first - timedelta(days=1)).replace(day=1)
    return render(
        request,
        "publish/month.html",
        first=first,
        last=last,
        weeks=weeks,
        marks=marks,
        per_day=per_day,
        planned=planned,
        today=today,
        weekdays=WEEKDAYS[lang],
        names=_names(hub, lang),
        error=error,
        prev_url=f"/calendar/month?month={prev_month:%Y-%m}",
        next_url=f"/calendar/month?month={last + timedelta(days=1):%Y-%m}",
        timedelta=timedelta,
    )
