"""Best time to post: a 7×24 hour-of-week score per channel (and audience) from open/click events.

Why a Dirichlet posterior: most audiences have few events, and raw hour counts from a handful of opens are
noise. Each of the 168 hour-of-week cells gets pseudo-counts `prior_strength × prior_curve`, so with no
data the score is the channel's default curve (lunch and evening peaks) and with plenty of data it is the
audience's own habit. Score = posterior mean share of engagement falling in that hour:

    score[d, h] = (prior_strength · prior[d, h] + n[d, h]) / (prior_strength + N)

Rows are weekdays (0=Monday), columns local hours; the array sums to 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

# (centre hour, width in hours, weight) of the daily peaks each channel's audience tends to read at.
_PEAKS: dict[str, list[tuple[float, float, float]]] = {
    "mp_subscription": [(8.0, 1.0, 0.8), (12.5, 1.0, 1.0), (21.0, 1.5, 1.3)],
    "mp_service": [(12.5, 1.0, 1.0), (20.5, 1.5, 1.2)],
    "wecom_1v1": [(10.5, 1.5, 1.0), (15.0, 1.5, 0.8), (20.0, 1.5, 1.0)],
    "wecom_group": [(8.5, 1.0, 0.7), (12.5, 1.0, 1.0), (20.5, 1.5, 1.2)],
    "moments": [(8.0, 1.0, 0.8), (12.5, 1.0, 1.0), (21.5, 1.5, 1.4)],
    "channels": [(12.5, 1.0, 0.9), (21.0, 2.0, 1.4)],
    "xiaohongshu": [(12.0, 1.0, 0.9), (21.0, 2.0, 1.4)],
    "douyin": [(12.5, 1.0, 0.9), (21.5, 2.0, 1.5)],
    "miniprogram": [(11.0, 2.0, 1.0), (20.0, 2.0, 1.1)],
    "app_push": [(9.0, 1.0, 0.8), (12.5, 1.0, 1.0), (19.5, 1.5, 1.1)],
    "sms": [(10.5, 1.5, 1.0), (16.0, 2.0, 0.8)],
}
_FALLBACK_PEAKS = [(12.5, 1.0, 1.0), (20.5, 1.5, 1.2)]
_FLOOR = 0.05  # every hour keeps some mass so data can always move it
_NIGHT = 0.2  # 00:00–06:59 is damped: people are asleep


def prior_curve(channel: str) -> np.ndarray:
    """Default 7×24 engagement shape of a channel (sums to 1). Weekends run an hour later, mornings quieter."""
    hours = np.arange(24) + 0.5
    curve = np.empty((7, 24))
    for day in range(7):
        weekend = day >= 5
        row = np.full(24, _FLOOR)
        for centre, width, weight in _PEAKS.get(channel, _FALLBACK_PEAKS):
            if weekend:
                centre, weight = centre + 1.0, weight * (0.6 if centre < 10 else 1.0)
            row += weight * np.exp(-0.5 * ((hours - centre) / width) ** 2)
        row[:7] *= _NIGHT
        curve[day] = row * (0.9 if weekend else 1.0)
    return curve / curve.sum()


def event_counts(event_times: Iterable[datetime], tz: str) -> np.ndarray:
    """7×24 counts of events by local weekday and hour. Naive datetimes are refused: their hour is unknowable."""
    zone = ZoneInfo(tz)
    counts = np.zeros((7, 24))
    for moment in event_times:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"event time {moment.isoformat()} has no time zone; pass aware datetimes")
        local = moment.astimezone(zone)
        counts[local.weekday(), local.hour] += 1
    return counts


def best_time_scores(event_times: list[datetime], tz: str, channel: str, prior_strength: float = 50.0) -> np.ndarray:
    """Posterior mean hour-of-week share of engagement (7×24, sums to 1); see the module docstring."""
    if not prior_strength > 0:
        raise ValueError(f"prior_strength must be > 0, got {prior_strength}")
    counts = event_counts(event_times, tz)
    return (prior_strength * prior_curve(channel) + counts) / (prior_strength + counts.sum())
