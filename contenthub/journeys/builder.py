"""The console's journey builder: a trigger and up to ``ROWS`` steps chosen from drop-downs (wait, channel,
scene, a condition), turned into the same ``JourneyIn`` the API takes, so the builder, the editor and the API
are validated by one set of rules. An error names the builder field (``trigger_value``, ``step-<n>``) so the
page shows it there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from contenthub.error_text import pydantic_message
from contenthub.errors import InvalidError, ProblemError
from contenthub.i18n import _
from contenthub.journeys.models import JourneyIn

ROWS = 4
TRIGGER_PARAM = {
    "identity_added": "identity_type",
    "stage_entered": "stage",
    "event": "event_type",
    "group_joined": "group_purpose",
    "tag_weight": "tag",
    "segment": "segment",
    "user_created": "source_channel",
}
"""The one setting each trigger kind takes in the builder (the editor's JSON takes every setting)."""


class BuilderStep(BaseModel):
    wait_days: str = ""
    wait_hours: str = ""
    channel: str = ""
    scene: str = ""
    condition: str = ""
    negate: bool = False


class BuilderForm(BaseModel):
    name: str = ""
    trigger_kind: str = "identity_added"
    trigger_value: str = ""
    steps: list[BuilderStep] = []


def _int(raw: str, field: str) -> int:
    raw = raw.strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise InvalidError(_("Enter a whole number."), field=field, value=raw) from None


def to_journey(form: BuilderForm) -> JourneyIn:
    if not form.name.strip():
        raise InvalidError(_("Give the journey a name."), field="name")
    trigger: dict[str, Any] = {"kind": form.trigger_kind}
    param = TRIGGER_PARAM.get(form.trigger_kind)
    if param and form.trigger_value.strip():
        trigger[param] = form.trigger_value.strip()
        if param == "tag":
            trigger["threshold"] = 0.3
    steps: list[dict[str, Any]] = []
    for i, row in enumerate(form.steps):
        where = f"step-{i}"
        if (
            not row.channel
            and not row.scene
            and not row.condition
            and not row.wait_days.strip()
            and not row.wait_hours.strip()
        ):
            continue
        step: dict[str, Any] = {
            "id": f"s{len(steps) + 1}",
            "name": "",
            "wait": {"days": _int(row.wait_days, where), "hours": _int(row.wait_hours, where)},
        }
        if row.channel:
            step["channel"] = row.channel
            if row.scene:
                step["scene"] = row.scene
        elif row.scene:
            raise InvalidError(_("A step with a scene sends: choose its channel."), field=where)
        if row.condition:
            step["condition"] = {"kind": row.condition, "negate": row.negate}
        steps.append(step)
    if not steps:
        raise InvalidError(_("Add at least one step."), field="step-0")
    body = {
        "name": form.name.strip(),
        "status": "draft",
        "trigger": trigger,
        "steps": steps,
        "exit": [{"kind": "converted"}, {"kind": "muted"}],
    }
    try:
        return JourneyIn.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(x) for x in err.get("loc", ())]
        raise InvalidError(pydantic_message(err), field=_field_of(loc, form)) from None


def _field_of(loc: list[str], form: BuilderForm) -> str:
    if not loc:
        return "name"
    if loc[0] == "trigger":
        return "trigger_value"
    if loc[0] == "steps" and len(loc) > 1 and loc[1].isdigit():
        return f"step-{_row_of(int(loc[1]), form)}"
    return loc[0] if loc[0] == "name" else "name"


def _row_of(step_index: int, form: BuilderForm) -> int:
    """The builder row of the n-th non-empty step."""
    seen = -1
    for i, row in enumerate(form.steps):
        if row.channel or row.scene or row.condition or row.wait_days.strip() or row.wait_hours.strip():
            seen += 1
            if seen == step_index:
                return i
    return 0


def field_of_problem(exc: ProblemError, form: BuilderForm) -> str:
    """The builder field of an error the journey service raised (``steps.2.channel`` → the row of step 2)."""
    parts = (exc.field or "").split(".")
    return _field_of(parts, form)
