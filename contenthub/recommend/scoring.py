"""The scoring core that per-user, per-group and batch picks share: what each path must compute the same way.

Owned here, vectorised over one audience or a block of audiences (rows):
- the engagement-rate signals (topic, content type): a Beta posterior of "engaged per delivery" per topic
  or type from an audience's decayed exposure (``e:``) and engagement (``g:``) weights
  (``rate_posterior_rows``), a Thompson draw or the mean of it (``rate_draw``) and its value on each
  candidate (``rate_signal``). ``profiles`` (one profile's counters), ``ranking.score_candidates`` (one
  request) and ``batch`` (blocks of users, from the event log) all call these.

The rules every path applies, one implementation each, and where they live:
- candidates (channel, scene, validity, exclusions): ``ranking.candidate_rows`` / ``ranking.candidate_mask``;
- exclusions: an asset the audience muted or deleted (``BLOCKING_TYPES``, among its newest
  ``profiles.NEGATIVES_LIMIT`` negative events), or one sent to it on the channel within the
  re-delivery window (``SENT_TYPES``, ``redelivery_cutoff``, among its history: ``profiles.HISTORY_*``);
- caps, deliveries and reserved sends: ``caps.counted_sends`` then ``caps.capped_targets``;
- lifecycle stage: ``lifecycle.stages_of``;
- a group's audience: its kept profile, ``group_profiles`` and ``profiles.group_audience``.
``tests/test_recommend_batch.py`` runs the same users through the per-user and the batch path with
exploration off (``exploration: false`` on the strategy) and asserts identical picks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from contenthub.hub import Hub
from contenthub.recommend.engagement import EVENT_WEIGHTS

BLOCKING_TYPES = frozenset({"mute", "delete"})
"""Events that take their asset out of the audience's candidates for good."""
SENT_TYPES = frozenset({"delivered", "served"})
"""Events that keep their asset from being sent again on the channel within the re-delivery window."""


def redelivery_cutoff(hub: Hub, now: datetime) -> datetime:
    """The earliest send that still keeps its asset from being sent again (``redelivery_window_days``)."""
    return now - timedelta(days=hub.settings.redelivery_window_days)

RATE_FULL = 0.5
"""The engagement rate (clicks per delivery) at which a topic or type signal is 1: a full match."""
RATE_PRIOR_DELIVERIES = 4.0
"""Pseudo-deliveries behind each topic's and type's rate, at the brand's engagement rate."""


def rate_posterior_rows(exposure: np.ndarray, engagement: np.ndarray, p: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(α, β, has evidence) per row: Beta(α, β) of engagement per delivery on each name (plus a last "none"
    slot at the prior), in click units — successes = decayed engagement weight / the weight of a click
    (so a conversion counts double, an open a sixth), failures = decayed deliveries − successes (≥ 0).
    ``exposure``/``engagement``: (rows × names) decayed ``e:``/``g:`` weights. The prior is the brand's
    rate ``p`` (not the audience's own: a user who clicked one topic should see that topic above the
    untried ones, which keep only the prior's spread to be explored). A row without any exposure or
    engagement has no posterior (``has`` False)."""
    unit = EVENT_WEIGHTS["click"]
    rows, k = exposure.shape
    m = RATE_PRIOR_DELIVERIES
    a = np.empty((rows, k + 1))
    b = np.empty((rows, k + 1))
    s = np.maximum(np.divide(engagement, unit, out=a[:, :k]), 0.0, out=a[:, :k])
    np.maximum(np.subtract(exposure, s, out=b[:, :k]), 0.0, out=b[:, :k])
    a[:, :k] += m * p
    a[:, k] = m * p
    b[:, :k] += m * (1 - p)
    b[:, k] = m * (1 - p)
    has = exposure.any(axis=1) | engagement.any(axis=1)
    return a, b, has


def rate_draw(a: np.ndarray, b: np.ndarray, explore: bool, rng: np.random.Generator | None) -> np.ndarray:
    """Each slot's rate: a Thompson draw from its Beta posterior when exploring (one per topic, not per
    asset; ``rng`` is then required), else the posterior mean."""
    if explore:
        if rng is None:
            raise ValueError("exploring needs a random generator")
        return rng.beta(a, b)  # type: ignore[no-any-return]
    return a / (a + b)  # type: ignore[no-any-return]


def rate_signal(rates: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """The signal on each candidate: its slot's rate scaled by ``RATE_FULL`` and capped at 1. ``rates``:
    one audience's (slots,) or a block's (rows × slots); ``slots``: each candidate's topic (or type) slot.

    Scaled by a fixed rate, not by the candidates' min and max: stretching a cold audience's few nearly
    equal draws to [0, 1] turned prior noise into the largest signal of the request."""
    return np.minimum(np.take(rates, slots, axis=-1) / RATE_FULL, 1.0)  # type: ignore[no-any-return]
