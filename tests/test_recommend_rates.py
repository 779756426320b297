"""Engagement rates shrunk level by level (recommend/rates.py) and the per-delivery fit of the learning job:
pure functions checked on data drawn from known parameters."""

from __future__ import annotations

import numpy as np
import pytest

from contenthub.recommend import learning, ranking, rates


def _beta_binomial(
    rng: np.random.Generator, units: int, strength: float, p: float, deliveries: int
) -> tuple[np.ndarray, np.ndarray]:
    theta = rng.beta(strength * p, strength * (1 - p), units)
    d = np.full(units, float(deliveries))
    return rng.binomial(deliveries, theta).astype(float), d


@pytest.mark.parametrize("strength", [5.0, 40.0])
def test_prior_strength_is_recovered_from_the_spread_between_units(strength: float) -> None:
    rng = np.random.default_rng(7)
    s, d = _beta_binomial(rng, 600, strength, 0.2, 12)
    found = rates.eb_strength(s, d, np.full(s.size, 0.2))
    assert strength / 2 < found < strength * 2, found


def test_units_that_differ_only_by_chance_get_a_strong_prior() -> None:
    rng = np.random.default_rng(3)
    d = np.full(500, 10.0)
    s = rng.binomial(10, 0.15, 500).astype(float)
    assert rates.eb_strength(s, d, np.full(500, 0.15)) > 300


def test_prior_strength_survives_adaptive_stopping() -> None:
    """Deliveries that stop at the first miss (as a policy drops a topic after it was ignored): the
    likelihood ignores the stopping rule, so the estimate stays near the truth."""
    rng = np.random.default_rng(11)
    theta = rng.beta(8 * 0.3, 8 * 0.7, 3000)
    s = np.zeros(theta.size)
    d = np.zeros(theta.size)
    for i, t in enumerate(theta):
        while d[i] < 8:
            d[i] += 1
            if rng.random() < t:
                s[i] += 1
            else:
                break
    found = rates.eb_strength(s, d, np.full(theta.size, 0.3))
    assert 4 < found < 16, found


def test_too_few_units_keep_the_default_strength() -> None:
    assert rates.eb_strength(np.ones(3), np.full(3, 2.0), np.full(3, 0.5)) == rates.STRENGTH_DEFAULT


def test_slot_rates_pool_their_assets_and_shrink_to_the_base() -> None:
    success = np.array([10.0, 0.0, 5.0, 0.0])
    delivered = np.array([20.0, 20.0, 100.0, 0.0])
    slots = np.array([0, 0, 1, 2])  # two topics and the "none" slot
    out = rates.slot_rates(success, delivered, slots, 2, base=0.1)
    n0 = rates.BRAND_PRIOR_DELIVERIES
    assert out[0] == pytest.approx((10 + n0 * 0.1) / (40 + n0))
    assert out[1] == pytest.approx((5 + n0 * 0.1) / (100 + n0))
    assert out[2] == pytest.approx(0.1)


def test_log_lift_floors_a_zero_rate() -> None:
    assert rates.log_lift(0.0, 0.1) == pytest.approx(np.log(rates.RATE_FLOOR / 0.1))
    assert rates.log_lift(0.2, 0.1) == pytest.approx(np.log(2.0))


def test_per_delivery_fit_credits_what_separates_assets_not_what_separates_users() -> None:
    """Signal 0 makes one asset more engaging than the user's others; signal 1 is high for every candidate
    of users who engage a lot (a lifecycle-like signal). The context terms absorb the second."""
    rng = np.random.default_rng(5)
    n = 6000
    activity = rng.normal(0, 1, n)  # per user-request: how much the user engages at all
    own = rng.normal(0, 1, n)  # the delivered asset's own signal, centred per request
    x = np.column_stack([own, activity + rng.normal(0, 0.05, n)])
    context = np.column_stack([np.zeros(n), activity])
    y = rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 1.0 * own + 1.0 * activity)))
    w, sd = learning.fit_per_delivery(x, y, np.zeros(2), context=context)
    assert w[0] == pytest.approx(1.0, abs=0.15)
    assert w[1] < 0.3, w
    assert np.all(np.isfinite(sd))
    naive, _ = learning.fit_per_delivery(x, y, np.zeros(2))
    assert naive[1] > 0.7, "without the context terms the user-level signal passes for an asset-level one"


def test_per_delivery_fit_holds_the_rate_signals_at_their_calibration() -> None:
    """Signal 0 is a log rate (held at 1 as an offset); signal 1 a heuristic the fit scales relative to it."""
    rng = np.random.default_rng(7)
    n = 6000
    log_rate = np.log(rng.uniform(0.02, 0.4, n))
    extra = rng.normal(0, 1, n)
    y = rng.random(n) < 1 / (1 + np.exp(-(log_rate + 0.5 * extra)))
    x = np.column_stack([log_rate, extra])
    w, sd = learning.fit_per_delivery(x, y, np.array([1.0, 0.0]), fixed=np.array([True, False]))
    assert w[0] == 1.0 and sd[0] == 0.0
    assert w[1] == pytest.approx(0.5, abs=0.15) and sd[1] > 0


def test_a_gain_within_noise_is_no_gain() -> None:
    """Weights that rank held-out deliveries only by chance better than the ones in use do not beat them
    by more than the standard error of the difference; a real signal does."""
    rng = np.random.default_rng(3)
    n = 600
    x = rng.normal(0, 1, (n, 3))
    y = rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.5 * x[:, 0])))
    old, noise, real = np.array([0.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.3]), np.array([1.0, 0.0, 0.0])
    assert learning.auc(x, y, real) - learning.auc(x, y, old) > learning.auc_gain_se(x, y, real, old)
    gain = learning.auc(x, y, noise) - learning.auc(x, y, old)
    assert abs(gain) <= 2 * learning.auc_gain_se(x, y, noise, old)
    assert learning.auc_gain_se(x, y, noise, old) > 0.005


def test_auc_counts_ties_half() -> None:
    x = np.array([[1.0], [1.0], [0.0], [2.0]])
    y = np.array([True, False, False, True])
    assert learning.auc(x, y, np.array([1.0])) == pytest.approx((1.0 + 1.0 + 0.5 + 1.0) / 4)
    assert learning.auc(x, y, np.array([np.nan])) == 0.0


def test_a_rate_reason_never_cites_deliveries_the_audience_ignored() -> None:
    """Slot 0: engaged once in two deliveries (own evidence). Slot 1: one delivery, not engaged — the reason
    falls back to the population's rate instead of saying "you engaged with 0.0 of 1.0 delivered"."""
    prior = (np.array([1.0, 1.0, 2.0]), np.array([3.0, 3.0, 8.0]))
    ab = (np.array([2.0, 1.0, 2.0]), np.array([4.0, 4.0, 8.0]))
    assert ranking._rate_detail(ab, prior, 0) == "you engaged with 1.0 of 2.0 delivered"
    assert ranking._rate_detail(ab, prior, 1) == "people engage with it 1.2× as often as with the average asset"
