"""What an audience's own events rule out: an asset it muted or deleted, an asset sent to it on the channel
within the re-delivery window, a channel it left.

Each rule is written once, element-wise over event columns with ``&`` and ``|``, so the same function takes
one event's Python values (a request over its profile's events: ``blocked_assets``, ``closed_channels``,
``recently_sent``) or a block's numpy event columns (``recommend.batch``, every user of a chunk at once).
Which events a rule sees is the profile's rule (``profiles``): the newest ``NEGATIVES_LIMIT`` negative events
for mutes and unsubscribes, the history window for re-deliveries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contenthub.audience.engagement import BLOCKING_TYPES

SENT_TYPES = frozenset({"delivered", "served"})
"""Sends of an asset: a delivery, or a served pick (a reserved send) not yet confirmed."""

Flags = Any
"""A bool for one event, a numpy bool array for columns of events (likewise the stamps: an ISO string or
epoch seconds per event)."""


def blocks_asset(blocking: Flags, has_asset: Flags) -> Flags:
    """A mute or delete (``BLOCKING_TYPES``) of an asset takes it out of the audience's candidates for good."""
    return blocking & has_asset


def closes_channel(unsubscribe: Flags, mute: Flags, no_asset: Flags) -> Flags:
    """An unsubscribe, or a mute that names no asset, closes the event's channel to the audience."""
    return unsubscribe | (mute & no_asset)


def blocks_resend(sent: Flags, on_channel: Flags, has_asset: Flags, ts: Flags, cutoff: Flags) -> Flags:
    """An asset sent (``SENT_TYPES``) on the channel since the re-delivery cutoff is not sent again there."""
    return sent & on_channel & has_asset & (ts >= cutoff)


def blocked_assets(negatives: Iterable[dict[str, Any]]) -> set[str]:
    """``blocks_asset`` over a profile's negative events: the asset ids it rules out."""
    return {e["asset_id"] for e in negatives if blocks_asset(e["type"] in BLOCKING_TYPES, bool(e.get("asset_id")))}


def closed_channels(negatives: Iterable[dict[str, Any]]) -> set[str]:
    """``closes_channel`` over a profile's negative events: the channels it rules out."""
    return {
        e["channel"]
        for e in negatives
        if closes_channel(e["type"] == "unsubscribe", e["type"] == "mute", not e.get("asset_id"))
    }


def recently_sent(events: Iterable[dict[str, Any]], channel: str, cutoff: str) -> set[str]:
    """``blocks_resend`` over a profile's history: the asset ids sent on ``channel`` since ``cutoff`` (ISO
    stamp, compared as the stored stamps are)."""
    return {
        e["asset_id"]
        for e in events
        if blocks_resend(e["type"] in SENT_TYPES, e["channel"] == channel, bool(e.get("asset_id")), e["ts"], cutoff)
    }
