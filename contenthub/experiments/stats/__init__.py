"""Experiment statistics: pure functions over per-variant sufficient statistics, no I/O.

Where a p-value comes from: ``frequentist.py``; chance to beat control: ``bayesian.py``;
traffic-split health: ``srm.py``; the per-metric report row and its sentence: ``summary.py``.
"""

from contenthub.experiments.stats.bayesian import (
    DEFAULT_PRIOR,
    BayesianResult,
    NormalPrior,
    bayesian_test,
    chance_to_beat_control,
    expected_loss,
)
from contenthub.experiments.stats.frequentist import (
    FrequentistResult,
    benjamini_hochberg,
    holm,
    ratio_test,
    sequential_test,
    welch_t_test,
)
from contenthub.experiments.stats.srm import SrmResult, srm_check
from contenthub.experiments.stats.sufficient import (
    CupedStats,
    MeanStats,
    RatioStats,
    Suff,
    cuped_stats,
)
from contenthub.experiments.stats.summary import Comparison, compare, plain_language

__all__ = [
    "DEFAULT_PRIOR",
    "BayesianResult",
    "Comparison",
    "CupedStats",
    "FrequentistResult",
    "MeanStats",
    "NormalPrior",
    "RatioStats",
    "SrmResult",
    "Suff",
    "bayesian_test",
    "benjamini_hochberg",
    "chance_to_beat_control",
    "compare",
    "cuped_stats",
    "expected_loss",
    "holm",
    "plain_language",
    "ratio_test",
    "sequential_test",
    "srm_check",
    "welch_t_test",
]
