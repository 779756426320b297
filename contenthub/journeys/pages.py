"""Journey pages: the list (with default templates to install) and the editor — steps as a vertical
list with their waits, conditions and sends, each with its funnel (entered → sent → opened → clicked →
converted, exited, drop-off). Every save is a new version; users in flight keep theirs.

Forms post whole steps; the page turns them into the same ``JourneyIn`` the API takes, so a page
edit and an API edit are validated by the same code and fail with the same messages.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from contenthub.access.keys import Principal
from contenthub.access.roles import Perm, allows
from contenthub.deps import HubDep, check_csrf, require
from contenthub.error_text import field_of, pydantic_message
from contenthub.errors import ProblemError
from contenthub.i18n import N_, _, gettext
from contenthub.journeys import conditions, flow, funnel, service
from contenthub.journeys.builder import ROWS, TRIGGER_PARAM, BuilderForm, BuilderStep, field_of_problem, to_journey
from contenthub.journeys.models import EXIT, ConditionKind, Journey, JourneyIn, TriggerKind
from contenthub.journeys.templates import TEMPLATES
from contenthub.journeys.waits import describe as describe_wait
from contenthub.labels import label
from contenthub.library import taxonomy
from contenthub.limits import loads_json
from contenthub.recommend.models import EVENT_TYPES
from contenthub.web.templating import lang_of, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Perm.audience_read))]
Writer = Annotated[Principal, Depends(require(Perm.audience_write))]

WORDS: dict[str, str] = {  # the pages' wording by short key (templates call s('key')); msgids are English
    "journeys_help": N_(
        "Each user moves through the steps; each step's asset is picked for that user at send time, and channel caps always apply."
    ),
    "templates": N_("Default templates"),
    "install": N_("Install as draft"),
    "installed": N_("installed"),
    "name": N_("Name"),
    "trigger": N_("Entry trigger"),
    "steps": N_("Steps"),
    "active_users": N_("In flight"),
    "entered": N_("Entered"),
    "updated": N_("Updated"),
    "version": N_("Version"),
    "new_journey": N_("New journey (JSON)"),
    "create": N_("Create"),
    "none": N_("No journeys yet."),
    "in_flight_note": N_("Saving creates a new version; users already in the journey finish the version they entered."),
    "activate": N_("Activate"),
    "pause": N_("Pause"),
    "archive": N_("Archive"),
    "draft": N_("Draft"),
    "settings": N_("Journey settings"),
    "exit": N_("Exit when"),
    "reentry": N_("Re-entry"),
    "once": N_("Once ever"),
    "every": N_("Every N days"),
    "days": N_("days"),
    "hours": N_("hours"),
    "minutes": N_("minutes"),
    "wait": N_("Wait"),
    "weekday": N_("Until next weekday"),
    "window": N_("Send window"),
    "condition": N_("Condition (send only if)"),
    "negate": N_("Not"),
    "send": N_("Send"),
    "no_send": N_("No send (wait / branch only)"),
    "any": N_("(recommender picks)"),
    "fixed_asset": N_("Fixed asset id (optional)"),
    "expires": N_("Expires (hours)"),
    "branches": N_("Branches (JSON)"),
    "save_step": N_("Save step"),
    "up": N_("Up"),
    "down": N_("Down"),
    "delete": N_("Delete"),
    "add_step": N_("Add step"),
    "step_id": N_("Step id"),
    "advanced": N_("Advanced: full JSON"),
    "save": N_("Save"),
    "funnel": N_("Funnel"),
    "sent": N_("Sent"),
    "opened": N_("Opened"),
    "clicked": N_("Clicked"),
    "converted": N_("Converted"),
    "exited": N_("Exited"),
    "skipped": N_("Skipped"),
    "expired": N_("Not delivered"),
    "no_asset": N_("No asset"),
    "drop_off": N_("Drop-off"),
    "versions": N_("Versions"),
    "saved": N_("Saved as a new version."),
    "completed": N_("Completed"),
    "branch_note": N_(
        "Branches are checked first when the step comes due: the first that holds jumps (goto a step id, or exit)."
    ),
    "status": N_("Status"),
    "waiting": N_("Waiting"),
    "description": N_("Description"),
}
WEEKDAYS = (("一", "Mon"), ("二", "Tue"), ("三", "Wed"), ("四", "Thu"), ("五", "Fri"), ("六", "Sat"), ("日", "Sun"))
CONDITION_KINDS: tuple[str, ...] = get_args(ConditionKind)  # the builder offers exactly what the model accepts
TRIGGER_KINDS: tuple[str, ...] = get_args(TriggerKind)


def _s(lang: str) -> Any:
    """The pages' wording by key, in the request's language (``lang`` kept for the templates' other uses)."""
    return lambda key: gettext(WORDS[key]) if key in WORDS else key


def _vocab(hub: Any, lang: str) -> dict[str, list[tuple[str, str]]]:
    out = {}
    for facet in ("channels", "scenes", "content_types", "stages"):
        out[facet] = [(e.id, taxonomy.label(e, lang)) for e in taxonomy.entries(hub.store, facet)]
    return out


TRIGGER_FIELDS = {
    "source_channel": N_("Source channel"),
    "qr_code": N_("QR code"),
    "identity_type": N_("Identity type"),
    "stage": N_("Lifecycle stage"),
    "event_type": N_("Event"),
    "channel": N_("Channel"),
    "group_id": N_("Group"),
    "group_purpose": N_("Group purpose"),
    "tag": N_("Tag"),
    "segment": N_("Segment"),
}
_TRIGGER_VALUE_LABELS = {"identity_type": "identity", "event_type": "event", "group_purpose": "group_purpose"}


def _trigger_value(field: str, value: Any) -> str:
    """'Identity type: WeCom customer ID' for a trigger's setting (codes named, ids kept)."""
    group = _TRIGGER_VALUE_LABELS.get(field)
    shown = label(group, value) if group else str(value)
    return _("{field}: {value}").format(field=gettext(TRIGGER_FIELDS.get(field, field)), value=shown)


def _errors(exc: Exception) -> str:
    if isinstance(exc, ProblemError):
        return exc.message
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            loc = field_of(err)
            parts.append(f"{loc}: {pydantic_message(err)}" if loc else pydantic_message(err))
        return "; ".join(parts)
    if isinstance(exc, json.JSONDecodeError):
        return _("JSON: {problem} (line {line}, column {column})").format(
            problem=exc.msg, line=exc.lineno, column=exc.colno
        )
    return str(exc)


@router.get("/journeys", response_class=HTMLResponse)
def journeys_list(request: Request, hub: HubDep, who: Reader) -> HTMLResponse:
    return _render_list(request, hub, who)


def _render_list(
    request: Request,
    hub: Any,
    who: Principal,
    error: str | None = None,
    draft: str = "",
    status_code: int = 200,
    bform: BuilderForm | None = None,
    berrors: dict[str, str] | None = None,
) -> HTMLResponse:
    lang = lang_of(request)
    installed = set(service.heads(hub))
    bform = bform or BuilderForm(steps=[BuilderStep(channel="wecom_1v1", scene="onboarding")])
    return render(
        request,
        "journeys/list.html",
        status_code=status_code,
        s=_s(lang),
        bform=bform,
        brows=(bform.steps + [BuilderStep()] * ROWS)[:ROWS],
        berrors=berrors or {},
        vocab=_vocab(hub, lang),
        trigger_kinds=TRIGGER_KINDS,
        condition_kinds=CONDITION_KINDS,
        event_types=EVENT_TYPES,
        trigger_param=TRIGGER_PARAM,
        journeys=service.list_journeys(hub),
        templates=TEMPLATES,
        installed=installed,
        error=error,
        draft=draft or json.dumps(TEMPLATES["first-order"], ensure_ascii=False, indent=2),
        can_edit=allows(who.role, Perm.audience_write),
    )


@router.post("/journeys/templates/{template_id}", response_class=HTMLResponse)
async def install_template_page(request: Request, template_id: str, hub: HubDep, who: Writer) -> Any:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token", "")))
    try:
        j = service.install_template(hub, template_id, who.name)
    except ProblemError as exc:
        return _render_list(request, hub, who, error=_errors(exc), status_code=exc.status)
    return RedirectResponse(f"/journeys/{j.id}?saved=1", status_code=303)


@router.post("/journeys/new", response_class=HTMLResponse)
async def create_page(request: Request, hub: HubDep, who: Writer) -> Any:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token", "")))
    text = str(form.get("definition", ""))
    try:
        j = service.save(hub, JourneyIn.model_validate(loads_json(text)), who.name)
    except (ProblemError, ValidationError, json.JSONDecodeError) as exc:
        status = exc.status if isinstance(exc, ProblemError) else 422
        return _render_list(request, hub, who, error=_errors(exc), draft=text, status_code=status)
    return RedirectResponse(f"/journeys/{j.id}?saved=1", status_code=303)


def _render_editor(
    request: Request,
    hub: Any,
    who: Principal,
    journey: Journey,
    *,
    error: str | None = None,
    error_step: str | None = None,
    status_code: int = 200,
    json_text: str | None = None,
) -> HTMLResponse:
    lang = lang_of(request)
    f = funnel.build(hub, journey.id, None)
    by_step = {row.step: row for row in f.steps}
    definition = journey.model_dump(exclude={"version", "created_at", "updated_at", "updated_by"})
    return render(
        request,
        "journeys/editor.html",
        status_code=status_code,
        s=_s(lang),
        j=journey,
        funnel=f,
        by_step=by_step,
        vocab=_vocab(hub, lang),
        weekdays=[w[0 if lang == "zh" else 1] for w in WEEKDAYS],
        condition_kinds=CONDITION_KINDS,
        trigger_kinds=TRIGGER_KINDS,
        event_types=EVENT_TYPES,
        describe_wait=describe_wait,
        describe_condition=conditions.describe,
        versions=service.versions(hub, journey.id),
        json_text=json_text or json.dumps(definition, ensure_ascii=False, indent=2),
        error=error,
        error_step=error_step,
        saved=request.query_params.get("saved") == "1",
        can_edit=allows(who.role, Perm.audience_write),
        names={facet: dict(pairs) for facet, pairs in _vocab(hub, lang).items()},
        trigger_value=_trigger_value,
        next_statuses=service.next_statuses(journey.status),
        flow=flow.build(journey, f),
        can_funnel=allows(who.role, Perm.reports_read),
        branches_json=lambda s: json.dumps(
            [b.model_dump(exclude_defaults=True) for b in s.branches], ensure_ascii=False
        ),
        EXIT=EXIT,
    )


@router.get("/journeys/{journey_id}", response_class=HTMLResponse)
def editor(request: Request, journey_id: str, hub: HubDep, who: Reader) -> HTMLResponse:
    return _render_editor(request, hub, who, service.get(hub, journey_id))


def _opt(form: Any, name: str) -> str | None:
    value = str(form.get(name, "") or "").strip()
    return value or None


def _int(form: Any, name: str, default: int = 0) -> int | str:
    value = str(form.get(name, "") or "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        return value  # pydantic names the field and says it is not a number


def _condition(form: Any, prefix: str) -> dict[str, Any] | None:
    kind = _opt(form, f"{prefix}kind")
    if kind is None:
        return None
    c: dict[str, Any] = {"kind": kind, "negate": form.get(f"{prefix}negate") == "on"}
    if kind == "event":
        c["event_type"] = _opt(form, f"{prefix}event_type")
    elif kind == "stage":
        c["stages"] = [x.strip() for x in str(form.get(f"{prefix}stages", "")).split(",") if x.strip()]
    elif kind == "tag_weight":
        c["tag"] = _opt(form, f"{prefix}tag")
        c["threshold"] = _opt(form, f"{prefix}threshold")
    elif kind == "segment":
        c["segment"] = _opt(form, f"{prefix}segment")
    elif kind == "in_group":
        c["group_purpose"] = _opt(form, f"{prefix}group_purpose")
    return c


def _step_from_form(form: Any, step_id: str) -> dict[str, Any]:
    wait = {
        "days": _int(form, "wait_days"),
        "hours": _int(form, "wait_hours"),
        "minutes": _int(form, "wait_minutes"),
        "weekday": _int(form, "weekday", -1),
        "window_start": _opt(form, "window_start"),
        "window_end": _opt(form, "window_end"),
    }
    if wait["weekday"] == -1:
        wait["weekday"] = None
    channel = _opt(form, "channel")
    branches_text = str(form.get("branches", "") or "[]").strip() or "[]"
    return {
        "id": step_id,
        "name": str(form.get("name", "")).strip(),
        "wait": wait,
        "condition": _condition(form, "cond_"),
        "channel": channel,
        "scene": _opt(form, "scene") if channel else None,
        "content_type": _opt(form, "content_type") if channel else None,
        "asset_id": _opt(form, "asset_id") if channel else None,
        "expires_hours": _int(form, "expires_hours", 24),
        "branches": loads_json(branches_text),
    }


async def _apply(
    request: Request,
    hub: Any,
    who: Principal,
    journey_id: str,
    change: Any,
    step_id: str | None = None,
    *,
    keep_json: bool = False,
) -> Any:
    """Read the form, let ``change(definition dict, form)`` edit it, save a new version, redirect back."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token", "")))
    journey = service.get(hub, journey_id)
    data = journey.model_dump(mode="json", exclude={"version", "created_at", "updated_at", "updated_by"})
    expected = _int(form, "expected_version", journey.version)
    try:
        change(data, form)
        saved = service.save(
            hub,
            JourneyIn.model_validate(data),
            who.name,
            journey_id=journey_id,
            expected_version=expected if isinstance(expected, int) else None,
        )
    except (ProblemError, ValidationError, json.JSONDecodeError, ValueError) as exc:
        status = exc.status if isinstance(exc, ProblemError) else 422
        return _render_editor(
            request,
            hub,
            who,
            journey,
            error=_errors(exc),
            error_step=step_id,
            status_code=status,
            json_text=str(form.get("definition", "")) if keep_json else None,
        )
    return RedirectResponse(f"/journeys/{saved.id}?saved=1" + (f"#step-{step_id}" if step_id else ""), status_code=303)


def _find(data: dict[str, Any], step_id: str) -> int:
    for i, s in enumerate(data["steps"]):
        if s["id"] == step_id:
            return i
    raise ValueError(_("no step '{step_id}' in the current version (reload the page)").format(step_id=step_id))


@router.post("/journeys/{journey_id}/steps/{step_id}", response_class=HTMLResponse)
async def save_step(request: Request, journey_id: str, step_id: str, hub: HubDep, who: Writer) -> Any:
    def change(data: dict[str, Any], form: Any) -> None:
        data["steps"][_find(data, step_id)] = _step_from_form(form, step_id)

    return await _apply(request, hub, who, journey_id, change, step_id)


@router.post("/journeys/{journey_id}/steps/{step_id}/move", response_class=HTMLResponse)
async def move_step(request: Request, journey_id: str, step_id: str, hub: HubDep, who: Writer) -> Any:
    def change(data: dict[str, Any], form: Any) -> None:
        i = _find(data, step_id)
        j = i - 1 if form.get("direction") == "up" else i + 1
        if 0 <= j < len(data["steps"]):
            data["steps"][i], data["steps"][j] = data["steps"][j], data["steps"][i]

    return await _apply(request, hub, who, journey_id, change, step_id)


@router.post("/journeys/{journey_id}/steps/{step_id}/delete", response_class=HTMLResponse)
async def delete_step(request: Request, journey_id: str, step_id: str, hub: HubDep, who: Writer) -> Any:
    def change(data: dict[str, Any], form: Any) -> None:
        del data["steps"][_find(data, step_id)]

    return await _apply(request, hub, who, journey_id, change)


@router.post("/journeys/{journey_id}/steps", response_class=HTMLResponse)
async def add_step(request: Request, journey_id: str, hub: HubDep, who: Writer) -> Any:
    form = await request.form()
    step_id = str(form.get("step_id", "")).strip()

    def change(data: dict[str, Any], form: Any) -> None:
        data["steps"].append(_step_from_form(form, step_id))

    return await _apply(request, hub, who, journey_id, change, step_id or None)


@router.post("/journeys/{journey_id}/settings", response_class=HTMLResponse)
async def save_settings(request: Request, journey_id: str, hub: HubDep, who: Writer) -> Any:
    def change(data: dict[str, Any], form: Any) -> None:
        data["name"] = str(form.get("name", "")).strip()
        data["description"] = str(form.get("description", "")).strip()
        trigger = loads_json(str(form.get("trigger", "") or "{}"))
        data["trigger"] = trigger
        data["exit"] = [c for c in data["exit"] if c["kind"] not in ("converted", "muted", "stage_left")] + [
            {"kind": k} for k in ("converted", "muted", "stage_left") if form.get(f"exit_{k}") == "on"
        ]
        data["reentry"] = {"mode": form.get("reentry_mode", "once"), "days": _int(form, "reentry_days", 30)}

    return await _apply(request, hub, who, journey_id, change)


@router.post("/journeys/{journey_id}/status", response_class=HTMLResponse)
async def change_status(request: Request, journey_id: str, hub: HubDep, who: Writer) -> Any:
    def change(data: dict[str, Any], form: Any) -> None:
        data["status"] = str(form.get("status", ""))

    return await _apply(request, hub, who, journey_id, change)


@router.post("/journeys/{journey_id}/json", response_class=HTMLResponse)
async def save_json(request: Request, journey_id: str, hub: HubDep, who: Writer) -> Any:
    def change(data: dict[str, Any], form: Any) -> None:
        new = loads_json(str(form.get("definition", "")))
        if not isinstance(new, dict):
            raise ValueError(_("the definition must be a JSON object"))
        data.clear()
        data.update({k: v for k, v in new.items() if k not in ("version", "created_at", "updated_at", "updated_by")})

    return await _apply(request, hub, who, journey_id, change, keep_json=True)


@router.post("/journeys/build", response_class=HTMLResponse)
async def build_page(request: Request, hub: HubDep, who: Writer) -> Any:
    """The form-based builder: a trigger and a few steps from drop-downs; then the editor for the rest."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token", "")))
    rows = [
        BuilderStep(
            wait_days=str(form.get(f"wait_days_{i}", "")),
            wait_hours=str(form.get(f"wait_hours_{i}", "")),
            channel=str(form.get(f"channel_{i}", "")),
            scene=str(form.get(f"scene_{i}", "")),
            condition=str(form.get(f"condition_{i}", "")),
            negate=form.get(f"negate_{i}") == "on",
        )
        for i in range(ROWS)
    ]
    bform = BuilderForm(
        name=str(form.get("name", ""))[:200],
        trigger_kind=str(form.get("trigger_kind", "")),
        trigger_value=str(form.get("trigger_value", ""))[:200],
        steps=rows,
    )
    try:
        j = service.save(hub, to_journey(bform), who.name)
    except ProblemError as exc:
        where = (
            exc.field
            if exc.field and (exc.field == "name" or exc.field.startswith("step-") or exc.field == "trigger_value")
            else field_of_problem(exc, bform)
        )
        return _render_list(request, hub, who, status_code=exc.status, bform=bform, berrors={where: exc.message})
    return RedirectResponse(f"/journeys/{j.id}?saved=1", status_code=303)
