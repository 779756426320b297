"""Sample ratio mismatch (SRM): are units arriving in the proportions the experiment configured?

Why it matters: when a 50/50 experiment shows 52/48, something between assignment and
logging is dropping or duplicating units in one arm (a crash in one variant's code path, a bot
filter, a cache). Every other number in the report is then suspect, so the report must say so
before it says anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

SRM_WARN_P = 0.001
"""Warn below this p-value: strict, because SRM is checked on every experiment on every view."""


@dataclass(frozen=True, slots=True)
class SrmResult:
    chi_square: float
    p_value: float
    expected: tuple[float, ...]
    warn: bool


def srm_check(observed: Sequence[int], weights: Sequence[float], threshold: float = SRM_WARN_P) -> SrmResult:
    """Pearson chi-square goodness of fit of observed unit counts to the configured weights:

        E_i = N · w_i / Σw,   χ² = Σ (O_i − E_i)² / E_i,   p = P(χ²_{k−1} > χ²)

    over the k variants with positive weight. Units observed in a zero-weight variant cannot
    happen by chance, so they give p = 0. ``warn`` is ``p < threshold``.
    """
    if len(observed) != len(weights):
        raise ValueError(f"observed has {len(observed)} variants but weights has {len(weights)}")
    if any(o < 0 for o in observed):
        raise ValueError(f"observed counts must be >= 0, got {list(observed)}")
    if any(not (w >= 0) for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive total, got {list(weights)}")
    total_units = float(sum(observed))
    total_weight = float(sum(weights))
    expected = tuple(total_units * w / total_weight for w in weights)
    if total_units == 0:
        return SrmResult(chi_square=0.0, p_value=1.0, expected=expected, warn=False)
    if any(o > 0 and w == 0 for o, w in zip(observed, weights, strict=True)):
        return SrmResult(chi_square=float("inf"), p_value=0.0, expected=expected, warn=True)
    pairs = [(o, e) for o, e, w in zip(observed, expected, weights, strict=True) if w > 0]
    if len(pairs) < 2:
        return SrmResult(chi_square=0.0, p_value=1.0, expected=expected, warn=False)
    chi_square = sum((o - e) ** 2 / e for o, e in pairs)
    p_value = float(sps.chi2.sf(chi_square, df=len(pairs) - 1))
    return SrmResult(chi_square=chi_square, p_value=p_value, expected=expected, warn=p_value < threshold)
