"""Engagement rates as Beta posteriors, shrunk level by level: brand → topic (or content type) → asset / user.

Pure functions over sufficient statistics (successes and deliveries per asset), in the manner of
``experiments/stats``. Why a hierarchy: a young hub knows little about one user or one asset, but it
already knows how the whole brand and each of its topics fares. Shrinking a user's rate on a topic
towards the population's rate on that topic (not towards one brand-wide number) is what makes a cold
user start on the topics people engage with, and an asset's rate towards its topic's rate is
"popularity within the topic": a new asset on a well-liked topic starts where that topic stands.

Units: a success is a click (a conversion counts as two, the asset statistics' ``quality_inputs``),
capped at one per delivery so that a rate stays a probability.

Scores use the logarithm of a rate relative to a reference (``log_lift``): the log of a product of
factors is a sum, so a user's topic rate, the user's content-type lift and the asset's lift within its
topic add up to the log of the expected rate — and the conditional logit the learning job fits
(``learning.fit``) is well specified when its features are log rates (weight 1 = "proportional to the
rate"), whatever the world.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import betaln

RATE_PRIOR_RATE = 0.1
"""The engagement rate (clicks per delivery) assumed before the brand has any statistics."""
BRAND_PRIOR_DELIVERIES = 50.0
"""Pseudo-deliveries at ``RATE_PRIOR_RATE`` behind the brand's rate, and at the brand's rate behind each
topic's or type's population rate (a young hub's few clicks are not its rate)."""
RATE_FLOOR = 1e-3
"""Rates are floored here before their logarithm (a Beta draw can be 1e-9: 'never' is not a score)."""
STRENGTH_DEFAULT = 20.0
"""Pseudo-deliveries behind an asset's rate when the data cannot estimate it (``eb_strength``)."""
STRENGTH_BOUNDS = (2.0, 1000.0)
EB_MIN_ASSETS = 10
"""Assets with deliveries needed before the spread between assets is estimated from the data."""


def brand_rate(success: np.ndarray, delivered: np.ndarray) -> float:
    """Successes per delivery over everything, shrunk to ``RATE_PRIOR_RATE`` and clipped to [0.01, 0.9]."""
    s = np.minimum(success, delivered)
    rate = (float(s.sum()) + BRAND_PRIOR_DELIVERIES * RATE_PRIOR_RATE) / (
        float(delivered.sum()) + BRAND_PRIOR_DELIVERIES
    )
    return float(np.clip(rate, 0.01, 0.9))


def slot_rates(
    success: np.ndarray, delivered: np.ndarray, slot_of_row: np.ndarray, slots: int, base: float
) -> np.ndarray:
    """Population rate of each slot (topic or content type; ``slots`` of them plus the last "none" slot):
    (Σ successes + n₀·base) / (Σ deliveries + n₀) over the slot's assets, n₀ = ``BRAND_PRIOR_DELIVERIES``.
    The "none" slot stays at ``base``."""
    s = np.minimum(success, delivered)
    size = slots + 1
    succ = np.bincount(slot_of_row, weights=s, minlength=size)[:size]
    deliv = np.bincount(slot_of_row, weights=delivered, minlength=size)[:size]
    out = (succ + BRAND_PRIOR_DELIVERIES * base) / (deliv + BRAND_PRIOR_DELIVERIES)
    out[-1] = base
    return np.clip(out, 0.005, 0.95)


def eb_strength(success: np.ndarray, delivered: np.ndarray, prior_mean: np.ndarray) -> float:
    """Empirical-Bayes prior strength m (pseudo-deliveries) of the Beta(m·p, m·(1−p)) that the rates of
    assets (or of audiences on a topic) are drawn from around their prior means p: the m that maximises
    the beta-binomial marginal likelihood Σᵢ [ln B(m·pᵢ + sᵢ, m·(1−pᵢ) + fᵢ) − ln B(m·pᵢ, m·(1−pᵢ))]
    (type-II maximum likelihood), searched on log m within ``STRENGTH_BOUNDS``.

    Why the likelihood and not the method of moments: deliveries are chosen adaptively (a topic is sent
    again after a click, dropped after a miss), which biases moment estimates of the spread (they came out
    negative on a simulated deployment), while the likelihood of what was observed ignores the stopping
    rule (the likelihood principle). Rates that really differ give a weak prior (their own deliveries soon
    speak); rates that differ only by chance give a strong one (no exploration is spent on noise). Fewer
    than ``EB_MIN_ASSETS`` units with deliveries: ``STRENGTH_DEFAULT``."""
    seen = delivered > 0
    if int(seen.sum()) < EB_MIN_ASSETS:
        return STRENGTH_DEFAULT
    d = delivered[seen]
    s = np.minimum(success[seen], d)
    f = d - s
    p = np.clip(prior_mean[seen], 1e-4, 1 - 1e-4)

    def negative_log_likelihood(log_m: float) -> float:
        m = math.exp(log_m)
        a, b = m * p, m * (1 - p)
        return -float(np.sum(betaln(a + s, b + f) - betaln(a, b)))

    lo, hi = STRENGTH_BOUNDS
    res = minimize_scalar(
        negative_log_likelihood, bounds=(math.log(lo), math.log(hi)), method="bounded", options={"xatol": 1e-3}
    )
    return float(np.clip(math.exp(float(res.x)), lo, hi))


def posterior(
    success: np.ndarray, delivered: np.ndarray, prior_mean: np.ndarray | float, strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Beta(α, β) of each rate: α = m·p + s, β = m·(1 − p) + (d − s), successes capped at deliveries."""
    s = np.minimum(success, delivered)
    return strength * prior_mean + s, strength * (1 - np.asarray(prior_mean)) + np.maximum(delivered - s, 0.0)


def log_lift(rate: np.ndarray | float, reference: np.ndarray | float) -> np.ndarray:
    """log(rate / reference), the rate floored at ``RATE_FLOOR``: the unit every rate signal is scored in."""
    return np.log(np.maximum(rate, RATE_FLOOR)) - np.log(reference)
