"""Send fatigue: how open and mute rates move with the number of sends a user gets on a channel in a week.

Unit: a (user, week) with at least one delivery on the channel, over complete weeks. Open rate is opens
per delivery (each delivery opened at most once); mute rate is the share of those user-weeks with a
mute or unsubscribe on the channel. Intervals are 95% Wilson score intervals (scipy's binomtest).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest, fisher_exact

from contenthub.dashboard.models import Fatigue, FatigueBin
from contenthub.dashboard.rollup import Rollup
from contenthub.i18n import _
from contenthub.labels import label

TOP_BIN = 7  # the last bin holds 7 or more sends per week
MIN_USER_WEEKS = 20  # a bin needs this many user-weeks before it can mark where mutes rise
RISE_P = 0.05  # one-sided Fisher exact test: a bin's mute rate above the one-send rate


def _wilson(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return round(float(ci.low), 4), round(float(ci.high), 4)


def fatigue(r: Rollup, channel: str) -> Fatigue:
    s = r.sends.get(channel)
    complete = s.week < r.n_weeks - 1 if s is not None else None
    if s is None or not complete.any():  # type: ignore[union-attr]
        return Fatigue(
            channel=channel,
            bins=[],
            mutes_rise_at=None,
            missing=_("No deliveries on {channel} in a complete week yet, so there is no send rate to compare.").format(
                channel=label("channel", channel)
            ),
        )
    sends, opens, mutes = s.sends[complete], np.minimum(s.opens[complete], s.sends[complete]), s.mutes[complete] > 0
    binned = np.minimum(sends, TOP_BIN)
    bins: list[FatigueBin] = []
    muted: list[int] = []
    for b in range(1, TOP_BIN + 1):
        m = binned == b
        n = int(m.sum())
        if not n:
            continue
        d, o, k = int(sends[m].sum()), int(opens[m].sum()), int(mutes[m].sum())
        olo, ohi = _wilson(o, d)
        mlo, mhi = _wilson(k, n)
        muted.append(k)
        bins.append(
            FatigueBin(
                sends_per_week=f"{b}+" if b == TOP_BIN else str(b),
                user_weeks=n,
                sends=d,
                open_rate=round(o / d, 4),
                open_low=olo,
                open_high=ohi,
                mute_rate=round(k / n, 4),
                mute_low=mlo,
                mute_high=mhi,
            )
        )
    return Fatigue(channel=channel, bins=bins, mutes_rise_at=_rise(bins, muted))


def _rise(bins: list[FatigueBin], muted: list[int]) -> int | None:
    """The fewest sends per week whose mute rate is higher than the one-send rate: one-sided Fisher exact test
    at RISE_P on the user-weeks with and without a mute, both bins holding MIN_USER_WEEKS user-weeks."""
    if not bins or bins[0].sends_per_week != "1" or bins[0].user_weeks < MIN_USER_WEEKS:
        return None
    base, base_muted = bins[0], muted[0]
    for b, k in zip(bins[1:], muted[1:], strict=True):
        if b.user_weeks < MIN_USER_WEEKS or k / b.user_weeks <= base_muted / base.user_weeks:
            continue
        table = [[k, b.user_weeks - k], [base_muted, base.user_weeks - base_muted]]
        if fisher_exact(table, alternative="greater").pvalue < RISE_P:
            return int(b.sends_per_week.rstrip("+"))
    return None
