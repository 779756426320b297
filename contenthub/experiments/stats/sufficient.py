"""Sufficient statistics per variant: the only numbers the tests need from the event store.

Why sums instead of raw values: a report over millions of units is one ``GROUP BY variant``
returning n, sum and sum of squares (plus denominator sums and cross-products for ratio
metrics); the statistics never touch per-unit rows, and results from several shards add up.

All variances are sample variances (divisor ``n - 1``), so a Welch test on these sums equals
``scipy.stats.ttest_ind(equal_var=False)`` on the raw values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Relative slack for the Cauchy-Schwarz sanity checks; sums of floats are not exact.
_SLACK = 1e-9


def _check_count(n: int) -> None:
    if n < 0 or int(n) != n:
        raise ValueError(f"n must be a whole number >= 0, got {n}")


def _sample_variance(n: int, total: float, total_squares: float) -> float:
    """``(sum_squares - sum**2 / n) / (n - 1)``, clipped at 0 against float round-off."""
    if n < 2:
        return math.nan
    return max((total_squares - total * total / n) / (n - 1), 0.0)


@dataclass(frozen=True, slots=True)
class MeanStats:
    """One variant of a per-unit metric (clicks per user, revenue per user, converted yes/no).

    ``sum`` is Σy over units and ``sum_squares`` is Σy². A binomial (0/1) metric is the special
    case ``sum == sum_squares == number of successes``; build it with :meth:`binomial`.
    """

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        if self.sum_squares < 0:
            raise ValueError(f"sum_squares must be >= 0, got {self.sum_squares}")
        # Cauchy-Schwarz: (Σy)² <= n Σy². Violations mean swapped or mixed-up fields.
        if self.sum * self.sum > self.n * self.sum_squares * (1 + _SLACK) + _SLACK:
            raise ValueError(
                f"inconsistent sums: sum**2={self.sum**2:g} exceeds n*sum_squares={self.n * self.sum_squares:g}; "
                "check that sum and sum_squares are not swapped"
            )

    @classmethod
    def from_values(cls, values: Sequence[float] | np.ndarray) -> MeanStats:
        """Sufficient statistics of raw per-unit values (for tests and small in-memory reports)."""
        y = np.asarray(values, dtype=float)
        return cls(n=int(y.size), sum=float(y.sum()), sum_squares=float(np.dot(y, y)))

    @classmethod
    def binomial(cls, n: int, successes: int) -> MeanStats:
        """A 0/1 metric: ``successes`` of ``n`` units converted (so Σy = Σy² = successes)."""
        if not 0 <= successes <= n:
            raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
        return cls(n=n, sum=float(successes), sum_squares=float(successes))

    @property
    def mean(self) -> float:
        """ȳ = Σy / n (NaN for an empty variant)."""
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Sample variance s² = (Σy² − (Σy)²/n) / (n − 1)."""
        return _sample_variance(self.n, self.sum, self.sum_squares)

    @property
    def estimate(self) -> float:
        """The quantity compared between variants: the mean."""
        return self.mean

    @property
    def estimate_variance(self) -> float:
        """Squared standard error of the mean, s² / n."""
        return self.variance / self.n if self.n else math.nan

    @property
    def is_binary(self) -> bool:
        """True when the sums are consistent with 0/1 data (Σy = Σy² <= n)."""
        return self.sum == self.sum_squares and 0 <= self.sum <= self.n


@dataclass(frozen=True, slots=True)
class RatioStats:
    """One variant of a ratio metric Σy / Σx over units (clicks per delivery, revenue per order).

    The randomisation unit (user) differs from the analysis unit (delivery), so deliveries of
    one user are correlated; the delta method below accounts for that, a naive binomial on
    deliveries would not. ``sum``/``sum_squares`` describe the numerator y, ``denominator_*``
    the denominator x, and ``sum_cross_products`` is Σxy.
    """

    n: int
    sum: float
    sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    sum_cross_products: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        if self.sum_squares < 0 or self.denominator_sum_squares < 0:
            raise ValueError("sum_squares and denominator_sum_squares must be >= 0")
        # Cauchy-Schwarz: (Σxy)² <= Σx² Σy².
        bound = self.sum_squares * self.denominator_sum_squares
        if self.sum_cross_products**2 > bound * (1 + _SLACK) + _SLACK:
            raise ValueError("inconsistent sums: sum_cross_products**2 exceeds sum_squares*denominator_sum_squares")

    @classmethod
    def from_values(
        cls, numerators: Sequence[float] | np.ndarray, denominators: Sequence[float] | np.ndarray
    ) -> RatioStats:
        """Sufficient statistics of per-unit (numerator, denominator) pairs."""
        y = np.asarray(numerators, dtype=float)
        x = np.asarray(denominators, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"numerators and denominators differ in length: {y.size} vs {x.size}")
        return cls(
            n=int(y.size),
            sum=float(y.sum()),
            sum_squares=float(np.dot(y, y)),
            denominator_sum=float(x.sum()),
            denominator_sum_squares=float(np.dot(x, x)),
            sum_cross_products=float(np.dot(x, y)),
        )

    @property
    def numerator(self) -> MeanStats:
        return MeanStats(self.n, self.sum, self.sum_squares)

    @property
    def denominator(self) -> MeanStats:
        return MeanStats(self.n, self.denominator_sum, self.denominator_sum_squares)

    @property
    def covariance(self) -> float:
        """Sample covariance of (y, x): (Σxy − ΣyΣx/n) / (n − 1)."""
        if self.n < 2:
            return math.nan
        return (self.sum_cross_products - self.sum * self.denominator_sum / self.n) / (self.n - 1)

    @property
    def ratio(self) -> float:
        """R = Σy / Σx (NaN when the denominator sums to 0)."""
        return self.sum / self.denominator_sum if self.denominator_sum else math.nan

    @property
    def estimate(self) -> float:
        """The quantity compared between variants: the ratio."""
        return self.ratio

    @property
    def estimate_variance(self) -> float:
        """Delta-method variance of R = ȳ / x̄ (first-order Taylor expansion around the means):

            Var(R) ≈ (1/n) · [ s_y² / x̄² − 2 ȳ s_xy / x̄³ + ȳ² s_x² / x̄⁴ ]

        Exact in the limit of large n; the usual choice for ratio metrics (Deng et al. 2018,
        "Applying the Delta Method in Metric Analytics").
        """
        if self.n < 2 or self.denominator_sum == 0:
            return math.nan
        mean_y = self.sum / self.n
        mean_x = self.denominator_sum / self.n
        var_y = self.numerator.variance
        var_x = self.denominator.variance
        value = (var_y / mean_x**2 - 2 * mean_y * self.covariance / mean_x**3 + mean_y**2 * var_x / mean_x**4) / self.n
        return max(value, 0.0)


@dataclass(frozen=True, slots=True)
class CupedStats:
    """One variant of a per-unit metric y adjusted by the same metric x in the pre-period (CUPED,
    Deng et al. 2013; GrowthBook's ``RegressionAdjustedStatistic``):

        ỹ = ȳ − θ (x̄ − x̄_pooled),   θ = Cov(y, x) / Var(x) pooled over every variant

        Var(ỹ) ≈ ( s_y² + θ² s_x² − 2 θ s_xy ) / n

    Centering on the pooled pre-period mean keeps ỹ an estimate of the variant's own mean (GrowthBook
    subtracts θ x̄ without centering; differences between variants are the same). Randomisation makes
    x independent of the variant, so the adjustment removes noise, not effect; the variance falls by
    about ρ²(y, x). θ is treated as known, as in GrowthBook.
    """

    post: MeanStats
    pre: MeanStats
    sum_cross_products: float
    """Σ x·y over the variant's units."""
    theta: float
    pre_center: float

    @property
    def n(self) -> int:
        return self.post.n

    @property
    def covariance(self) -> float:
        if self.n < 2:
            return math.nan
        return (self.sum_cross_products - self.post.sum * self.pre.sum / self.n) / (self.n - 1)

    @property
    def variance(self) -> float:
        """Per-unit variance of the adjusted metric, s_y² + θ² s_x² − 2 θ s_xy (clipped at 0)."""
        if self.n < 2:
            return math.nan
        return max(self.post.variance + self.theta**2 * self.pre.variance - 2 * self.theta * self.covariance, 0.0)

    @property
    def estimate(self) -> float:
        return self.post.mean - self.theta * (self.pre.mean - self.pre_center) if self.n else math.nan

    @property
    def estimate_variance(self) -> float:
        return self.variance / self.n if self.n else math.nan

    @property
    def is_binary(self) -> bool:
        return self.post.is_binary


def cuped_theta(posts: Sequence[MeanStats], pres: Sequence[MeanStats], cross: Sequence[float]) -> tuple[float, float]:
    """(θ, pooled pre-period mean) from every variant together: θ = Cov(y, x) / Var(x) over the pooled
    units. θ = 0 when the pre-period has no variance (no unit had pre-period data): nothing to adjust."""
    n = sum(p.n for p in posts)
    if n < 2:
        return 0.0, 0.0
    sy, sx = sum(p.sum for p in posts), sum(p.sum for p in pres)
    var_x = _sample_variance(n, sx, sum(p.sum_squares for p in pres))
    if not var_x > 0:
        return 0.0, sx / n
    cov = (sum(cross) - sy * sx / n) / (n - 1)
    return cov / var_x, sx / n


def cuped_stats(posts: Sequence[MeanStats], pres: Sequence[MeanStats], cross: Sequence[float]) -> list[CupedStats]:
    """Adjusted statistics for every variant with one pooled θ (see :class:`CupedStats`)."""
    theta, center = cuped_theta(posts, pres, cross)
    return [
        CupedStats(post=p, pre=x, sum_cross_products=c, theta=theta, pre_center=center)
        for p, x, c in zip(posts, pres, cross, strict=True)
    ]


def variance_reduction(stats: Sequence[CupedStats]) -> float | None:
    """1 − Σ n·Var(adjusted) / Σ n·Var(unadjusted): the share of variance CUPED removed (≈ ρ²)."""
    raw = sum(s.post.variance * s.n for s in stats if s.n >= 2)
    adjusted = sum(s.variance * s.n for s in stats if s.n >= 2)
    if not raw > 0:
        return None
    return 1.0 - adjusted / raw


Suff = MeanStats | RatioStats | CupedStats
"""Sufficient statistics of one variant, for any metric kind."""
