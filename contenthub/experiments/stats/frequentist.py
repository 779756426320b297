"""Frequentist tests on sufficient statistics: p-values and confidence intervals.

Three ways to compare a treatment with control, all on the difference of two independent
estimates ``d = θ_t − θ_c`` with ``SE² = Var(θ_t) + Var(θ_c)``:

* :func:`welch_t_test` -- means, unequal variances, Student t with Welch–Satterthwaite df.
* :func:`ratio_test` -- ratio metrics Σy/Σx, delta-method variances, normal reference.
* :func:`sequential_test` -- either kind, with an always-valid confidence sequence so the
  analyst may look at the results every day and stop whenever, at the stated error rate.

Relative differences ``r = θ_t/θ_c − 1``: the point estimate and its delta-method standard
error (:func:`relative_difference`, GrowthBook's ``frequentist_variance(relative=True)``) are
reported, but the *interval* is Fieller's (:func:`fieller_relative_interval`): the set of ratios
the same test (same critical value, same SE) does not reject. Why not the delta-method interval:
it is a different test, and at small samples or large lifts it disagrees with the absolute one
(p = 0.037 on the difference while the delta-method interval ran from −16% to +159%), so a page
would show a significant result on a bar crossing zero. Fieller's interval contains 0 exactly
when the absolute test is not significant, at any sample size, and it is never below −100% for
metrics that cannot go negative. For large samples both intervals coincide (the parity test
measures how closely). When the control estimate itself is not clear of zero at that critical
value the Fieller set is unbounded; the relative interval is then ``None`` and reports fall back
to the absolute difference.

Plus two multiple-comparison corrections for reports with many metrics or variants:
:func:`holm` (family-wise error) and :func:`benjamini_hochberg` (false discovery rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from contenthub.experiments.stats.sufficient import (
    CupedStats,
    MeanStats,
    RatioStats,
    Suff,
)

DEFAULT_SEQUENTIAL_TUNING = 5000.0
"""Total sample size at which the confidence sequence is tightest (GrowthBook's default)."""


@dataclass(frozen=True, slots=True)
class FrequentistResult:
    """Treatment minus control. ``rel_diff`` is ``None`` when the control estimate is 0;
    ``rel_ci`` (Fieller, see the module docstring) is also ``None`` when it would be unbounded."""

    abs_diff: float
    abs_ci: tuple[float, float]
    rel_diff: float | None
    rel_ci: tuple[float, float] | None
    p_value: float
    std_error: float
    df: float
    """Degrees of freedom of the reference t distribution; ``inf`` means normal."""
    sequential: bool
    critical_value: float = math.nan
    """The multiplier of SE that the interval and the test share (t, z or the sequential boundary)."""
    rel_std_error: float | None = None
    """Delta-method SE of the relative difference (what GrowthBook's relative mode uses)."""


def _checked_estimate(stats: Suff, role: str) -> tuple[float, float, int]:
    """(estimate, variance of the estimate, n) with errors a person can act on."""
    if stats.n == 0:
        raise ValueError(f"{role}: no units yet (nobody has been exposed to it), so there is nothing to compare")
    if stats.n < 2:
        raise ValueError(f"{role}: has n={stats.n} units; at least 2 are needed to estimate a variance")
    if isinstance(stats, RatioStats) and stats.denominator_sum == 0:
        raise ValueError(
            f"{role}: the ratio's denominator sums to 0 (e.g. no deliveries yet), so the ratio is undefined"
        )
    estimate, variance = stats.estimate, stats.estimate_variance
    if not (math.isfinite(estimate) and math.isfinite(variance)):
        raise ValueError(f"{role}: estimate {estimate} or its variance {variance} is not finite")
    return estimate, variance, stats.n


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")


def welch_df(var_control: float, n_control: int, var_treatment: float, n_treatment: int) -> float:
    """Welch–Satterthwaite degrees of freedom, from the variances of the two *means*
    (``a = s_c²/n_c``, ``b = s_t²/n_t``):

        df = (a + b)² / ( a²/(n_c − 1) + b²/(n_t − 1) )

    ``inf`` when both variances are 0 (nothing to estimate; the normal limit).
    """
    denominator = var_control**2 / (n_control - 1) + var_treatment**2 / (n_treatment - 1)
    if denominator == 0.0:
        return math.inf
    return (var_control + var_treatment) ** 2 / denominator


def relative_difference(
    control: float, var_control: float, treatment: float, var_treatment: float
) -> tuple[float, float] | None:
    """Relative difference and its delta-method variance, for independent estimates:

        r = θ_t / θ_c − 1
        Var(r) ≈ Var(θ_t) / θ_c² + θ_t² · Var(θ_c) / θ_c⁴

    ``None`` when θ_c = 0 (a relative change from zero is undefined).
    """
    if control == 0.0:
        return None
    rel = treatment / control - 1.0
    var_rel = var_treatment / control**2 + treatment**2 * var_control / control**4
    return rel, var_rel


def fieller_relative_interval(
    control: float,
    var_control: float,
    treatment: float,
    var_treatment: float,
    crit: float,
    nonnegative: bool = True,
) -> tuple[float, float] | None:
    """Fieller's interval for r = θ_t/θ_c − 1: every ratio ρ = 1 + r that the test of
    ``θ_t − ρ θ_c = 0`` with the same critical value does not reject:

        (θ̂_t − ρ θ̂_c)² ≤ k² (Var θ̂_t + ρ² Var θ̂_c)
        ⇔ a ρ² − 2 θ̂_t θ̂_c ρ + (θ̂_t² − k² Var θ̂_t) ≤ 0,   a = θ̂_c² − k² Var θ̂_c
        ρ = ( θ̂_t θ̂_c ± k √(Var θ̂_c θ̂_t² + Var θ̂_t a) ) / a          (a > 0)

    ρ = 1 lies inside exactly when |θ̂_t − θ̂_c| ≤ k·SE, i.e. when the absolute test at critical
    value k is not significant, so the interval and the conclusion never disagree. ``None`` when
    a ≤ 0 (control not clear of 0: the set is unbounded). ``nonnegative`` metrics (rates, counts)
    cannot fall by more than 100%, so the lower end is floored at −100%.
    """
    if control == 0.0:
        return None
    a = control**2 - crit**2 * var_control
    if a <= 0.0:
        return None
    root = crit * math.sqrt(max(var_control * treatment**2 + var_treatment * a, 0.0))
    low, high = (treatment * control - root) / a - 1.0, (treatment * control + root) / a - 1.0
    if nonnegative:
        low = max(low, -1.0)
    return low, high


def _degenerate_p(diff: float) -> float:
    """Zero standard error: no noise, so the observed difference is either exactly 0 or certain."""
    return 1.0 if diff == 0.0 else 0.0


def _result(
    control: float,
    var_control: float,
    treatment: float,
    var_treatment: float,
    crit: float,
    p_value: float,
    df: float,
    sequential: bool,
    nonnegative: bool,
) -> FrequentistResult:
    """Assemble the absolute interval and Fieller's relative interval from one critical value."""
    diff = treatment - control
    se = math.sqrt(var_control + var_treatment)
    rel = relative_difference(control, var_control, treatment, var_treatment)
    return FrequentistResult(
        abs_diff=diff,
        abs_ci=(diff - crit * se, diff + crit * se),
        rel_diff=rel[0] if rel else None,
        rel_ci=fieller_relative_interval(control, var_control, treatment, var_treatment, crit, nonnegative),
        p_value=p_value,
        std_error=se,
        df=df,
        sequential=sequential,
        critical_value=crit,
        rel_std_error=math.sqrt(rel[1]) if rel else None,
    )


def difference_test(
    control: float,
    var_control: float,
    treatment: float,
    var_treatment: float,
    alpha: float = 0.05,
    df: float = math.inf,
    nonnegative: bool = True,
) -> FrequentistResult:
    """Fixed-horizon two-sided test of ``θ_t − θ_c = 0`` for two independent estimates:

        d = θ_t − θ_c,  SE = √(Var(θ_t) + Var(θ_c)),  T = d / SE
        p = 2 · P(t_df > |T|),   CI = d ± t_{df, 1−α/2} · SE

    The relative interval is Fieller's at the same critical value (module docstring).
    """
    _check_alpha(alpha)
    diff = treatment - control
    se = math.sqrt(var_control + var_treatment)
    crit = float(sps.t.ppf(1 - alpha / 2, df)) if math.isfinite(df) else float(sps.norm.ppf(1 - alpha / 2))
    if se == 0.0:
        p_value = _degenerate_p(diff)
    else:
        tail = sps.t.sf(abs(diff) / se, df) if math.isfinite(df) else sps.norm.sf(abs(diff) / se)
        p_value = float(min(1.0, 2 * tail))
    return _result(control, var_control, treatment, var_treatment, crit, p_value, df, False, nonnegative)


def welch_t_test(
    control: MeanStats | CupedStats, treatment: MeanStats | CupedStats, alpha: float = 0.05, nonnegative: bool = True
) -> FrequentistResult:
    """Welch's unequal-variance t-test on means; equals ``scipy.stats.ttest_ind(equal_var=False)``.

        T = (ȳ_t − ȳ_c) / √(s_t²/n_t + s_c²/n_c), df by :func:`welch_df`.

    Valid for any per-unit metric with enough units (CLT), including 0/1 conversions, and for
    CUPED-adjusted means (:class:`CupedStats`, whose variances are those of the adjusted metric).
    """
    mean_c, var_c, n_c = _checked_estimate(control, "control")
    mean_t, var_t, n_t = _checked_estimate(treatment, "treatment")
    return difference_test(mean_c, var_c, mean_t, var_t, alpha, welch_df(var_c, n_c, var_t, n_t), nonnegative)


def ratio_test(
    control: RatioStats, treatment: RatioStats, alpha: float = 0.05, nonnegative: bool = True
) -> FrequentistResult:
    """Difference of ratio metrics R = Σy/Σx with delta-method variances
    (:attr:`RatioStats.estimate_variance`) and a normal reference distribution:

        Z = (R_t − R_c) / √(Var(R_t) + Var(R_c))

    The normal reference (not t) because the delta method is itself a large-sample result.
    """
    r_c, var_c, _ = _checked_estimate(control, "control")
    r_t, var_t, _ = _checked_estimate(treatment, "treatment")
    return difference_test(r_c, var_c, r_t, var_t, alpha, math.inf, nonnegative)


def sequential_rho(alpha: float, tuning: float = DEFAULT_SEQUENTIAL_TUNING) -> float:
    """Mixing parameter ρ that makes the confidence sequence tightest at total sample size N*:

        ρ = √( (−2 ln α + ln(1 − 2 ln α)) / N* )

    (Waudby-Smith et al. 2023, "Time-uniform central limit theory and asymptotic confidence
    sequences", two-sided normal mixture; the same parameterisation as GrowthBook.)
    Any ρ > 0 gives valid error control; N* only moves where the sequence is narrowest.
    """
    _check_alpha(alpha)
    if tuning <= 0:
        raise ValueError(f"sequential tuning parameter must be > 0, got {tuning}")
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(1 - 2 * log_alpha)) / tuning)


def sequential_multiplier(n_total: int, alpha: float, rho: float) -> float:
    """Half-width of the asymptotic confidence sequence in units of the standard error:

        half-width = SE · √( 2 (Nρ² + 1) / (Nρ²) · ln( √(Nρ² + 1) / α ) )

    with N the total units in both arms. This is the fixed-horizon ``z`` replaced by a
    boundary that grows like √(ln N), so the interval covers the truth at *every* N
    simultaneously with probability ≥ 1 − α (Howard et al. 2021; Waudby-Smith et al. 2023).
    """
    v = n_total * rho**2
    return math.sqrt(2 * (v + 1) / v * math.log(math.sqrt(v + 1) / alpha))


def sequential_p_value(diff: float, std_error: float, n_total: int, rho: float) -> float:
    """Always-valid p-value: the inverse of the normal-mixture likelihood ratio (mixture SPRT).

        z² = (d / SE)²,  v = Nρ²
        Λ  = exp( z² v / (2 (v + 1)) ) / √(v + 1)
        p  = min(1, 1/Λ)

    ``p < α`` exactly when 0 lies outside the :func:`sequential_multiplier` interval at level
    α with the same ρ. Valid at any stopping time; a running minimum over peeks is also valid.
    """
    if std_error == 0.0:
        return _degenerate_p(diff)
    v = n_total * rho**2
    log_lambda = (diff / std_error) ** 2 * v / (2 * (v + 1)) - 0.5 * math.log(v + 1)
    return 1.0 if log_lambda <= 0 else math.exp(-log_lambda)


def sequential_test(
    control: Suff,
    treatment: Suff,
    alpha: float = 0.05,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    nonnegative: bool = True,
    interval_alpha: float | None = None,
) -> FrequentistResult:
    """Peeking-safe comparison for means or ratios: the fixed-horizon CI and p-value replaced by
    the always-valid confidence sequence (:func:`sequential_multiplier`) and p-value
    (:func:`sequential_p_value`), with ρ from :func:`sequential_rho` at this α. Fieller's relative
    interval uses the same boundary, so it too excludes 0 exactly when ``p < α``.

    ``interval_alpha`` draws the intervals at another level with the same ρ (so the p-value is
    unchanged): they then exclude 0 exactly when ``p < interval_alpha`` -- how a report makes
    intervals agree with a multiple-comparison-adjusted conclusion.

    Wider than the fixed-horizon interval -- the price of being allowed to stop any day.
    """
    if type(control) is not type(treatment):
        raise ValueError("control and treatment must be the same kind of statistics (both mean or both ratio)")
    est_c, var_c, n_c = _checked_estimate(control, "control")
    est_t, var_t, n_t = _checked_estimate(treatment, "treatment")
    rho = sequential_rho(alpha, tuning)
    n_total = n_c + n_t
    level = alpha if interval_alpha is None else interval_alpha
    _check_alpha(level)
    multiplier = sequential_multiplier(n_total, level, rho)
    se = math.sqrt(var_c + var_t)
    p_value = sequential_p_value(est_t - est_c, se, n_total, rho)
    return _result(est_c, var_c, est_t, var_t, multiplier, p_value, math.inf, True, nonnegative)


def _checked_pvalues(pvalues: Sequence[float]) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError("pvalues must be a flat list")
    if p.size and (np.isnan(p).any() or p.min() < 0 or p.max() > 1):
        raise ValueError(f"every p-value must be between 0 and 1, got {list(pvalues)}")
    return p


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate), input order kept.

    With p₍₁₎ ≤ … ≤ p₍ₘ₎ sorted ascending:
        p̃₍ᵢ₎ = min(1, max_{j ≤ i} (m − j + 1) · p₍ⱼ₎)
    Reject hypothesis i at level α iff p̃ᵢ ≤ α.
    """
    p = _checked_pvalues(pvalues)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted.tolist()


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (controls the false discovery rate), input order kept.

    With p₍₁₎ ≤ … ≤ p₍ₘ₎ sorted ascending:
        p̃₍ᵢ₎ = min(1, min_{j ≥ i} m · p₍ⱼ₎ / j)
    Rejecting every p̃ᵢ ≤ q keeps the expected share of false discoveries ≤ q
    (for independent or positively dependent tests).
    """
    p = _checked_pvalues(pvalues)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted.tolist()
