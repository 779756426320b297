"""Parity with GrowthBook's ``gbstats`` (the reference implementation, a test-only dependency).

1,200 random experiments per family -- 0/1 metrics, means, ratio metrics and CUPED-adjusted means;
arms of unequal size; samples from tiny (n = 3) to huge (n = 10⁷) -- are analysed by our functions
and by gbstats. Where the two compute the same quantity the tolerance is float round-off (relative
1e-9, absolute 1e-12). Where we differ by design the test says how, and checks the difference has the
expected size instead:

* Variance of a 0/1 metric: gbstats uses p(1 − p) (divisor n), we use the sample variance (divisor
  n − 1, so the Welch test equals scipy's ``ttest_ind``): ours = gbstats · n/(n − 1). With the same
  variance (gbstats' ``SampleMeanStatistic`` on the same 0/1 sums) every number matches exactly.
* Ratio metrics: the same delta-method variance; gbstats refers the statistic to Student's t with
  Welch df, we to the normal (the delta method is itself large-sample). p-values agree to 1e-3 once
  both arms have ≥ 1,000 units.
* Relative interval: gbstats' is the delta-method interval, ours is Fieller's at the same critical
  value (it agrees with the absolute test; stats/frequentist.py says why). Point estimate and
  delta-method SE match exactly; the intervals converge as samples grow (within 0.005 on the relative
  scale when both arms have ≥ 100,000 units and the effect is below 20%).
* Chance to win and expected loss: the same normal posterior on the absolute difference; with our weak
  prior N(0, (0.3·θ_c)²) given to gbstats as a proper relative prior, and with no prior, they match.

The worst difference per statistic is printed as JSON (run with ``-s``) for bench/RESULTS.md.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pytest

gb_freq = pytest.importorskip("gbstats.frequentist.tests")
from gbstats.bayesian.tests import (  # noqa: E402 - after importorskip
    EffectBayesianABTest,
    EffectBayesianConfig,
    GaussianPrior,
)
from gbstats.frequentist.tests import (  # noqa: E402 - after importorskip
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (  # noqa: E402 - after importorskip
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    compute_theta,
)
from gbstats.utils import check_srm  # noqa: E402 - after importorskip

from contenthub.experiments.stats import (  # noqa: E402 - after importorskip
    DEFAULT_PRIOR,
    MeanStats,
    RatioStats,
    bayesian_test,
    cuped_stats,
    ratio_test,
    sequential_test,
    srm_check,
    welch_t_test,
)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # gbstats' exp overflows at huge z (p → 0)

N = 1200
REL, ABS = 1e-9, 1e-12
WORST: dict[str, float] = defaultdict(float)
INPUTS: dict[str, int] = defaultdict(int)


def _close(
    name: str, ours: float, theirs: float, rel: float = REL, abs_tol: float = ABS, absolute: bool = False
) -> None:
    """Check one statistic is within tolerance and record its worst difference: absolute for
    probabilities and interval ends on the relative scale (``absolute``), relative otherwise."""
    diff = abs(ours - theirs)
    seen = diff if absolute or abs(theirs) <= abs_tol else diff / abs(theirs)
    WORST[name] = max(WORST[name], seen)
    assert diff <= max(rel * abs(theirs), abs_tol), (name, ours, theirs)


def _sizes(rng: np.random.Generator) -> tuple[int, int]:
    """Unequal arms, log-uniform from 3 to 10 million."""
    return tuple(int(x) for x in np.exp(rng.uniform(np.log(3), np.log(1e7), size=2)))  # type: ignore[return-value]


def _rate_pair(rng: np.random.Generator) -> tuple[MeanStats, MeanStats]:
    n_c, n_t = _sizes(rng)
    p = rng.uniform(0.001, 0.6)
    k_c = int(np.clip(rng.binomial(n_c, p), 1, n_c - 1))
    k_t = int(np.clip(rng.binomial(n_t, p * rng.uniform(0.7, 1.4)), 1, n_t - 1))
    return MeanStats.binomial(n_c, k_c), MeanStats.binomial(n_t, k_t)


def _mean_pair(rng: np.random.Generator) -> tuple[MeanStats, MeanStats]:
    """Sufficient statistics of a skewed per-unit metric (revenue-like), drawn without materialising units."""
    out = []
    for n, scale in zip(_sizes(rng), (1.0, rng.uniform(0.8, 1.25)), strict=True):
        mean = rng.uniform(0.5, 50.0) * scale
        sd = mean * rng.uniform(0.2, 5.0)
        s = n * mean + rng.normal() * sd * math.sqrt(n)
        ss = (n - 1) * sd**2 + s * s / n
        out.append(MeanStats(n=n, sum=s, sum_squares=ss))
    return out[0], out[1]


def _gb_mean(s: MeanStats) -> SampleMeanStatistic:
    return SampleMeanStatistic(n=s.n, sum=s.sum, sum_squares=s.sum_squares)


def _frequentist_parity(name: str, c: MeanStats, t: MeanStats) -> None:
    ours = welch_t_test(c, t)
    gb = TwoSidedTTest(_gb_mean(c), _gb_mean(t), FrequentistConfig(difference_type="absolute")).compute_result()
    _close(f"{name}: p-value", ours.p_value, gb.p_value, rel=1e-7, abs_tol=1e-12, absolute=True)
    _close(f"{name}: CI low", ours.abs_ci[0], gb.ci[0])
    _close(f"{name}: CI high", ours.abs_ci[1], gb.ci[1])
    rel = TwoSidedTTest(_gb_mean(c), _gb_mean(t), FrequentistConfig(difference_type="relative"))
    _close(f"{name}: relative difference", ours.rel_diff, rel.point_estimate)
    _close(f"{name}: relative SE (delta method)", ours.rel_std_error, math.sqrt(rel.variance))
    seq = sequential_test(c, t)
    gb_seq = SequentialTwoSidedTTest(_gb_mean(c), _gb_mean(t), SequentialConfig(difference_type="absolute"))
    gb_seq_result = gb_seq.compute_result()
    _close(f"{name}: sequential CI low", seq.abs_ci[0], gb_seq_result.ci[0], rel=1e-8)
    _close(f"{name}: sequential p-value", seq.p_value, gb_seq_result.p_value, rel=1e-7, abs_tol=1e-12, absolute=True)
    if c.n >= 100_000 and t.n >= 100_000 and abs(ours.rel_diff) < 0.2:  # by design: Fieller vs delta method
        rel_result = rel.compute_result()
        _close(
            f"{name}: relative CI, Fieller vs delta method (n >= 100k, |lift| < 20%)",
            ours.rel_ci[0],
            rel_result.ci[0],
            rel=0.0,
            abs_tol=0.005,
            absolute=True,
        )
        INPUTS["large samples for the relative-interval check"] += 1


def _bayes_parity(name: str, c: MeanStats, t: MeanStats) -> None:
    flat = bayesian_test(c, t, prior=None)
    gb_flat = EffectBayesianABTest(
        _gb_mean(c), _gb_mean(t), EffectBayesianConfig(difference_type="absolute")
    ).compute_result()
    _close(
        f"{name}: chance to win (flat prior)",
        flat.chance_to_beat_control,
        gb_flat.chance_to_win,
        rel=1e-9,
        abs_tol=1e-12,
        absolute=True,
    )
    ours = bayesian_test(c, t, prior=DEFAULT_PRIOR)
    gb = EffectBayesianABTest(
        _gb_mean(c),
        _gb_mean(t),
        EffectBayesianConfig(
            difference_type="absolute",
            prior_type="relative",
            prior_effect=GaussianPrior(mean=0.0, variance=DEFAULT_PRIOR.variance, proper=True),
        ),
    ).compute_result()
    _close(
        f"{name}: chance to win (our weak prior)",
        ours.chance_to_beat_control,
        gb.chance_to_win,
        rel=1e-9,
        abs_tol=1e-12,
        absolute=True,
    )
    _close(
        f"{name}: expected loss (our weak prior)", ours.expected_loss * abs(c.mean), gb.risk[1], rel=1e-6, abs_tol=1e-15
    )


def _run(name: str, draw: Callable[[np.random.Generator], tuple[MeanStats, MeanStats]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(N):
        c, t = draw(rng)
        _close(f"{name}: mean", c.mean, _gb_mean(c).mean)
        _close(f"{name}: variance", c.variance, _gb_mean(c).variance, rel=1e-9, abs_tol=1e-9)
        _frequentist_parity(name, c, t)
        _bayes_parity(name, c, t)
        INPUTS[name] += 1


def test_proportions_match_gbstats() -> None:
    _run("0/1 metric", _rate_pair, 1)
    # by design: gbstats' ProportionStatistic uses p(1-p); ours is the sample variance = p(1-p)·n/(n-1)
    rng = np.random.default_rng(2)
    for _ in range(N):
        c, _ = _rate_pair(rng)
        gb = ProportionStatistic(n=c.n, sum=c.sum)
        _close("0/1 metric: variance vs ProportionStatistic, × n/(n-1)", c.variance, gb.variance * c.n / (c.n - 1))


def test_means_match_gbstats() -> None:
    _run("mean metric", _mean_pair, 3)


def test_ratio_metrics_match_gbstats() -> None:
    rng = np.random.default_rng(4)
    for _ in range(N):
        pair = []
        for n in _sizes(rng):
            n = max(n, 3)
            x = rng.poisson(3.0, size=min(n, 2000)) + 1  # deliveries per unit
            y = rng.binomial(x, rng.uniform(0.02, 0.3))
            scale = n / x.size  # sums of a larger sample with the same per-unit moments
            pair.append(
                RatioStats(
                    n=n,
                    sum=float(y.sum()) * scale,
                    sum_squares=float(np.dot(y, y)) * scale,
                    denominator_sum=float(x.sum()) * scale,
                    denominator_sum_squares=float(np.dot(x, x)) * scale,
                    sum_cross_products=float(np.dot(x, y)) * scale,
                )
            )
        c, t = pair

        def gb(s: RatioStats) -> RatioStatistic:
            return RatioStatistic(
                n=s.n,
                m_statistic=SampleMeanStatistic(n=s.n, sum=s.sum, sum_squares=s.sum_squares),
                d_statistic=SampleMeanStatistic(n=s.n, sum=s.denominator_sum, sum_squares=s.denominator_sum_squares),
                m_d_sum_of_products=s.sum_cross_products,
            )

        _close("ratio metric: ratio", c.ratio, gb(c).mean)
        _close(
            "ratio metric: variance of the ratio (delta method)",
            c.estimate_variance,
            gb(c).variance / c.n,
            rel=1e-8,
            abs_tol=1e-15,
        )
        ours = ratio_test(c, t)
        theirs = TwoSidedTTest(gb(c), gb(t), FrequentistConfig(difference_type="absolute")).compute_result()
        if c.n >= 1000 and t.n >= 1000:  # by design: normal reference vs Student t with Welch df
            _close(
                "ratio metric: p-value, normal vs t (n >= 1000)",
                ours.p_value,
                theirs.p_value,
                rel=0.0,
                abs_tol=1e-3,
                absolute=True,
            )
        INPUTS["ratio metric"] += 1


def test_cuped_matches_gbstats_regression_adjustment() -> None:
    rng = np.random.default_rng(5)
    for _ in range(N):
        arms, gbs = [], []
        for n in _sizes(rng):
            n = max(n, 10)
            m = min(n, 3000)
            pre = rng.gamma(2.0, 5.0, size=m)
            post = 0.7 * pre + rng.gamma(2.0, 3.0, size=m)
            scale = n / m
            arms.append(
                (
                    MeanStats(n=n, sum=float(post.sum()) * scale, sum_squares=float(post @ post) * scale),
                    MeanStats(n=n, sum=float(pre.sum()) * scale, sum_squares=float(pre @ pre) * scale),
                    float(pre @ post) * scale,
                )
            )
        posts, pres, cross = zip(*arms, strict=True)
        ours = cuped_stats(posts, pres, cross)
        for post, pre, xy in arms:
            gbs.append(
                RegressionAdjustedStatistic(
                    n=post.n,
                    post_statistic=SampleMeanStatistic(n=post.n, sum=post.sum, sum_squares=post.sum_squares),
                    pre_statistic=SampleMeanStatistic(n=pre.n, sum=pre.sum, sum_squares=pre.sum_squares),
                    post_pre_sum_of_products=xy,
                    theta=0.0,
                )
            )
        theta = compute_theta(gbs[0], gbs[1])
        _close("CUPED: theta", ours[0].theta, theta, rel=1e-8)
        for g in gbs:
            g.theta = theta
        _close("CUPED: adjusted variance", ours[0].variance, gbs[0].variance, rel=1e-7, abs_tol=1e-9)
        diff_ours = ours[1].estimate - ours[0].estimate
        _close("CUPED: adjusted difference", diff_ours, gbs[1].mean - gbs[0].mean, rel=1e-7, abs_tol=1e-9)
        INPUTS["CUPED"] += 1


def test_srm_matches_gbstats() -> None:
    rng = np.random.default_rng(6)
    for _ in range(N):
        k = int(rng.integers(2, 6))
        weights = rng.dirichlet(np.ones(k)).tolist()
        total = int(np.exp(rng.uniform(np.log(10), np.log(1e7))))
        observed = rng.multinomial(total, rng.dirichlet(np.array(weights) * 200)).tolist()
        _close(
            "SRM p-value",
            srm_check(observed, weights).p_value,
            float(check_srm(observed, weights)),
            rel=1e-9,
            abs_tol=1e-14,
            absolute=True,
        )
        INPUTS["SRM"] += 1


def test_zz_print_the_parity_summary() -> None:
    """Runs last in this file: the worst difference per statistic, for the closing note and RESULTS.md."""
    if not WORST:
        pytest.skip("run the whole file to get the summary")
    summary = {
        "inputs": dict(INPUTS),
        "worst_difference": {k: float(f"{v:.3g}") for k, v in sorted(WORST.items())},
        "note": "absolute difference for p-values, probabilities and relative-interval ends; relative difference "
        "(|ours - gbstats| / |gbstats|) for everything else; tolerances in the module docstring",
    }
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    assert all(n >= 1000 for k, n in INPUTS.items() if not k.startswith("large"))
