"""The scoring core that per-user, per-group and batch picks share: what each path must compute the same way.

Owned here, vectorised over one audience or a block of audiences (rows):
- the engagement-rate signals (topic, content type): a Beta posterior of "engaged per delivery" per topic
  or type from an audience's decayed exposure (``e:``) and engagement (``g:``) weights
  (``rate_posterior_rows``), a Thompson draw or the mean of it (``rate_draw``) and its value on each
  candidate (``rate_signal``). ``profiles`` (one profile's counters), ``ranking.score_candidates`` (one
  request) and ``batch`` (blocks of users, from the event log) all call these.

The raw similarity, affinity and collaborative values are ``raw_signals.raw_values``: one request is its
block of one (``ranking.raw_values``), the batch its blocks of users.

The rules every path applies, one implementation each, and where they live:
- candidates (channel, scene, validity, exclusions): ``ranking.candidate_rows`` / ``ranking.candidate_mask``;
- exclusions: an asset the audience muted or deleted, a channel it left (among its newest
  ``profiles.NEGATIVES_LIMIT`` negative events), an asset sent to it on the channel within the re-delivery
  window (among its history: ``profiles.HISTORY_*``; ``redelivery_cutoff``): ``audience.exclusions``, one
  rule each over event columns, which one request applies to its profile's events and the batch to a
  block's event columns;
- caps, deliveries and reserved sends: ``caps.counted_sends`` then ``caps.capped_targets``;
- lifecycle stage: ``lifecycle.stages_of``;
- a group's audience: its kept profile, ``group_profiles`` and ``audiences.group_audience``.
``tests/test_recommend_batch.py`` runs the same users through the per-user and the batch path with
exploration off (``exploration: false`` on the strategy) and asserts identical picks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from contenthub.audience.engagement import EVENT_WEIGHTS
from contenthub.hub import Hub
from contenthub.recommend.rates import log_lift


def redelivery_cutoff(hub: Hub, now: datetime) -> datetime:
    """The earliest send that still keeps its asset from being sent again (``redelivery_window_days``)."""
    return now - timedelta(days=hub.settings.redelivery_window_days)


RATE_PRIOR_DELIVERIES = 4.0
"""Pseudo-deliveries behind an audience's rate on each topic and type, at the population's rate on it, until
the learning job has estimated how much audiences really differ (``Strategy.rate_prior``)."""


def rate_posterior_rows(
    exposure: np.ndarray, engagement: np.ndarray, prior_mean: np.ndarray, strength: float = RATE_PRIOR_DELIVERIES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(α, β, has evidence) per row: Beta(α, β) of engagement per delivery on each name (plus a last "none"
    slot at the prior), in click units — successes = decayed engagement weight / the weight of a click
    (``engagement.RATE_WEIGHTS``: a conversion counts double, an open not at all — opened and not clicked is
    a failure like never opened), failures = decayed deliveries − successes (≥ 0),
    plus, where mutes and deletes outweigh the engagement (a negative weight), that weight in clicks: a
    mute says more against a topic than a delivery that was not opened.
    ``exposure``/``engagement``: (rows × names) decayed ``e:``/``g:`` weights. The prior of each name is
    the population's rate on it (``prior_mean``: names + 1 values, ``audiences.population_rates``) worth
    ``strength`` deliveries — a hierarchical model: an audience without evidence starts where the
    population stands on each topic, and its own deliveries soon outweigh that. ``has``: whether a row
    has any evidence of its own (rows without keep the prior, which still ranks)."""
    unit = EVENT_WEIGHTS["click"]
    rows, k = exposure.shape
    a = np.empty((rows, k + 1))
    b = np.empty((rows, k + 1))
    s = np.maximum(np.divide(engagement, unit, out=a[:, :k]), 0.0, out=a[:, :k])
    np.maximum(np.subtract(exposure, s, out=b[:, :k]), 0.0, out=b[:, :k])
    # a mute or delete outweighing the engagement on a name counts as that many failed deliveries more
    b[:, :k] += np.maximum(-engagement / unit, 0.0)
    a[:, k] = 0.0
    b[:, k] = 0.0
    a += strength * prior_mean
    b += strength * (1 - prior_mean)
    has = exposure.any(axis=1) | engagement.any(axis=1)
    return a, b, has


def with_strength(
    a: np.ndarray, b: np.ndarray, prior: tuple[np.ndarray, np.ndarray] | None, strength: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """The posterior (α, β) with its prior (α₀, β₀) re-weighted to ``strength`` pseudo-deliveries (same
    prior means): the strategy's estimate of how much audiences really differ on this signal
    (``Strategy.rate_prior``, from the learning job); without one, the posterior as it is."""
    if strength is None or prior is None:
        return a, b
    a0, b0 = prior
    scale = strength / np.maximum(a0 + b0, 1e-12)
    return a - a0 + a0 * scale, b - b0 + b0 * scale


def rate_draw(a: np.ndarray, b: np.ndarray, explore: bool, rng: np.random.Generator | None) -> np.ndarray:
    """Each slot's rate: a Thompson draw from its Beta posterior when exploring (one per topic, not per
    asset; ``rng`` is then required), else the posterior mean."""
    if explore:
        if rng is None:
            raise ValueError("exploring needs a random generator")
        return rng.beta(a, b)
    return a / (a + b)


def rate_signal(drawn: np.ndarray, slots: np.ndarray, reference: float | np.ndarray) -> np.ndarray:
    """The signal on each candidate: its slot's rate as a log lift over ``reference`` (the brand's rate, the
    prior of the "none" slot: ``rates.log_lift``). ``drawn``: one audience's (slots,) or a block's
    (rows × slots) rates; ``reference``: a number, or one per row (rows × 1).

    Why a log rate: the signals of the topic, the type and the asset's appeal then add up to the log of
    the expected rate, and the learning job's models are specified in that unit (``recommend/rates.py``).
    Not scaled by the candidates' min and max: stretching a cold audience's few nearly equal draws to
    [0, 1] turned prior noise into the largest signal of the request."""
    return log_lift(np.take(drawn, slots, axis=-1), reference)
