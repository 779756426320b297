"""The console's 'new experiment' form: a control and one treatment, what the treatment changes picked from
drop-downs (a ranking strategy, a channel's weekly cadence, or a journey run instead of another), and the
analysis method fixed at creation. It becomes an ordinary ``ExperimentCreate``, so every rule of the API
applies unchanged."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from contenthub.error_text import pydantic_message
from contenthub.errors import InvalidError
from contenthub.experiments.models import METRIC_IDS, ExperimentCreate
from contenthub.i18n import _
from contenthub.publish.rules import default_rules

CONSOLE_CHANGES = ("strategy", "cadence", "journey")
METHODS = ("fixed_horizon", "sequential")
FIELDS = (
    "key",
    "name",
    "hypothesis",
    "change",
    "unit",
    "treatment_weight",
    "control_strategy",
    "treatment_strategy",
    "cadence_channel",
    "cadence_max_per_week",
    "journey_from",
    "journey_to",
    "primary_metric",
    "method",
    "correction",
    "alpha",
    "baseline",
    "mde",
    "units_per_day",
)
RESERVED_KEYS = frozenset({"new"})
"""``/experiments/new`` is the form itself."""


class ExperimentForm(BaseModel):
    """The form as typed: every value a string, kept as entered when the page is shown again."""

    key: str = ""
    name: str = ""
    hypothesis: str = ""
    change: str = "strategy"
    unit: str = "user"
    treatment_weight: str = "50"
    control_strategy: str = ""
    treatment_strategy: str = ""
    cadence_channel: str = "wecom_group"
    cadence_max_per_week: str = ""
    journey_from: str = ""
    journey_to: str = ""
    primary_metric: str = "ctr"
    method: str = "fixed_horizon"
    correction: str = "none"
    alpha: str = "0.05"
    baseline: str = ""
    mde: str = "0.1"
    units_per_day: str = ""


def _number(form: ExperimentForm, name: str, *, kind: type = float, required: bool = False) -> Any:
    raw = getattr(form, name).strip()
    if not raw:
        if required:
            raise InvalidError(_("This field is required."), field=name)
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InvalidError(
            _("Enter a whole number.") if kind is int else _("Enter a number."), field=name, value=raw
        ) from None


def _choice(form: ExperimentForm, name: str, allowed: tuple[str, ...]) -> str:
    value = getattr(form, name)
    if value not in allowed:
        raise InvalidError(_("Choose one of the offered values."), field=name, value=value, allowed=list(allowed))
    return value


def to_create(form: ExperimentForm) -> ExperimentCreate:
    """The API's create body, or an InvalidError naming the form field to show it beside."""
    if form.key.strip() in RESERVED_KEYS:
        raise InvalidError(_("'{key}' is reserved; pick another key.").format(key=form.key), field="key")
    change = _choice(form, "change", CONSOLE_CHANGES)
    method = _choice(form, "method", METHODS)
    _choice(form, "primary_metric", METRIC_IDS)
    _choice(form, "correction", ("none", "holm", "bh"))
    share = _number(form, "treatment_weight", required=True)
    if not 1 <= share <= 99:
        raise InvalidError(_("The treatment's share is a percentage between 1 and 99."), field="treatment_weight")
    control: dict[str, Any] = {"name": "control", "weight": round(1 - share / 100, 6)}
    treatment: dict[str, Any] = {"name": "B", "weight": round(share / 100, 6)}
    unit = form.unit if change == "strategy" else "group" if change == "cadence" else "user"
    if change == "strategy":
        _choice(form, "unit", ("user", "group"))
        if not form.treatment_strategy:
            raise InvalidError(_("Choose the strategy the treatment ranks with."), field="treatment_strategy")
        if form.treatment_strategy == form.control_strategy:
            raise InvalidError(_("The treatment must rank differently from the control."), field="treatment_strategy")
        treatment["strategy"] = form.treatment_strategy
        if form.control_strategy:
            control["strategy"] = form.control_strategy
    elif change == "cadence":
        per_week = _number(form, "cadence_max_per_week", kind=int, required=True)
        if not 0 <= per_week <= 50:
            raise InvalidError(_("Between 0 and 50 sends a week."), field="cadence_max_per_week")
        base = next((r for r in default_rules() if r.channel == form.cadence_channel), None)
        if base is None:
            raise InvalidError(_("Choose one of the offered values."), field="cadence_channel")
        rule = base.model_dump(mode="json")
        rule["max_per_week"] = per_week
        if rule.get("target_per_week") is not None:
            rule["target_per_week"] = min(rule["target_per_week"], per_week)
        if sum(low for low, _high in rule.get("mix", {}).values()) > per_week:
            # fewer sends than the mix's minima: the mix stays the channel's menu, without weekly minima
            rule["mix"] = {kind: [0, high] for kind, (_low, high) in rule["mix"].items()}
        rule["min_per_week"] = min(rule.get("min_per_week") or 0, per_week)
        treatment["rules"] = [rule]  # the channel's default rule with the tested weekly cap
    else:
        if not form.journey_from:
            raise InvalidError(_("Choose the journey users enter."), field="journey_from")
        if not form.journey_to or form.journey_to == form.journey_from:
            raise InvalidError(_("Choose a different journey for the treatment to run instead."), field="journey_to")
        treatment["journeys"] = {form.journey_from: form.journey_to}
    body = {
        "key": form.key.strip(),
        "name": form.name.strip(),
        "hypothesis": form.hypothesis.strip(),
        "unit": unit,
        "change": change,
        "variants": [control, treatment],
        "primary_metric": form.primary_metric,
        "sequential": method == "sequential",
        "correction": form.correction,
        "alpha": _number(form, "alpha", required=True),
        "baseline": _number(form, "baseline"),
        "mde": _number(form, "mde", required=True),
        "units_per_day": _number(form, "units_per_day"),
    }
    try:
        return ExperimentCreate.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(x) for x in err.get("loc", ())]
        where = (
            loc[0]
            if loc and loc[0] in FIELDS
            else {"strategy": "treatment_strategy", "cadence": "cadence_max_per_week"}.get(change, "journey_to")
        )
        raise InvalidError(pydantic_message(err), field=where) from None
