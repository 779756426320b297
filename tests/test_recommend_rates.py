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


def _users_apart_world() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signal 0 is the same for all of a user's deliveries and raises how much that user engages (a
    lifecycle stage); signal 1 varies between a user's own deliveries and drives which one they engage with."""
    rng = np.random.default_rng(11)
    n_users, each = 300, 6
    users = np.repeat(np.array([f"u{i}" for i in range(n_users)]), each)
    trait = np.repeat(rng.normal(0, 1, n_users), each)
    own = rng.normal(0, 1, users.size)
    y = rng.random(users.size) < 1 / (1 + np.exp(-(-1.0 + 2.0 * trait + 0.8 * own)))
    return np.column_stack([trait, own]), y, users


def test_a_signal_that_only_tells_users_apart_wins_nothing_within_users() -> None:
    """Pooled over users the user-level signal ranks held-out engagement far better than the signal that
    orders each user's own deliveries; compared within users it ties every pair and loses, and adding it to
    the own-deliveries signal changes no user's order, so it gains nothing."""
    x, y, users = _users_apart_world()
    apart, own, both = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.73, 1.0])
    assert learning.auc(x, y, apart) - learning.auc(x, y, own) > learning.auc_gain_se(x, y, apart, own)
    assert learning.auc(x, y, apart, users) == pytest.approx(0.5)
    gain = learning.auc(x, y, own, users) - learning.auc(x, y, apart, users)
    assert gain > learning.auc_gain_se(x, y, own, apart, users=users) > 0
    gain = learning.auc(x, y, both, users) - learning.auc(x, y, own, users)
    assert gain == pytest.approx(0.0) and not gain > learning.auc_gain_se(x, y, both, own, users=users)


def test_the_within_user_auc_is_the_pair_weighted_mean_of_each_users_own() -> None:
    """Against a plain loop over users (ties in scores included); users without an engaged and an ignored
    delivery are left out; a user with one ignored delivery weighs half as much as one with two."""
    rng = np.random.default_rng(5)
    users = rng.choice(np.array(["a", "b", "c", "d", "e"]), 80)
    x = rng.integers(0, 4, (80, 2)).astype(float)
    y = rng.random(80) < 0.4
    y[users == "e"] = True  # no pair: left out
    w = np.array([1.0, 0.5])
    right = pairs = 0.0
    for u in np.unique(users):
        mine = users == u
        n_pairs = float(y[mine].sum() * (~y[mine]).sum())
        if n_pairs:
            right += learning.auc(x[mine], y[mine], w) * n_pairs
            pairs += n_pairs
    assert learning.auc(x, y, w, users) == pytest.approx(right / pairs)
    x2 = np.array([[2.0], [1.0], [0.0], [3.0], [1.0]])
    y2 = np.array([True, False, False, True, False])
    u2 = np.array(["p", "p", "p", "q", "q"])  # p: 2 pairs, both right; q: 1 pair, right
    assert learning.auc(x2, y2, np.array([1.0]), u2) == 1.0
    assert learning.auc(-x2, y2, np.array([1.0]), u2) == 0.0
    assert learning.auc(x2, y2, np.array([np.nan]), u2) == 0.0
    assert learning.auc(x2[2:], y2[2:], np.array([1.0]), u2[2:]) == 1.0  # p's engaged one gone: only q counts
