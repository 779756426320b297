"""The planning calculator at the edge: validated inputs in, a plan with its sentence out.

Used by ``POST /v1/experiments/plan`` and the report page; the arithmetic is
:mod:`contenthub.experiments.stats.planning`.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field, model_validator

from contenthub.errors import InvalidError
from contenthub.experiments.stats import formatting as fmt
from contenthub.experiments.stats.planning import Method, plan_sample
from contenthub.i18n import _


class PlanIn(BaseModel):
    baseline: float = Field(description="Control value: a rate in (0, 1) for a 0/1 metric, else a mean (give sd).")
    mde: float = Field(default=0.1, gt=0, le=10, description="Relative minimum detectable effect (0.1 = 10%).")
    power: float = Field(default=0.8, ge=0.5, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    arms: int = Field(default=2, ge=2, le=10, description="Variants including control, equal traffic.")
    weights: list[float] | None = Field(
        default=None, min_length=2, max_length=10, description="Traffic shares (control first) instead of equal arms."
    )
    sd: float | None = Field(default=None, gt=0, description="Per-unit standard deviation of a mean metric.")
    sequential: bool = False
    units_per_day: float | None = Field(default=None, gt=0, description="Units entering the experiment per day.")

    @model_validator(mode="after")
    def _weights(self) -> PlanIn:
        if self.weights is not None and len(self.weights) != self.arms and "arms" in self.model_fields_set:
            raise ValueError(
                _("weights: {n_weights} shares given for arms={arms}").format(
                    n_weights=len(self.weights), arms=self.arms
                )
            )
        return self


class PlanOut(BaseModel):
    method: Method
    baseline: float
    mde: float
    power: float
    alpha: float
    alpha_per_comparison: float = Field(description="α split over the comparisons with control (Bonferroni).")
    total_units: int
    units_per_variant: list[int]
    days: float | None
    message: str
    message_zh: str


def plan(body: PlanIn) -> PlanOut:
    weights = body.weights or [1 / body.arms] * body.arms
    try:
        p = plan_sample(
            body.baseline,
            body.mde,
            alpha=body.alpha,
            power=body.power,
            weights=weights,
            sd=body.sd,
            sequential=body.sequential,
            units_per_day=body.units_per_day,
        )
    except ValueError as err:
        field = str(err).split(" ", 1)[0].rstrip(":")
        known = field in PlanIn.model_fields
        raise InvalidError(
            str(err), field=field if known else None, value=getattr(body, field) if known else None
        ) from None
    each = " / ".join(f"{n:,}" for n in p.units_per_variant)
    en = (
        f"{p.total_units:,} units in total ({each} per variant) detect a {fmt.pct(p.mde, signed=False)} change "
        f"with {fmt.pct(p.power, signed=False)} power at α = {p.alpha:g}"
    )
    zh = (
        f"共需 {p.total_units:,} 个单位（各版本 {each}），才能以 {fmt.pct(p.power, signed=False)} 的功效在 "
        f"α = {p.alpha:g} 下检出 {fmt.pct(p.mde, signed=False)} 的变化"
    )
    if p.days is not None:
        en += f"; at {fmt.sig(body.units_per_day or 0, 3)} units/day that is {math.ceil(p.days):,} days"
        zh += f"；按每天 {fmt.sig(body.units_per_day or 0, 3)} 个单位，需要 {math.ceil(p.days):,} 天"
    return PlanOut(
        method=p.method,
        baseline=p.baseline,
        mde=p.mde,
        power=p.power,
        alpha=p.alpha,
        alpha_per_comparison=p.alpha_per_comparison,
        total_units=p.total_units,
        units_per_variant=list(p.units_per_variant),
        days=p.days,
        message=en + ".",
        message_zh=zh + "。",
    )
