"""Planning: how many units an experiment needs, how long that takes, and what it can detect.

The same test the report will run decides the plan, so a plan made here is met by the report:

* fixed horizon -- two-sided test at α' (α split over the treatment-vs-control comparisons by
  Bonferroni when there are several, which is conservative for Holm and BH alike), power 1 − β:

      N = (z_{1−α'/2} + z_{1−β})² · (σ_c²/w_c + σ_t²/w_t) / δ²

  units in total, where w are the variants' traffic shares and δ = baseline · MDE is the
  absolute effect to detect. A variant then needs N·w units. For a 0/1 metric σ² = p(1 − p) at
  the control rate p and at the treated rate p(1 + MDE); for a mean metric the analyst gives σ.
* sequential (always-valid) -- the z above is replaced by the confidence-sequence boundary
  (:func:`~contenthub.experiments.stats.frequentist.sequential_multiplier`), which itself
  grows with N, so N is found by bisection: the smallest N with δ/SE(N) ≥ boundary(N) + z_{1−β}.
  A sequential test may stop earlier when the effect is larger; N is the most it needs.

Power is the probability of a significant result when the true effect is exactly the MDE (the
normal approximation, which is how GrowthBook's and most calculators state it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

from contenthub.experiments.stats.frequentist import (
    DEFAULT_SEQUENTIAL_TUNING,
    sequential_multiplier,
    sequential_rho,
)
from contenthub.i18n import _

Method = Literal["fixed_horizon", "sequential"]
MAX_UNITS = 10**12
"""Beyond this the plan is reported as infeasible rather than searched for."""


@dataclass(frozen=True, slots=True)
class SamplePlan:
    method: Method
    baseline: float
    mde: float
    """Relative minimum detectable effect (0.1 = a 10% change of the baseline)."""
    alpha: float
    alpha_per_comparison: float
    power: float
    total_units: int
    units_per_variant: tuple[int, ...]
    days: float | None
    """Days to reach ``total_units`` at ``units_per_day``; ``None`` without a traffic figure."""


def _check(baseline: float, mde: float, alpha: float, power: float, weights: Sequence[float], sd: float | None) -> None:
    if not math.isfinite(baseline):
        raise ValueError(_("baseline must be a finite number, got {baseline}").format(baseline=baseline))
    if not 0 < alpha < 0.5:
        raise ValueError(_("alpha must be between 0 and 0.5, got {alpha}").format(alpha=alpha))
    if not 0.5 <= power < 1:
        raise ValueError(_("power must be at least 0.5 and below 1, got {power}").format(power=power))
    if not mde > 0 or not math.isfinite(mde):
        raise ValueError(_("mde (relative minimum detectable effect) must be > 0, got {mde}").format(mde=mde))
    if len(weights) < 2 or any(not w > 0 for w in weights) or abs(sum(weights) - 1) > 1e-6:
        raise ValueError(
            _("weights must be 2 or more positive shares summing to 1, got {weights}").format(weights=list(weights))
        )
    if sd is None:
        if not 0 < baseline < 1:
            raise ValueError(
                _("baseline must be a rate between 0 and 1 for a 0/1 metric, got {baseline}").format(baseline=baseline)
            )
        if baseline * (1 + mde) >= 1:
            raise ValueError(
                _("baseline × (1 + mde) = {value:g} is not a rate below 1; pick a smaller mde").format(
                    value=baseline * (1 + mde)
                )
            )
    else:
        if not sd > 0 or not math.isfinite(sd):
            raise ValueError(_("sd (per-unit standard deviation of the metric) must be > 0, got {sd}").format(sd=sd))
        if baseline == 0 or not math.isfinite(baseline):
            raise ValueError(_("baseline must be a non-zero mean: the mde is relative to it"))


def _variances(baseline: float, mde: float, sd: float | None) -> tuple[float, float]:
    if sd is None:
        treated = baseline * (1 + mde)
        return baseline * (1 - baseline), treated * (1 - treated)
    return sd**2, sd**2


def _unit_variance(var_c: float, var_t: float, w_c: float, w_t: float) -> float:
    """N · SE² of the difference when N units split by the weights: σ_c²/w_c + σ_t²/w_t."""
    return var_c / w_c + var_t / w_t


def _needed_total(delta: float, unit_var: float, alpha: float, power: float, sequential: bool, tuning: float) -> int:
    z_power = float(sps.norm.ppf(power))
    if not sequential:
        z = float(sps.norm.ppf(1 - alpha / 2))
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            needed = float(np.float64((z + z_power) ** 2) * np.float64(unit_var) / np.float64(delta) ** 2)
        if not math.isfinite(needed) or needed > MAX_UNITS:
            raise ValueError(
                _(
                    "mde: detecting {delta:g} against a per-unit variance of {unit_var:g} needs more than {MAX_UNITS:.0e} units; plan a larger mde"
                ).format(delta=delta, unit_var=unit_var, MAX_UNITS=MAX_UNITS)
            )
        return max(4, math.ceil(needed))
    rho = sequential_rho(alpha, tuning)

    def enough(n: int) -> bool:
        se = math.sqrt(unit_var / n)
        return se == 0 or abs(delta) / se >= sequential_multiplier(n, alpha, rho) + z_power

    low, high = 4, 8
    while not enough(high):
        low, high = high, high * 2
        if high > MAX_UNITS:
            raise ValueError(
                _(
                    "mde: a sequential test needs more than {MAX_UNITS:.0e} units to detect {delta:g}; plan a larger mde"
                ).format(MAX_UNITS=MAX_UNITS, delta=delta)
            )
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def plan_sample(
    baseline: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    weights: Sequence[float] = (0.5, 0.5),
    sd: float | None = None,
    sequential: bool = False,
    units_per_day: float | None = None,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> SamplePlan:
    """Units needed to detect a relative change ``mde`` of ``baseline`` (module docstring).

    ``sd=None`` means a 0/1 metric with rate ``baseline``; otherwise a per-unit mean with standard
    deviation ``sd``. ``weights`` are the variants' shares, control first; every treatment is
    planned against control and the plan is the largest. ``units_per_day`` (units entering the
    experiment per day, all variants together) gives the duration.
    """
    _check(baseline, mde, alpha, power, weights, sd)
    if units_per_day is not None and not (units_per_day > 0 and math.isfinite(units_per_day)):
        raise ValueError(
            _("units_per_day must be a positive number, got {units_per_day}").format(units_per_day=units_per_day)
        )
    comparisons = len(weights) - 1
    alpha_each = alpha / comparisons
    try:
        var_c, var_t = _variances(baseline, mde, sd)
        delta = baseline * mde
        total = max(
            _needed_total(delta, _unit_variance(var_c, var_t, weights[0], w), alpha_each, power, sequential, tuning)
            for w in weights[1:]
        )
    except (OverflowError, ZeroDivisionError):
        raise ValueError(
            _(
                "baseline, mde and sd ({baseline:g}, {mde:g}, {sd}) are too extreme to plan with; give them in everyday units"
            ).format(baseline=baseline, mde=mde, sd=sd)
        ) from None
    per_variant = tuple(math.ceil(total * w) for w in weights)
    days = total / units_per_day if units_per_day else None
    if days is not None and not math.isfinite(days):
        raise ValueError(
            _("units_per_day: {units_per_day:g} units a day would take forever to reach {total:,} units").format(
                units_per_day=units_per_day, total=total
            )
        )
    return SamplePlan(
        method="sequential" if sequential else "fixed_horizon",
        baseline=baseline,
        mde=mde,
        alpha=alpha,
        alpha_per_comparison=alpha_each,
        power=power,
        total_units=total,
        units_per_variant=per_variant,
        days=days,
    )


def days_left(needed_total: int, units_so_far: int, units_per_day: float) -> float:
    """Days until ``needed_total`` units at the current pace (0 when already there)."""
    if not units_per_day > 0:
        raise ValueError(_("units_per_day must be > 0, got {units_per_day}").format(units_per_day=units_per_day))
    return max(needed_total - units_so_far, 0) / units_per_day


def detectable_effect(
    baseline: float,
    total_units: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    weights: Sequence[float] = (0.5, 0.5),
    sd: float | None = None,
    sequential: bool = False,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> float | None:
    """The smallest relative effect detectable with ``power`` at ``total_units`` (the inverse of
    :func:`plan_sample`, by bisection on the MDE). ``None`` when even doubling a rate is out of reach
    (0/1 metrics) or nothing below a 100× change is (means)."""
    if total_units < 4:
        return None
    ceiling = (1 / baseline - 1) * 0.999 if sd is None else 100.0
    ceiling = min(ceiling, 100.0)

    def needs(mde: float) -> int:
        try:
            return plan_sample(
                baseline, mde, alpha=alpha, power=power, weights=weights, sd=sd, sequential=sequential, tuning=tuning
            ).total_units
        except ValueError:  # beyond any feasible sample
            return MAX_UNITS + 1

    if ceiling <= 0 or needs(ceiling) > total_units:
        return None
    low, high = 0.0, ceiling
    for _ignored in range(60):
        mid = (low + high) / 2
        if mid <= 0:
            break
        low, high = (low, mid) if needs(mid) <= total_units else (mid, high)
    return high
