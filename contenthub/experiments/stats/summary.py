"""One metric, one treatment vs control: every number a report shows, plus a sentence for people.

:func:`compare` runs the frequentist test (fixed-horizon or sequential) and the Bayesian
read-out on the same sufficient statistics and folds them into one :class:`Comparison`.
:func:`plain_language` turns that into "B raised click-through by 12% (95% CI 4%–20%)" in
English or Chinese, so an operator does not have to read a p-value to act.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contenthub.experiments.stats import formatting as fmt
from contenthub.experiments.stats.bayesian import (
    DEFAULT_PRIOR,
    NormalPrior,
    bayesian_test,
)
from contenthub.experiments.stats.frequentist import (
    DEFAULT_SEQUENTIAL_TUNING,
    FrequentistResult,
    ratio_test,
    sequential_test,
    welch_t_test,
)
from contenthub.experiments.stats.sufficient import (
    CupedStats,
    MeanStats,
    RatioStats,
    Suff,
)

MetricKind = Literal["mean", "binomial", "ratio"]
Direction = Literal["good", "bad", "neutral"]
Lang = Literal["en", "zh"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Treatment vs control on one metric. "mean" is the per-unit mean, or Σy/Σx for ratio metrics.

    ``rel_*`` is ``None`` when the control mean is 0. ``chance_to_beat_control`` and
    ``expected_loss`` already account for ``higher_is_better``; ``expected_loss`` (of shipping
    the treatment) is E[max(0, θ_c − θ_t)] as a fraction of the observed control mean, or
    absolute when the control mean is 0.
    ``direction`` is "neutral" unless the difference is significant.
    """

    metric_kind: MetricKind
    higher_is_better: bool
    alpha: float
    sequential: bool
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    abs_diff: float
    abs_ci: tuple[float, float]
    rel_diff: float | None
    rel_ci: tuple[float, float] | None
    p_value: float
    chance_to_beat_control: float
    expected_loss: float
    significant: bool
    direction: Direction
    rel_std_error: float | None = None
    """Delta-method SE of the relative difference (GrowthBook's relative variance), for reference."""
    critical_value: float = 0.0
    """The multiplier of the SE shared by the test and both intervals."""


def _check_kind(control: Suff, treatment: Suff, metric_kind: MetricKind) -> None:
    if metric_kind == "ratio":
        if not (isinstance(control, RatioStats) and isinstance(treatment, RatioStats)):
            raise ValueError("metric_kind 'ratio' needs RatioStats for both control and treatment")
        return
    if metric_kind not in ("mean", "binomial"):
        raise ValueError(f"metric_kind must be one of 'mean', 'binomial', 'ratio'; got {metric_kind!r}")
    if not (isinstance(control, (MeanStats, CupedStats)) and type(control) is type(treatment)):
        raise ValueError(f"metric_kind {metric_kind!r} needs MeanStats (or CupedStats) for both control and treatment")
    if metric_kind == "binomial":
        for role, stats in (("control", control), ("treatment", treatment)):
            raw = stats.post if isinstance(stats, CupedStats) else stats
            assert isinstance(raw, MeanStats)
            if not raw.is_binary:
                raise ValueError(
                    f"{role}: binomial metrics need 0/1 values (sum == sum_squares <= n), got "
                    f"n={raw.n}, sum={raw.sum}, sum_squares={raw.sum_squares}"
                )


def _frequentist(
    control: Suff,
    treatment: Suff,
    alpha: float,
    sequential: bool,
    tuning: float,
    nonnegative: bool,
    interval_alpha: float | None,
) -> FrequentistResult:
    if sequential:
        return sequential_test(control, treatment, alpha, tuning, nonnegative, interval_alpha)
    # A fixed-horizon p-value does not depend on α: the test at the interval's level gives the same p.
    level = alpha if interval_alpha is None else interval_alpha
    if isinstance(control, RatioStats) and isinstance(treatment, RatioStats):
        return ratio_test(control, treatment, level, nonnegative)
    assert isinstance(control, (MeanStats, CupedStats)) and isinstance(treatment, (MeanStats, CupedStats))
    return welch_t_test(control, treatment, level, nonnegative)


def compare(
    control: Suff,
    treatment: Suff,
    metric_kind: MetricKind,
    higher_is_better: bool,
    alpha: float = 0.05,
    sequential: bool = False,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    prior: NormalPrior | None = DEFAULT_PRIOR,
    nonnegative: bool = True,
    interval_alpha: float | None = None,
) -> Comparison:
    """Compare ``treatment`` with ``control`` on one metric.

    Frequentist: Welch t-test for means and 0/1 metrics, delta-method z-test for ratios, or
    the always-valid sequential test when ``sequential`` (use it whenever the report is read
    before the planned end date). Bayesian: normal posterior of the relative lift with
    ``prior`` (see :mod:`contenthub.experiments.stats.bayesian`).
    ``significant`` is ``p_value < alpha``; ``direction`` is "good" or "bad" by
    ``higher_is_better`` when significant, else "neutral". The relative interval is Fieller's at
    the test's own critical value, so it excludes 0 exactly when ``significant``; ``nonnegative``
    floors it at −100% (rates and counts cannot fall further). ``interval_alpha`` draws both
    intervals at another level (``alpha`` in the result is then that level), for reports whose
    conclusion follows a multiple-comparison-adjusted p-value.
    """
    _check_kind(control, treatment, metric_kind)
    if control.n >= 2 and treatment.n >= 2 and control.estimate_variance == 0 and treatment.estimate_variance == 0:
        raise ValueError(
            "zero variance in both arms: every unit has the same value (for a 0/1 metric: all or none of them did it), "
            "so there is no noise to test a difference against; wait for more varied data"
        )
    freq = _frequentist(control, treatment, alpha, sequential, sequential_tuning, nonnegative, interval_alpha)
    bayes = bayesian_test(control, treatment, higher_is_better, prior)
    significant = freq.p_value < alpha
    direction: Direction = "neutral"
    if significant and freq.abs_diff != 0:
        direction = "good" if (freq.abs_diff > 0) == higher_is_better else "bad"
    return Comparison(
        metric_kind=metric_kind,
        higher_is_better=higher_is_better,
        alpha=alpha if interval_alpha is None else interval_alpha,
        sequential=sequential,
        n_control=control.n,
        n_treatment=treatment.n,
        mean_control=control.estimate,
        mean_treatment=treatment.estimate,
        abs_diff=freq.abs_diff,
        abs_ci=freq.abs_ci,
        rel_diff=freq.rel_diff,
        rel_ci=freq.rel_ci,
        p_value=freq.p_value,
        chance_to_beat_control=bayes.chance_to_beat_control,
        expected_loss=bayes.expected_loss,
        significant=significant,
        direction=direction,
        rel_std_error=freq.rel_std_error,
        critical_value=freq.critical_value,
    )


_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "up": "{variant} raised {metric} by {size} ({level} CI {ci}){extra}",
        "down": "{variant} lowered {metric} by {size} ({level} CI {ci}){extra}",
        "none": "{variant}: no detectable change in {metric} ({level} CI {ci}){extra}",
        "extra": ", {abs} in absolute terms",
    },
    "zh": {
        "up": "{variant} 使{metric}提升了 {size}（{level} 置信区间 {ci}）{extra}",
        "down": "{variant} 使{metric}下降了 {size}（{level} 置信区间 {ci}）{extra}",
        "none": "{variant} 对{metric}无显著影响（{level} 置信区间 {ci}）{extra}",
        "extra": "，绝对值 {abs}",
    },
}


def plain_language(metric_name: str, variant_name: str, comparison: Comparison, lang: Lang = "en") -> str:
    """One sentence for operators, e.g. "B raised click-through by 12% (95% CI [+4.0%, +20%]), +0.60 pp
    in absolute terms"; "B: no detectable change in click-through (95% CI [-3.0%, +5.0%])"; Chinese
    with ``lang="zh"`` ("B 使点击率提升了 12%（95% 置信区间 [+4.0%, +20%]），绝对值 +0.60 个百分点").

    Relative numbers (Fieller's interval, the one the conclusion uses) when the control mean is
    positive and the interval is bounded, otherwise the absolute difference -- in percentage
    points for shares. For a significant change the size is a magnitude ("lowered by 8%"); the
    interval is always signed, so it reads the same in the table and on the chart.
    """
    if lang not in _TEMPLATES:
        raise ValueError(f"lang must be one of {sorted(_TEMPLATES)}, got {lang!r}")
    templates = _TEMPLATES[lang]
    kind = comparison.metric_kind
    # A relative change of a negative baseline reads backwards, so only positive baselines get one.
    relative = comparison.rel_diff is not None and comparison.rel_ci is not None and comparison.mean_control > 0
    if relative:
        assert comparison.rel_diff is not None and comparison.rel_ci is not None
        est, (low, high) = comparison.rel_diff, comparison.rel_ci
        size = fmt.pct(abs(est), signed=False)
        ci = fmt.interval(fmt.pct(low), fmt.pct(high))
        extra = templates["extra"].format(abs=fmt.diff(kind, comparison.abs_diff, lang))
    else:
        est, (low, high) = comparison.abs_diff, comparison.abs_ci
        size = fmt.diff(kind, abs(est), lang, signed=False)
        ci = fmt.interval(fmt.diff(kind, low, lang), fmt.diff(kind, high, lang))
        extra = ""
    level = f"{(1 - comparison.alpha) * 100:g}%"
    fields = {"variant": variant_name, "metric": metric_name, "level": level, "ci": ci, "extra": extra, "size": size}
    if not comparison.significant or est == 0:
        return templates["none"].format(**fields)
    return templates["up" if est > 0 else "down"].format(**fields)
