"""Where an experiment stands against the plan fixed at its creation: units so far against the
planned sample, the pace of traffic, the days left at that pace ("at today's traffic, 12 more
days") and the smallest effect the data can detect today -- in English and Chinese.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from contenthub.experiments.metrics import METRICS
from contenthub.experiments.models import Experiment
from contenthub.experiments.stats import formatting as fmt
from contenthub.experiments.stats.planning import Method, detectable_effect, plan_sample
from contenthub.experiments.stats.sufficient import MeanStats, Suff
from contenthub.labels import label_in
from contenthub.timeutil import from_iso

MIN_PACE_DAYS = 1.0
"""Traffic of less than a day is extrapolated as if it were a day's: hours are not a pace."""


class PlanStatus(BaseModel):
    method: Method
    alpha: float
    correction: str
    power: float
    mde: float = Field(description="Planned minimum detectable effect, relative.")
    planned_units: int | None = Field(description="Total units the plan needs; null when none was fixed.")
    planned_from: str = Field(description="'given', 'baseline' (computed at creation) or 'none'.")
    units_so_far: int
    progress: float | None = Field(description="units_so_far / planned_units.")
    reached: bool
    units_per_day: float | None = Field(description="Observed pace: analysed units per day since the first exposure.")
    days_left: float | None
    detectable_effect_now: float | None = Field(
        description="Smallest relative effect the current sample detects with the planned power (control as baseline)."
    )
    message: str
    message_zh: str


def _pace(units: int, window_start: str | None, window_end: str | None) -> float | None:
    if not units or not window_start or not window_end:
        return None
    days = (from_iso(window_end) - from_iso(window_start)).total_seconds() / 86400
    return units / max(days, MIN_PACE_DAYS)


def _detectable_now(exp: Experiment, control: Suff | None, units: int) -> float | None:
    """The MDE at today's sample, with the observed control value as baseline (and its sd for means)."""
    if control is None or not isinstance(control, MeanStats) or control.n < 2:
        return None
    base = control.mean
    kind = METRICS[exp.primary_metric].kind
    weights = [v.weight for v in exp.variants if v.weight > 0]
    if len(weights) < 2:
        return None
    try:
        if kind == "binomial":
            if not 0 < base < 1:
                return None
            return detectable_effect(
                base, units, alpha=exp.alpha, power=exp.power, weights=weights, sequential=exp.sequential
            )
        sd = math.sqrt(control.variance)
        if base == 0 or not sd > 0:
            return None
        return detectable_effect(
            abs(base), units, alpha=exp.alpha, power=exp.power, weights=weights, sd=sd, sequential=exp.sequential
        )
    except ValueError:
        return None


def _planned(exp: Experiment) -> tuple[int | None, str]:
    if exp.planned_units is None:
        return None, "none"
    if exp.baseline is not None:
        metric = METRICS[exp.primary_metric]
        try:
            plan = plan_sample(
                exp.baseline,
                exp.mde,
                alpha=exp.alpha,
                power=exp.power,
                weights=[v.weight for v in exp.variants if v.weight > 0],
                sd=None if metric.kind == "binomial" else exp.baseline_sd,
                sequential=exp.sequential,
            )
        except ValueError:
            return exp.planned_units, "given"
        return exp.planned_units, "baseline" if plan.total_units == exp.planned_units else "given"
    return exp.planned_units, "given"


def _days(x: float) -> str:
    return f"{math.ceil(x):,}"


def plan_status(
    exp: Experiment, units: int, control: Suff | None, window_start: str | None, window_end: str | None
) -> PlanStatus:
    """The plan, the progress against it and the sentence that says it. The pace is measured over
    the report's window (first exposure to now, or to the stop)."""
    planned, source = _planned(exp)
    pace = _pace(units, window_start, window_end)
    reached = planned is not None and units >= planned
    days_left = None
    if planned is not None and not reached and (pace or exp.units_per_day):
        days_left = max(planned - units, 0) / (pace or exp.units_per_day or 1.0)
    mde_now = _detectable_now(exp, control, units)
    method_en = "Sequential (always-valid, safe to read any day)" if exp.sequential else "Fixed horizon"
    method_zh = "序贯检验（始终有效，可随时查看）" if exp.sequential else "固定样本检验"
    en = [f"{method_en}, α = {exp.alpha:g}, correction {exp.correction}, fixed at creation."]
    zh = [
        f"{method_zh}，α = {exp.alpha:g}，多重比较校正：{label_in('zh', 'correction', exp.correction)}，创建时已固定。"
    ]
    if planned is None:
        en.append(f"No planned sample size was fixed ({units:,} units so far).")
        zh.append(f"创建时未设定计划样本量（目前 {units:,} 个单位）。")
        if not exp.sequential:
            en.append("A fixed-horizon test is only valid at a sample decided in advance: read with care.")
            zh.append("固定样本检验只在事先确定的样本量下有效，请谨慎解读。")
    else:
        share = units / planned
        en.append(
            f"Planned {planned:,} units (to detect {fmt.pct(exp.mde, signed=False)} with "
            f"{fmt.pct(exp.power, signed=False)} power); {units:,} so far ({fmt.pct(share, signed=False)})."
        )
        zh.append(
            f"计划 {planned:,} 个单位（以 {fmt.pct(exp.power, signed=False)} 的功效检出 "
            f"{fmt.pct(exp.mde, signed=False)} 的变化）；目前 {units:,} 个（{fmt.pct(share, signed=False)}）。"
        )
        if reached:
            en.append("The planned sample is reached.")
            zh.append("已达到计划样本量。")
        elif days_left is not None:
            per_day = pace or exp.units_per_day or 0.0
            en.append(f"At today's traffic ({fmt.sig(per_day, 3)} units/day), {_days(days_left)} more days.")
            zh.append(f"按目前的流量（每天 {fmt.sig(per_day, 3)} 个单位），还需 {_days(days_left)} 天。")
    if mde_now is not None:
        en.append(f"Today the data can detect a change of {fmt.pct(mde_now, signed=False)} or more.")
        zh.append(f"以目前的数据量，可检出 {fmt.pct(mde_now, signed=False)} 及以上的变化。")
    return PlanStatus(
        method=exp.method,
        alpha=exp.alpha,
        correction=exp.correction,
        power=exp.power,
        mde=exp.mde,
        planned_units=planned,
        planned_from=source,
        units_so_far=units,
        progress=units / planned if planned else None,
        reached=reached,
        units_per_day=pace,
        days_left=days_left,
        detectable_effect_now=mde_now,
        message=" ".join(en),
        message_zh="".join(zh),
    )
