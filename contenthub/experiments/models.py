"""Pydantic models at the experiments' edges: what an analyst sends to create or edit an experiment,
and what the API returns.

An experiment changes exactly one thing (``change``) and each variant carries the payload for it:

* ``strategy`` — ``variants[].strategy``: the ranking strategy to use (omit on control: as requested);
* ``cadence``  — ``variants[].rules``: a cadence rule set for the planner (omit on control: own rules);
  only groups are planned per audience, so the unit must be ``group``;
* ``asset``    — ``variants[].substitutions``: ``{asset id picked: asset id served instead}``;
* ``journey``  — ``variants[].journeys``: ``{journey id entered: journey id run instead}``; unit ``user``.

The first variant is the control every other variant is compared with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contenthub.i18n import _
from contenthub.publish.rules import CadenceRule

UnitKind = Literal["user", "group"]
ChangeKind = Literal["strategy", "cadence", "asset", "journey"]
Status = Literal["draft", "running", "stopped"]
Correction = Literal["none", "holm", "bh"]
MetricId = Literal[
    "open_rate",
    "ctr",
    "conversion_rate",
    "revenue_per_unit",
    "unsubscribe_rate",
    "clicks_per_delivery",
    "sends_per_unit",
    "mute_rate",
    "mutes_per_delivery",
    "journey_completion",
    "retention_d7",
    "retention_d30",
]
METRIC_IDS: tuple[str, ...] = get_args(MetricId)
CHANGE_KINDS: tuple[str, ...] = get_args(ChangeKind)

KEY_RE = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
VARIANT_RE = r"^[\w\-. ]{1,40}$"  # \w admits Chinese names; ':' and '|' are separators in labels and keys
WEIGHT_TOLERANCE = 1e-6
PAYLOAD_FIELDS: dict[str, str] = {
    "strategy": "strategy",
    "cadence": "rules",
    "asset": "substitutions",
    "journey": "journeys",
}


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=VARIANT_RE, description="Short name shown in reports, e.g. 'control', 'B'.")
    weight: float = Field(ge=0, le=1, description="Share of units; the weights of all variants sum to 1.")
    description: str = Field(default="", max_length=500)
    strategy: str | None = Field(default=None, max_length=40, description="change=strategy: ranking strategy id.")
    rules: list[CadenceRule] | None = Field(default=None, max_length=50, description="change=cadence: rule set.")
    substitutions: dict[str, str] = Field(
        default_factory=dict, max_length=200, description="change=asset: {picked asset id: served asset id}."
    )
    journeys: dict[str, str] = Field(
        default_factory=dict, max_length=50, description="change=journey: {entered journey id: journey id run instead}."
    )

    def payload_set(self) -> set[str]:
        """Which change payloads this variant carries."""
        present = {
            "strategy": self.strategy is not None,
            "rules": self.rules is not None,
            "substitutions": bool(self.substitutions),
            "journeys": bool(self.journeys),
        }
        return {k for k, v in present.items() if v}


def _check_variants(variants: list[Variant]) -> None:
    names = [v.name for v in variants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(_("variants: names must be unique, repeated: {dupes}").format(dupes=", ".join(dupes)))
    total = math.fsum(v.weight for v in variants)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        shown = " + ".join(f"{v.weight:g}" for v in variants)
        raise ValueError(_("variants: weights must sum to 1, got {shown} = {total:g}").format(shown=shown, total=total))


def _check_payloads(change: str, unit: str, variants: list[Variant]) -> None:
    wanted = PAYLOAD_FIELDS[change]
    for i, v in enumerate(variants):
        stray = v.payload_set() - {wanted}
        if stray:
            raise ValueError(
                _(
                    "variants[{i}].{value}: not used when change is '{change}' (a '{change}' experiment sets variants[].{wanted})"
                ).format(i=i, value=sorted(stray)[0], change=change, wanted=wanted)
            )
    if not any(wanted in v.payload_set() for v in variants):
        raise ValueError(
            _("variants: a '{change}' experiment needs variants[].{wanted} on at least one variant").format(
                change=change, wanted=wanted
            )
        )
    if change == "cadence" and unit != "group":
        raise ValueError(
            _("unit: cadence experiments randomise groups (the planner plans per group); use unit 'group'")
        )
    if change == "journey" and unit != "user":
        raise ValueError(_("unit: journey experiments randomise users; use unit 'user'"))


def _check_metrics(primary: str, secondary: Sequence[str], guardrails: Sequence[str]) -> None:
    every = [primary, *secondary, *guardrails]
    dupes = sorted({m for m in every if every.count(m) > 1})
    if dupes:
        raise ValueError(
            _("metrics: each metric may appear once across primary, secondary and guardrail; repeated: {dupes}").format(
                dupes=", ".join(dupes)
            )
        )


def _check_layer(layer: str | None, start: float, end: float) -> None:
    if not 0.0 <= start < end <= 1.0:
        raise ValueError(
            _("layer_start/layer_end: need 0 <= start < end <= 1, got [{start:g}, {end:g})").format(
                start=start, end=end
            )
        )
    if layer is None and (start, end) != (0.0, 1.0):
        raise ValueError(_("layer: a layer range needs a layer name"))


_DEFAULT_GUARDRAILS: list[MetricId] = ["unsubscribe_rate"]


class ExperimentBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    hypothesis: str = Field(default="", max_length=2000)
    primary_metric: MetricId = "ctr"
    secondary_metrics: list[MetricId] = Field(default_factory=list, max_length=10)
    guardrail_metrics: list[MetricId] = Field(default_factory=lambda: _DEFAULT_GUARDRAILS.copy(), max_length=10)
    coverage: float = Field(default=1.0, gt=0, le=1, description="Share of eligible units in the experiment.")
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    sequential: bool = Field(
        default=False,
        description="Always-valid intervals: safe to read every day. "
        "Off: a fixed-horizon test, read once the planned sample is reached.",
    )
    correction: Correction = Field(default="none", description="Across metrics: Holm (FWER) or BH (FDR).")
    planned_units: int | None = Field(
        default=None,
        ge=4,
        le=10**10,
        description=(
            "Units (all variants) at which a fixed-horizon experiment is read, or the most a sequential one needs. "
            "Default: computed from baseline, mde, power and alpha when a baseline is given."
        ),
    )
    baseline: float | None = Field(
        default=None,
        description=(
            "Expected control value of the primary metric (a rate between 0 and 1 for 0/1 metrics), for planning."
        ),
    )
    baseline_sd: float | None = Field(
        default=None,
        gt=0,
        description=("Per-unit standard deviation of a mean primary metric (revenue per unit), for planning."),
    )
    mde: float = Field(default=0.1, gt=0, le=10, description="Minimum detectable effect, relative (0.1 = 10%).")
    power: float = Field(default=0.8, ge=0.5, lt=1, description="Chance to detect an effect of size mde.")
    units_per_day: float | None = Field(
        default=None, gt=0, description="Expected units entering per day, for the duration."
    )
    cuped: bool = Field(
        default=True,
        description=(
            "Adjust 0/1 and mean metrics by the same metric in the pre-period (CUPED) when units have pre-period data."
        ),
    )
    pre_period_days: int = Field(
        default=14, ge=1, le=90, description="Length of the CUPED pre-period before first exposure."
    )


class ExperimentCreate(ExperimentBase):
    key: str = Field(pattern=KEY_RE, description="Stable id: lowercase letters, digits, '_' and '-'.")
    unit: UnitKind = "user"
    change: ChangeKind = "strategy"
    variants: list[Variant] = Field(min_length=2, max_length=10)
    seed: str | None = Field(default=None, max_length=100, description="Assignment seed; default: the key.")
    layer: str | None = Field(
        default=None,
        pattern=r"^[\w\-]{1,64}$",
        description="Mutually exclusive namespace shared with other experiments.",
    )
    layer_start: float = Field(default=0.0, ge=0, le=1)
    layer_end: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentCreate:
        _check_variants(self.variants)
        _check_payloads(self.change, self.unit, self.variants)
        _check_metrics(self.primary_metric, self.secondary_metrics, self.guardrail_metrics)
        _check_layer(self.layer, self.layer_start, self.layer_end)
        return self


class ExperimentUpdate(BaseModel):
    """A partial edit. Once started, only the name, the hypothesis and a larger coverage may change
    (raising coverage only adds units): what decides a unit's variant would move units between arms,
    and the analysis plan (metrics, α, sequential or fixed horizon, correction, planned sample,
    CUPED) chosen after seeing data would let the data choose its own test."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    hypothesis: str | None = Field(default=None, max_length=2000)
    primary_metric: MetricId | None = None
    secondary_metrics: list[MetricId] | None = Field(default=None, max_length=10)
    guardrail_metrics: list[MetricId] | None = Field(default=None, max_length=10)
    coverage: float | None = Field(default=None, gt=0, le=1)
    alpha: float | None = Field(default=None, gt=0, lt=0.5)
    sequential: bool | None = None
    correction: Correction | None = None
    planned_units: int | None = Field(default=None, ge=4, le=10**10)
    baseline: float | None = None
    baseline_sd: float | None = Field(default=None, gt=0)
    mde: float | None = Field(default=None, gt=0, le=10)
    power: float | None = Field(default=None, ge=0.5, lt=1)
    units_per_day: float | None = Field(default=None, gt=0)
    cuped: bool | None = None
    pre_period_days: int | None = Field(default=None, ge=1, le=90)
    unit: UnitKind | None = None
    change: ChangeKind | None = None
    variants: list[Variant] | None = Field(default=None, min_length=2, max_length=10)
    seed: str | None = Field(default=None, max_length=100)
    layer: str | None = Field(default=None, pattern=r"^[\w\-]{1,64}$")
    layer_start: float | None = Field(default=None, ge=0, le=1)
    layer_end: float | None = Field(default=None, ge=0, le=1)

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: list[Variant] | None) -> list[Variant] | None:
        if value is not None:
            _check_variants(value)
        return value


LIVE_EDITABLE = frozenset({"name", "hypothesis", "coverage", "units_per_day"})
ANALYSIS_PLAN = frozenset(
    {
        "primary_metric",
        "secondary_metrics",
        "guardrail_metrics",
        "alpha",
        "sequential",
        "correction",
        "planned_units",
        "baseline",
        "baseline_sd",
        "mde",
        "power",
        "cuped",
        "pre_period_days",
    }
)
"""Fixed at start: changing any of these after data arrives would choose the analysis by its result."""
PLAN_INPUTS = frozenset(
    {"baseline", "baseline_sd", "mde", "power", "alpha", "sequential", "variants", "primary_metric"}
)
"""Edits to these (in a draft) recompute a planned sample that was not given explicitly."""


class Experiment(ExperimentCreate):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Experiments stored before CUPED existed keep the analysis they were created with."""
        if isinstance(data, dict) and "cuped" not in data and "created_at" in data:
            return {**data, "cuped": False}
        return data

    seed: str
    status: Status = "draft"
    created_at: str
    updated_at: str
    created_by: str = ""
    started_at: str | None = None
    stopped_at: str | None = None

    @property
    def control(self) -> Variant:
        return self.variants[0]

    @property
    def method(self) -> Literal["fixed_horizon", "sequential"]:
        return "sequential" if self.sequential else "fixed_horizon"

    @property
    def metrics(self) -> list[tuple[str, str]]:
        """(metric id, role) in report order: primary, secondary, guardrail."""
        ordered: list[tuple[str, str]] = [(self.primary_metric, "primary")]
        return (
            ordered
            + [(m, "secondary") for m in self.secondary_metrics]
            + [(m, "guardrail") for m in self.guardrail_metrics]
        )

    def store_doc(self) -> dict[str, Any]:
        """The stored form, which :mod:`contenthub.variants.runtime` reads on the hot path."""
        return self.model_dump(mode="json")


class Exposure(BaseModel):
    experiment: str
    unit_id: str
    unit: UnitKind
    variant: str
    variant_index: int
    first_exposed_at: str
    variants: list[str] | None = None
