"""Off-policy evaluation: what a strategy would have earned on traffic another policy served.

Pure functions over logged arrays, in the manner of gbstats (no I/O), checked against Open Bandit
Pipeline's estimators in tests/test_recommend_learning.py. For logged rounds i = 1..n with reward rᵢ,
logging propensity p₀ᵢ = π₀(aᵢ | xᵢ) (``Pick.propensity``, stored with the served record), target
probability pᵢ = π(aᵢ | xᵢ) and a reward model q̂:

- IPS    V = (1/n) Σ wᵢ rᵢ,                          wᵢ = pᵢ / p₀ᵢ
- SNIPS  V = Σ wᵢ rᵢ / Σ wᵢ                          (self-normalised: bounded, less variance)
- DR     V = (1/n) Σ [ q̂(xᵢ, π) + wᵢ (rᵢ − q̂(xᵢ, aᵢ)) ]   (doubly robust; q̂(x, π) = Σₐ π(a|x) q̂(x, a))
"""

from __future__ import annotations

import numpy as np


def ips(reward: np.ndarray, pscore: np.ndarray, target: np.ndarray) -> float:
    """Inverse propensity scoring."""
    if reward.size == 0:
        return float("nan")
    return float(np.mean(target / pscore * reward))


def snips(reward: np.ndarray, pscore: np.ndarray, target: np.ndarray) -> float:
    """Self-normalised inverse propensity scoring."""
    w = target / pscore
    total = float(w.sum())
    return float((w * reward).sum() / total) if total > 0 else float("nan")


def doubly_robust(
    reward: np.ndarray, pscore: np.ndarray, target: np.ndarray, q_logged: np.ndarray, q_target: np.ndarray
) -> float:
    """Doubly robust: the reward model's value of the target policy, corrected by weighted residuals.
    ``q_logged``: q̂(xᵢ, aᵢ); ``q_target``: q̂(xᵢ, π) = Σₐ π(a|xᵢ) q̂(xᵢ, a)."""
    if reward.size == 0:
        return float("nan")
    return float(np.mean(q_target + target / pscore * (reward - q_logged)))
