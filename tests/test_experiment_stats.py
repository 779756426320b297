"""Experiment statistics: worked examples, A/A calibration, power, SRM, plain-language read-outs.

Every simulation uses a seeded numpy Generator, so results are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from contenthub.experiments.stats import (
    MeanStats,
    RatioStats,
    bayesian_test,
    benjamini_hochberg,
    chance_to_beat_control,
    compare,
    expected_loss,
    holm,
    plain_language,
    ratio_test,
    sequential_test,
    srm_check,
    welch_t_test,
)
from contenthub.experiments.stats.bayesian import NormalPrior, normal_posterior
from contenthub.experiments.stats.frequentist import (
    relative_difference,
    sequential_multiplier,
    sequential_p_value,
    sequential_rho,
)

# ---------------------------------------------------------------- sufficient statistics


def test_sufficient_statistics_match_numpy() -> None:
    y = np.array([0.0, 2.0, 3.5, 1.0, 7.25])
    stats = MeanStats.from_values(y)
    assert stats.n == 5
    assert stats.mean == pytest.approx(y.mean())
    assert stats.variance == pytest.approx(y.var(ddof=1))
    assert MeanStats.binomial(40, 10).variance == pytest.approx(np.var([1] * 10 + [0] * 30, ddof=1))


def test_inconsistent_sums_are_rejected() -> None:
    with pytest.raises(ValueError, match="swapped"):
        MeanStats(n=10, sum=50.0, sum_squares=5.0)  # (Σy)² > n Σy²
    with pytest.raises(ValueError):
        MeanStats.binomial(10, 11)


# ---------------------------------------------------------------- Welch t-test


def test_welch_matches_scipy_on_raw_arrays() -> None:
    rng = np.random.default_rng(11)
    a = rng.normal(10.0, 2.0, size=37)
    b = rng.normal(11.0, 5.0, size=52)
    ours = welch_t_test(MeanStats.from_values(a), MeanStats.from_values(b))
    ref = sps.ttest_ind(b, a, equal_var=False)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.df == pytest.approx(ref.df, rel=1e-9)
    assert ours.abs_ci == pytest.approx(tuple(ref.confidence_interval(0.95)), rel=1e-9)
    assert ours.abs_diff == pytest.approx(b.mean() - a.mean())


def test_welch_worked_example_by_hand() -> None:
    # Control 1000 users, 50 clicks; treatment 1000 users, 70 clicks.
    control, treatment = MeanStats.binomial(1000, 50), MeanStats.binomial(1000, 70)
    var_c = 0.05 * 0.95 * 1000 / 999 / 1000  # s²/n with s² = n p(1-p)/(n-1)
    var_t = 0.07 * 0.93 * 1000 / 999 / 1000
    se = math.sqrt(var_c + var_t)
    df = (var_c + var_t) ** 2 / (var_c**2 / 999 + var_t**2 / 999)
    result = welch_t_test(control, treatment)
    assert result.std_error == pytest.approx(se)
    assert result.p_value == pytest.approx(2 * sps.t.sf(0.02 / se, df))
    assert result.rel_diff == pytest.approx(0.4)


def test_relative_ci_uses_delta_method_variance() -> None:
    rel, var = relative_difference(control=2.0, var_control=0.01, treatment=2.5, var_treatment=0.04)
    assert rel == pytest.approx(0.25)
    assert var == pytest.approx(0.04 / 4 + 6.25 * 0.01 / 16)


def test_zero_variance_and_tiny_samples() -> None:
    nothing = welch_t_test(MeanStats.binomial(100, 0), MeanStats.binomial(100, 0))
    assert nothing.p_value == 1.0 and nothing.rel_diff is None
    with pytest.raises(ValueError, match="at least 2"):
        welch_t_test(MeanStats.binomial(1, 1), MeanStats.binomial(100, 5))


# ---------------------------------------------------------------- delta method (ratio metrics)


def _clicks_per_delivery(rng: np.random.Generator, n: int, ctr: float) -> tuple[np.ndarray, np.ndarray]:
    """Users with 1+ deliveries and user-level click propensity (so deliveries are correlated)."""
    deliveries = rng.poisson(3.0, n) + 1
    propensity = rng.beta(2.0, 2.0 * (1 - ctr) / ctr, n)
    clicks = rng.binomial(deliveries, propensity)
    return clicks.astype(float), deliveries.astype(float)


def test_delta_method_reduces_to_mean_variance_for_unit_denominators() -> None:
    y = np.random.default_rng(3).exponential(2.0, 500)
    ratio = RatioStats.from_values(y, np.ones_like(y))
    mean = MeanStats.from_values(y)
    assert ratio.ratio == pytest.approx(mean.mean)
    assert ratio.estimate_variance == pytest.approx(mean.estimate_variance)


def test_delta_method_matches_bootstrap() -> None:
    rng = np.random.default_rng(7)
    y_c, x_c = _clicks_per_delivery(rng, 2000, 0.05)
    y_t, x_t = _clicks_per_delivery(rng, 2000, 0.06)
    control, treatment = RatioStats.from_values(y_c, x_c), RatioStats.from_values(y_t, x_t)
    boot = rng.integers(0, 2000, size=(2000, 2000))
    r_c = y_c[boot].sum(1) / x_c[boot].sum(1)
    r_t = y_t[boot].sum(1) / x_t[boot].sum(1)
    assert math.sqrt(control.estimate_variance) == pytest.approx(r_c.std(ddof=1), rel=0.08)
    result = ratio_test(control, treatment)
    assert result.std_error == pytest.approx((r_t - r_c).std(ddof=1), rel=0.08)
    assert result.rel_std_error == pytest.approx((r_t / r_c - 1).std(ddof=1), rel=0.08)
    # Fieller's interval is the bootstrap's percentile interval, near enough, on a skewed ratio
    low, high = np.quantile(r_t / r_c - 1, [0.025, 0.975])
    assert result.rel_ci[0] == pytest.approx(low, abs=0.03) and result.rel_ci[1] == pytest.approx(high, abs=0.03)


def test_ratio_test_is_calibrated_under_the_null() -> None:
    # Correlated deliveries would make a naive per-delivery binomial test over-reject; delta must not.
    rng = np.random.default_rng(21)
    sims, n = 1000, 1000
    deliveries = rng.poisson(3.0, (sims, 2, n)) + 1
    clicks = rng.binomial(deliveries, rng.beta(2.0, 38.0, (sims, 2, n)))
    sums = {
        "sum": clicks.sum(-1),
        "sum_squares": (clicks**2).sum(-1),
        "denominator_sum": deliveries.sum(-1),
        "denominator_sum_squares": (deliveries**2).sum(-1),
        "sum_cross_products": (clicks * deliveries).sum(-1),
    }

    def arm(i: int, k: int) -> RatioStats:
        return RatioStats(n=n, **{key: float(v[i, k]) for key, v in sums.items()})

    rejected = np.mean([ratio_test(arm(i, 0), arm(i, 1)).p_value < 0.05 for i in range(sims)])
    assert 0.03 <= rejected <= 0.07, rejected


# ---------------------------------------------------------------- A/A calibration and power

AA_SIMS, AA_UNITS, AA_PEEKS, AA_BASE = 1000, 2000, 10, 0.05


@pytest.fixture(scope="module")
def aa_cumulative_clicks() -> np.ndarray:
    """Cumulative clicks, shape (experiment, peek, arm); 2,000 units per experiment, 1,000 per arm."""
    rng = np.random.default_rng(2024)
    per_peek = AA_UNITS // 2 // AA_PEEKS
    return rng.binomial(per_peek, AA_BASE, size=(AA_SIMS, AA_PEEKS, 2)).cumsum(axis=1)


def test_aa_fixed_horizon_false_positive_rate_is_near_alpha(aa_cumulative_clicks: np.ndarray) -> None:
    per_arm = AA_UNITS // 2
    final = aa_cumulative_clicks[:, -1, :]
    pvalues = np.array(
        [
            welch_t_test(MeanStats.binomial(per_arm, int(c)), MeanStats.binomial(per_arm, int(t))).p_value
            for c, t in final
        ]
    )
    assert 0.03 <= np.mean(pvalues < 0.05) <= 0.07, np.mean(pvalues < 0.05)


def test_aa_peeking_inflates_fixed_horizon_but_not_sequential(aa_cumulative_clicks: np.ndarray) -> None:
    per_peek = AA_UNITS // 2 // AA_PEEKS
    fixed_ever = np.zeros(AA_SIMS, dtype=bool)
    sequential_ever = np.zeros(AA_SIMS, dtype=bool)
    for peek in range(AA_PEEKS):
        n = per_peek * (peek + 1)
        for i, (c, t) in enumerate(aa_cumulative_clicks[:, peek, :]):
            control, treatment = MeanStats.binomial(n, int(c)), MeanStats.binomial(n, int(t))
            fixed_ever[i] |= welch_t_test(control, treatment).p_value < 0.05
            sequential_ever[i] |= sequential_test(control, treatment).p_value < 0.05
    assert fixed_ever.mean() > 0.10  # the problem sequential mode exists to solve
    assert sequential_ever.mean() <= 0.07, sequential_ever.mean()


def _power(n_per_arm: int, sims: int, seed: int) -> tuple[float, float]:
    """(simulated, analytic) two-sided power for a 10% relative lift on a 5% click-through."""
    rng = np.random.default_rng(seed)
    base, lifted = 0.05, 0.055
    controls, treatments = rng.binomial(n_per_arm, base, sims), rng.binomial(n_per_arm, lifted, sims)
    detected = [
        compare(
            MeanStats.binomial(n_per_arm, int(c)), MeanStats.binomial(n_per_arm, int(t)), "binomial", True
        ).direction
        == "good"
        for c, t in zip(controls, treatments, strict=True)
    ]
    se = math.sqrt((base * (1 - base) + lifted * (1 - lifted)) / n_per_arm)
    return float(np.mean(detected)), float(sps.norm.cdf((lifted - base) / se - sps.norm.ppf(0.975)))


def test_power_at_20k_per_arm_matches_theory() -> None:
    # Analytic two-sided power at 20,000 per arm is only 61%; >= 70% needs ~24,600 per arm.
    simulated, analytic = _power(20_000, 200, seed=5)
    assert analytic == pytest.approx(0.611, abs=0.005)
    assert abs(simulated - analytic) < 0.08, (simulated, analytic)


def test_ten_percent_lift_is_detected_at_least_70pct_with_enough_units() -> None:
    simulated, analytic = _power(32_000, 200, seed=6)
    assert analytic > 0.8
    assert simulated >= 0.70, simulated


# ---------------------------------------------------------------- sequential testing formulas


def test_sequential_rho_worked_example() -> None:
    # α = 0.05, N* = 5000: ρ² = (−2 ln 0.05 + ln(1 − 2 ln 0.05)) / 5000 = (5.99146 + 1.94469) / 5000
    assert sequential_rho(0.05, 5000) ** 2 == pytest.approx(7.93615 / 5000, rel=1e-5)


def test_sequential_interval_and_p_value_agree_and_cost_width() -> None:
    control, treatment = MeanStats.binomial(3000, 150), MeanStats.binomial(3000, 195)
    fixed, seq = welch_t_test(control, treatment), sequential_test(control, treatment)
    assert seq.abs_diff == fixed.abs_diff
    assert seq.abs_ci[1] - seq.abs_ci[0] > fixed.abs_ci[1] - fixed.abs_ci[0]
    assert seq.p_value >= fixed.p_value
    rho = sequential_rho(0.05)
    for diff in np.linspace(0.0, 0.03, 31):  # p < α exactly when the α-level sequence excludes 0
        excluded = abs(diff) > sequential_multiplier(6000, 0.05, rho) * seq.std_error
        assert (sequential_p_value(diff, seq.std_error, 6000, rho) < 0.05) == excluded


# ---------------------------------------------------------------- multiple comparisons

# Benjamini & Hochberg (1995), section 4: 15 p-values from a trial; at 0.05 the Bonferroni-type
# procedures (Holm) reject 3 hypotheses and the FDR procedure rejects 4.
BH_1995 = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.0000,
]


def test_holm_and_bh_on_the_bh_1995_textbook_example() -> None:
    assert sum(p <= 0.05 for p in holm(BH_1995)) == 3
    assert sum(p <= 0.05 for p in benjamini_hochberg(BH_1995)) == 4


def test_holm_and_bh_small_vector_by_hand_in_input_order() -> None:
    pvalues = [0.01, 0.04, 0.03, 0.005]
    assert holm(pvalues) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert benjamini_hochberg(pvalues) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert holm([]) == [] and benjamini_hochberg([]) == []
    with pytest.raises(ValueError):
        holm([0.2, 1.5])


def test_bh_matches_scipy() -> None:
    pvalues = np.random.default_rng(1).uniform(0, 0.2, 25)
    assert benjamini_hochberg(pvalues) == pytest.approx(sps.false_discovery_control(pvalues).tolist())


# ---------------------------------------------------------------- sample ratio mismatch


def test_srm_matches_scipy_chisquare() -> None:
    observed, weights = [5100, 4900, 10150], [0.25, 0.25, 0.5]
    result = srm_check(observed, weights)
    ref = sps.chisquare(observed, f_exp=[20150 * w for w in weights])
    assert result.chi_square == pytest.approx(ref.statistic)
    assert result.p_value == pytest.approx(ref.pvalue)


def test_srm_warns_on_52_48_traffic_for_a_50_50_experiment() -> None:
    result = srm_check([20_800, 19_200], [0.5, 0.5])  # 40,000 units, 20,000 expected per arm
    assert result.chi_square == pytest.approx(64.0)
    assert result.warn and result.p_value < 1e-10


def test_srm_quiet_on_ordinary_noise_and_loud_on_zero_weight_traffic() -> None:
    assert not srm_check([20_100, 19_900], [1, 1]).warn  # χ² = 2, p ≈ 0.16
    assert srm_check([100, 100, 3], [1, 1, 0]).warn


# ---------------------------------------------------------------- Bayesian


def test_chance_to_beat_and_expected_loss_match_monte_carlo() -> None:
    mean, sd = 0.02, 0.015
    draws = np.random.default_rng(4).normal(mean, sd, 1_000_000)
    assert chance_to_beat_control(mean, sd) == pytest.approx(np.mean(draws > 0), abs=0.002)
    assert expected_loss(mean, sd) == pytest.approx(np.mean(np.maximum(0, -draws)), rel=0.01)
    assert chance_to_beat_control(mean, sd, higher_is_better=False) == pytest.approx(np.mean(draws < 0), abs=0.002)
    assert expected_loss(mean, sd, higher_is_better=False) == pytest.approx(np.mean(np.maximum(0, draws)), rel=0.01)


def test_binomial_normal_approximation_agrees_with_beta_posteriors() -> None:
    rng = np.random.default_rng(8)
    n_c, k_c, n_t, k_t = 4000, 200, 4000, 228
    result = bayesian_test(MeanStats.binomial(n_c, k_c), MeanStats.binomial(n_t, k_t), prior=None)
    p_c = rng.beta(1 + k_c, 1 + n_c - k_c, 400_000)
    p_t = rng.beta(1 + k_t, 1 + n_t - k_t, 400_000)
    assert result.chance_to_beat_control == pytest.approx(np.mean(p_t > p_c), abs=0.01)
    # Expected loss is E[max(0, θ_c − θ_t)] in units of the observed control mean.
    assert result.expected_loss == pytest.approx(np.mean(np.maximum(0, p_c - p_t)) / (k_c / n_c), rel=0.02)


def test_flat_prior_chance_to_beat_agrees_with_the_z_test() -> None:
    control, treatment = MeanStats.binomial(8000, 400), MeanStats.binomial(8000, 445)
    p_value = welch_t_test(control, treatment).p_value
    flat = bayesian_test(control, treatment, prior=None)
    assert flat.chance_to_beat_control == pytest.approx(1 - p_value / 2, abs=1e-4)


def test_weak_prior_shrinks_small_samples_only() -> None:
    small = (MeanStats.binomial(60, 3), MeanStats.binomial(60, 9))  # +200% lift from 6 clicks
    flat, weak = bayesian_test(*small, prior=None), bayesian_test(*small)
    assert 0 < weak.posterior_mean < 0.5 * flat.posterior_mean
    big = (MeanStats.binomial(200_000, 10_000), MeanStats.binomial(200_000, 10_600))
    assert bayesian_test(*big).posterior_mean == pytest.approx(bayesian_test(*big, prior=None).posterior_mean, rel=0.01)
    assert normal_posterior(0.1, 0.01, NormalPrior(0.0, 0.01)) == pytest.approx((0.05, 0.005))


# ---------------------------------------------------------------- compare and plain language


def test_compare_significant_lift_reads_as_good() -> None:
    result = compare(MeanStats.binomial(20_000, 1000), MeanStats.binomial(20_000, 1200), "binomial", True)
    assert result.significant and result.direction == "good"
    assert result.rel_diff == pytest.approx(0.2)
    assert result.rel_ci[0] > 0 and result.chance_to_beat_control > 0.99
    assert result.expected_loss < 1e-4
    text = plain_language("click-through", "B", result)
    assert text.startswith("B raised click-through by 20% (95% CI ")
    assert "提升了 20%（95% 置信区间" in plain_language("点击率", "B", result, lang="zh")


def test_compare_decrease_of_a_lower_is_better_metric_is_good() -> None:
    result = compare(MeanStats.binomial(20_000, 400), MeanStats.binomial(20_000, 300), "binomial", False)
    assert result.direction == "good" and result.chance_to_beat_control > 0.99
    low, high = result.rel_ci
    text = plain_language("unsubscribe rate", "B", result)
    assert text == (
        f"B lowered unsubscribe rate by 25% (95% CI [{low * 100:.0f}%, {high * 100:.0f}%]), -0.50 pp in absolute terms"
    )
    assert "下降了 25%" in plain_language("退订率", "B", result, lang="zh")


def test_compare_no_change_says_so_in_both_languages() -> None:
    result = compare(MeanStats.binomial(5000, 250), MeanStats.binomial(5000, 255), "binomial", True)
    assert not result.significant and result.direction == "neutral"
    assert plain_language("click-through", "B", result).startswith(
        "B: no detectable change in click-through (95% CI [-"
    )
    chinese = plain_language("点击率", "B", result, lang="zh")
    assert chinese.startswith("B 对点击率无显著影响（95% 置信区间 [-")
    assert chinese.endswith("绝对值 +0.10 个百分点")


def test_compare_sequential_and_ratio_kinds() -> None:
    rng = np.random.default_rng(9)
    control = RatioStats.from_values(*_clicks_per_delivery(rng, 3000, 0.05))
    treatment = RatioStats.from_values(*_clicks_per_delivery(rng, 3000, 0.05))
    result = compare(control, treatment, "ratio", True, sequential=True)
    assert result.sequential and result.mean_control == pytest.approx(control.ratio)
    assert result.abs_ci == sequential_test(control, treatment).abs_ci


def test_compare_rejects_mismatched_metric_kind() -> None:
    with pytest.raises(ValueError, match="0/1"):
        compare(MeanStats.from_values([0, 2, 3]), MeanStats.from_values([1, 1, 0]), "binomial", True)
    with pytest.raises(ValueError, match="RatioStats"):
        compare(MeanStats.binomial(10, 1), MeanStats.binomial(10, 2), "ratio", True)
    with pytest.raises(ValueError, match="lang"):
        plain_language("x", "B", compare(MeanStats.binomial(10, 1), MeanStats.binomial(10, 2), "binomial", True), "fr")


def test_plain_language_uses_absolute_numbers_for_zero_or_negative_control() -> None:
    result = compare(MeanStats.from_values([0.0] * 50), MeanStats.from_values([0.0] * 45 + [2.0] * 5), "mean", True)
    assert result.rel_diff is None
    assert "(95% CI " in plain_language("revenue per user", "B", result)
    negative = compare(MeanStats.from_values([-2.0, -1.0] * 50), MeanStats.from_values([-1.0, 0.0] * 50), "mean", True)
    assert plain_language("net margin", "B", negative).startswith("B raised net margin by 1.00 (95% CI [+0.860, +1.14]")


# ---------------------------------------------------------------- intervals that agree with the conclusion


@pytest.mark.parametrize("sequential", [False, True])
def test_relative_interval_excludes_zero_exactly_when_significant(sequential: bool) -> None:
    """Fieller's interval is the inversion of the absolute test, so on 600 random binomial, mean and ratio
    inputs per mode (tiny to large, unequal arms) the relative interval is clear of 0 iff p < alpha, and never
    below -100%."""
    rng = np.random.default_rng(20)
    checked = 0
    for _ in range(600):
        n_c, n_t = (int(x) for x in np.exp(rng.uniform(np.log(5), np.log(20_000), size=2)))
        kind = ("binomial", "mean", "ratio")[int(rng.integers(3))]
        p = rng.uniform(0.005, 0.5)
        if kind == "binomial":
            c = MeanStats.binomial(n_c, int(rng.binomial(n_c, p)))
            t = MeanStats.binomial(n_t, int(rng.binomial(n_t, p * rng.uniform(0.5, 2.0))))
        elif kind == "mean":
            c = MeanStats.from_values(rng.exponential(3.0, n_c))
            t = MeanStats.from_values(rng.exponential(3.0 * rng.uniform(0.8, 1.3), n_t))
        else:
            c = RatioStats.from_values(*_clicks_per_delivery(rng, n_c, p))
            t = RatioStats.from_values(*_clicks_per_delivery(rng, n_t, p * rng.uniform(0.7, 1.5)))
        try:
            r = compare(c, t, kind, True, sequential=sequential)
        except ValueError:
            continue  # an arm without events or a zero denominator: covered by the bad-input tests
        if r.rel_ci is None:
            continue  # control not clear of 0: no bounded relative interval, the report uses the absolute one
        low, high = r.rel_ci
        assert low >= -1.0
        assert low <= r.rel_diff <= high
        assert (low > 0 or high < 0) == r.significant, (kind, n_c, n_t, r)
        assert (r.abs_ci[0] > 0 or r.abs_ci[1] < 0) == r.significant
        checked += 1
    assert checked > 400


def test_issue_example_click_through_and_conversion() -> None:
    """The issue's report: 297 users per arm, 21 vs 36 clickers, absolute +5.05 pp [+0.3, +9.8] with p = 0.04,
    where the delta-method relative interval ran from -16% to +159%; and a conversion rate with a handful of
    conversions whose delta-method lower bound was -141%."""
    ctr = compare(MeanStats.binomial(297, 21), MeanStats.binomial(297, 36), "binomial", True)
    assert ctr.significant and ctr.p_value == pytest.approx(0.037, abs=0.003)
    assert ctr.rel_ci[0] > 0  # agrees with the absolute test
    assert ctr.rel_diff - ctr.critical_value * ctr.rel_std_error < 0  # the delta method would not have
    conv = compare(MeanStats.binomial(297, 6), MeanStats.binomial(297, 2), "binomial", True)
    assert conv.rel_diff - conv.critical_value * conv.rel_std_error < -1  # delta method: below -100%
    assert conv.rel_ci is None or conv.rel_ci[0] >= -1.0
    big = compare(MeanStats.binomial(2970, 60), MeanStats.binomial(2970, 20), "binomial", True)
    assert big.rel_ci is not None and big.rel_ci[0] >= -1.0 and big.rel_ci[1] < 0
