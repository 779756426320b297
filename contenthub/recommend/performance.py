"""Asset performance by channel: served, delivered, opened, clicked, converted and their rates."""

from __future__ import annotations

from pydantic import BaseModel

from contenthub.audience.engagement import ALL_CHANNELS, ASSET_STATS
from contenthub.hub import Hub
from contenthub.library import taxonomy

COUNTED = ("served", "delivered", "open", "click", "convert", "mute", "unsubscribe")


class ChannelPerformance(BaseModel):
    channel: str
    counts: dict[str, int]
    revenue: float
    open_rate: float | None
    click_rate: float | None
    conversion_rate: float | None


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den > 0 else None


def asset_performance(hub: Hub, asset_id: str) -> list[ChannelPerformance]:
    """One row per channel with events, after an all-channel row (``"*"``): the sum of the channel rows
    (ingestion stores per-channel counters only; the channels are the taxonomy's)."""
    per_channel = {
        channel: c
        for channel in taxonomy.ids(hub.store, "channels")
        if (c := hub.store.get_counters(ASSET_STATS, f"{asset_id}|{channel}"))
    }
    if not per_channel:
        return []
    total: dict[str, float] = {}
    for c in per_channel.values():
        for f, v in c.items():
            total[f] = total.get(f, 0.0) + v
    return [_row(channel, c) for channel, c in {ALL_CHANNELS: total, **per_channel}.items()]


def _row(channel: str, c: dict[str, float]) -> ChannelPerformance:
    counts = {t: int(c.get(f"n:{t}", 0)) for t in COUNTED}
    d = counts["delivered"]
    return ChannelPerformance(
        channel=channel,
        counts=counts,
        revenue=round(c.get("rev", 0.0), 2),
        open_rate=_rate(counts["open"], d),
        click_rate=_rate(counts["click"], d),
        conversion_rate=_rate(counts["convert"], d),
    )
