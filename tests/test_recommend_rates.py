"""Engagement rates shrunk level by level (recommend/rates.py) and the per-delivery fit of the learning job:
pure functions checked on data drawn from known parameters."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from contenthub.audience import engagement
from contenthub.recommend import learning, ranking, rates, scoring
from contenthub.timeutil import from_iso


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


def _pairs(x: np.ndarray, y: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(engaged-minus-ignored signals, weights 2 / the user's deliveries, users) of every pair of one user's
    engaged and ignored deliveries — what ``replay_deliveries`` builds, for signals that do not depend on
    earlier outcomes."""
    d, wt, who = [], [], []
    for u in np.unique(users):
        mine = np.flatnonzero(users == u)
        for i in mine[y[mine]]:
            for j in mine[~y[mine]]:
                d.append(x[i] - x[j])
                wt.append(2.0 / mine.size)
                who.append(u)
    return np.array(d).reshape(-1, x.shape[1]), np.array(wt), np.array(who)


def _propensity_world(n_users: int = 400, each: int = 8, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user has a propensity to engage at all (``trait``); signal 0 reports it (with noise that varies
    between the user's deliveries and predicts nothing), signal 1 is the delivered asset's own merit."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), each)
    trait = np.repeat(rng.normal(0, 1, n_users), each)
    own = rng.normal(0, 1, users.size)
    x = np.column_stack([trait + rng.normal(0, 0.6, users.size), own])
    y = rng.random(users.size) < 1 / (1 + np.exp(-(-1.0 + 1.5 * trait + 0.8 * own)))
    return x, y, users


def test_the_within_user_fit_credits_own_deliveries_not_what_separates_users() -> None:
    """The user-only signal gets ~0 weight, the own-deliveries signal its true 0.8; a logistic regression
    pooled over deliveries (what the job fitted before) credits the user-only signal heavily."""
    x, y, users = _propensity_world()
    d, wt, _ = _pairs(x, y, users)
    w, sd = learning.fit_pairs(d, wt, np.zeros(2))
    assert w[0] < 0.25, w
    assert w[1] == pytest.approx(0.8, abs=0.2), w
    assert np.all(np.isfinite(sd)) and np.all(sd > 0)
    pooled = LogisticRegression(C=1e6).fit(x, y).coef_[0]
    assert pooled[0] > 0.7, "pooled over users the user-only signal passes for a reason to pick an asset"


def test_the_within_user_fit_holds_the_rate_signals_at_their_calibration() -> None:
    """Signal 0 is a log rate (held at 1 as an offset); signal 1 a heuristic the fit scales relative to it,
    on the per-delivery log-odds scale, whatever each user's own propensity."""
    rng = np.random.default_rng(7)
    n_users, each = 600, 10
    users = np.repeat(np.arange(n_users), each)
    propensity = np.repeat(rng.normal(0, 1, n_users), each)
    log_rate = np.log(rng.uniform(0.02, 0.4, users.size))
    extra = rng.normal(0, 1, users.size)
    y = rng.random(users.size) < 1 / (1 + np.exp(-(propensity + log_rate + 0.5 * extra)))
    d, wt, _ = _pairs(np.column_stack([log_rate, extra]), y, users)
    w, sd = learning.fit_pairs(d, wt, np.array([1.0, 0.0]), fixed=np.array([True, False]))
    assert w[0] == 1.0 and sd[0] == 0.0
    assert w[1] == pytest.approx(0.5, abs=0.15) and sd[1] > 0


def test_small_data_cannot_swing_the_within_user_fit() -> None:
    """Three users whose one engaged delivery each is perfectly separated by signal 0: the unpenalised fit
    would send its weight to infinity; the pull towards the prior keeps it near, with a wide deviation."""
    d = np.array([[2.0], [2.0], [2.0]])
    w, sd = learning.fit_pairs(d, np.ones(3), np.array([0.1]))
    assert 0.1 < w[0] < 1.0 and sd[0] > 0.3, (w, sd)


def test_without_pairs_the_fit_is_the_prior() -> None:
    w, sd = learning.fit_pairs(np.zeros((0, 2)), np.zeros(0), np.array([0.1, 0.3]))
    assert w == pytest.approx([0.1, 0.3]) and np.all(np.isfinite(sd))


def test_scored_in_the_earlier_request_a_signal_built_from_past_outcomes_is_not_penalised() -> None:
    """Signal 0 counts the user's own earlier engagements (as the hub's per-user rates are built from them)
    and truly raises engagement; signal 1 is the asset's merit. Each delivery scored in its own request,
    the user's engaged deliveries rank *below* the ignored ones on signal 0 (given how often a user engaged,
    the others had one more engagement before them: Nickell's bias), and the sum ranks pairs barely above
    chance. Both scored in the earlier request — what ``replay_deliveries`` pairs — neither outcome is in
    either score: the pairs rank right and the fit recovers the merit's true weight."""
    rng = np.random.default_rng(2)
    own_time: list[np.ndarray] = []
    earlier: list[np.ndarray] = []
    for _ in range(500):
        merit = rng.normal(0, 1, 8)  # each delivery's asset: exogenous merit
        engaged = np.zeros(8, dtype=bool)
        for t in range(8):
            p = 1 / (1 + np.exp(-(-1.5 + 0.3 * engaged[:t].sum() + 0.5 * merit[t])))
            engaged[t] = rng.random() < p
        past = np.array([engaged[:t].sum() for t in range(8)], dtype=float)
        for i in range(8):
            for j in range(i + 1, 8):
                if engaged[i] == engaged[j]:
                    continue
                sign = 1.0 if engaged[i] else -1.0
                # signal 0: engagements before the request; signal 1: the asset's merit
                own_time.append(sign * np.array([past[i] - past[j], merit[i] - merit[j]]))
                earlier.append(sign * np.array([0.0, merit[i] - merit[j]]))  # one request: same past count
    past_only = np.array([1.0, 0.0])
    assert learning.pair_auc(np.array(own_time), past_only) < 0.45
    both = np.array([1.0, 1.0])
    assert learning.pair_auc(np.array(earlier), both) > learning.pair_auc(np.array(own_time), both)
    w, _ = learning.fit_pairs(np.array(earlier), np.full(len(earlier), 0.25), np.zeros(2))
    assert w[1] == pytest.approx(0.5, abs=0.15), w


def test_a_gain_within_noise_is_no_gain() -> None:
    """Weights that rank held-out pairs only by chance better than the ones in use do not beat them by more
    than the standard error of the difference; a real signal does."""
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(150), 8)
    x = rng.normal(0, 1, (users.size, 3))
    y = rng.random(users.size) < 1 / (1 + np.exp(-(-1.5 + 1.5 * x[:, 0])))
    d, _, who = _pairs(x, y, users)
    old, noise, real = np.array([0.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.3]), np.array([1.0, 0.0, 0.0])
    gain = learning.pair_auc(d, real) - learning.pair_auc(d, old)
    assert gain > learning.pair_auc_gain_se(d, who, real, old) > 0
    gain = learning.pair_auc(d, noise) - learning.pair_auc(d, old)
    assert abs(gain) <= 2 * learning.pair_auc_gain_se(d, who, noise, old)
    assert learning.pair_auc_gain_se(d, who, noise, old) > 0.005


def test_pair_auc_counts_ties_half() -> None:
    d = np.array([[1.0], [0.0], [-1.0], [2.0]])
    assert learning.pair_auc(d, np.array([1.0])) == pytest.approx((1.0 + 0.5 + 0.0 + 1.0) / 4)
    assert learning.pair_auc(d, np.array([np.nan])) == 0.0
    assert learning.pair_auc(np.zeros((0, 1)), np.array([1.0])) == 0.0


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
    """Pooled over users the user-level signal ranks engagement far better than the signal that orders each
    user's own deliveries; compared within users it ties every pair and loses, and adding it to the
    own-deliveries signal changes no user's order, so it gains nothing."""
    x, y, users = _users_apart_world()
    apart, own, both = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.73, 1.0])
    assert roc_auc_score(y, x @ apart) > roc_auc_score(y, x @ own) + 0.1
    d, _, who = _pairs(x, y, users)
    assert learning.pair_auc(d, apart) == pytest.approx(0.5)
    gain = learning.pair_auc(d, own) - learning.pair_auc(d, apart)
    assert gain > learning.pair_auc_gain_se(d, who, own, apart) > 0
    gain = learning.pair_auc(d, both) - learning.pair_auc(d, own)
    assert gain == pytest.approx(0.0) and not gain > learning.pair_auc_gain_se(d, who, both, own)


def test_an_opened_delivery_not_clicked_counts_against_its_topic_like_one_never_opened() -> None:
    """The rate posterior's successes are decisions (``engagement.RATE_WEIGHTS``): topic "a" delivered and
    opened, "b" delivered and never opened — the same evidence against each; "c" clicked rates above both and
    "d" muted below; the open still counts in the interest weights."""
    ts = "2026-01-05T10:00:00+00:00"
    assets = {t: {"id": t, "content_type": "practical", "tags": [], "topic": t} for t in "abcd"}
    evs = [{"type": "delivered", "user_id": "u", "asset_id": t, "channel": "sms", "ts": ts} for t in "abcd"]
    evs += [{"type": k, "user_id": "u", "asset_id": t, "channel": "sms", "ts": ts} for k, t in (("open", "a"),)]
    evs += [{"type": k, "user_id": "u", "asset_id": "c", "channel": "sms", "ts": ts} for k in ("open", "click")]
    evs += [{"type": "mute", "user_id": "u", "asset_id": "d", "channel": "sms", "ts": ts}]
    raw = next(f for c, key, f in engagement.counter_deltas(evs, assets, 30.0) if c == "profile" and key == "u")
    fields = engagement.read_decayed(raw, from_iso(ts), 30.0)
    e = np.array([[fields.get(f"e:o:{t}", 0.0) for t in "abcd"]])
    g = np.array([[fields.get(f"g:o:{t}", 0.0) for t in "abcd"]])
    a, b, has = scoring.rate_posterior_rows(e, g, np.full(5, 0.1))
    mean = (a / (a + b))[0]
    assert has[0]
    assert mean[0] == pytest.approx(mean[1])
    assert mean[0] == pytest.approx((4 * 0.1) / (4 + 1))  # one failed delivery on the prior of 4
    assert mean[2] > mean[0] > mean[3]
    assert fields["o:a"] > 0  # the open is interest, not engagement
