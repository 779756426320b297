"""Profiles: what we know of a user or group right now, assembled from counters and recent events.

Tag weights come from the decayed counters (whole history, O(1) to read); the user vector and the
lifecycle stage come from the recent event log (bounded query), so the next request after an event
already reflects it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contenthub import bad_records
from contenthub.audience import exclusions, lifecycle, users
from contenthub.audience.engagement import (
    NEGATIVE,
    PROFILE,
    PROFILE_PREFIXES,
    read_decayed,
)
from contenthub.hub import Hub
from contenthub.store.query import EventQuery
from contenthub.timeutil import to_iso

HISTORY_DAYS = 180
HISTORY_LIMIT = 400
NEGATIVES_LIMIT = 500
VECTOR_EVENTS = 50


@dataclass
class Profile:
    target: str
    weights: dict[str, float]
    counts: dict[str, float]
    events: list[dict[str, Any]]
    blocked_assets: set[str]
    unsubscribed_channels: set[str]
    status: dict[str, Any] = field(default_factory=dict)

    def top_tags(self, n: int = 12) -> list[tuple[str, float]]:
        items = [(k, v) for k, v in self.weights.items() if k[:2] in PROFILE_PREFIXES]
        return sorted(items, key=lambda kv: -kv[1])[:n]


def _history(hub: Hub, q: EventQuery) -> list[dict[str, Any]]:
    return hub.store.query_events(q)


def _events_and_negatives(
    hub: Hub, who: dict[str, tuple[str, ...]], since: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events since ``since``, newest first, at most HISTORY_LIMIT; negative events of all time, at most
    NEGATIVES_LIMIT) — usually in one read.

    The newest HISTORY_LIMIT events of all time hold every event since ``since`` that the windowed
    query would return (newest first, the window is a prefix). When they are fewer than the limit they
    are the whole history, so the negatives are among them too and the second query is skipped."""
    newest = _history(hub, EventQuery(**who, limit=HISTORY_LIMIT))  # type: ignore[arg-type]
    cutoff = to_iso(since)
    events = [e for e in newest if e["ts"] >= cutoff]
    if len(newest) < HISTORY_LIMIT:
        negatives = [e for e in newest if e["type"] in NEGATIVE]
    else:
        negatives = _history(hub, EventQuery(**who, types=tuple(NEGATIVE), limit=NEGATIVES_LIMIT))  # type: ignore[arg-type]
    return events, negatives


def load_profile(
    hub: Hub,
    *,
    user_id: str | None = None,
    group_id: str | None = None,
    user_doc: dict[str, Any] | None = None,
    now: datetime,
) -> Profile:
    since = now - timedelta(days=HISTORY_DAYS)
    if user_id is not None:
        key = user_id
        events, negatives = _events_and_negatives(hub, {"user_ids": (user_id,)}, since)
    else:
        key = f"group:{group_id}"
        events, negatives = _events_and_negatives(hub, {"group_ids": (group_id or "",)}, since)
    counters = hub.store.get_counters(PROFILE, key)
    return profile_from(hub, key, events, negatives, counters, user_doc, now)


def profile_from(
    hub: Hub,
    key: str,
    events: list[dict[str, Any]],
    negatives: list[dict[str, Any]],
    counters: dict[str, float],
    user_doc: dict[str, Any] | None,
    now: datetime,
) -> Profile:
    """A profile from what ``load_profile`` reads (also what the learning job replays: the same rules
    applied to a user's events before a moment, ``learning.replay``)."""
    weights = read_decayed(counters, now, hub.settings.profile_half_life_days)
    blocked = exclusions.blocked_assets(negatives)
    unsubscribed = exclusions.closed_channels(negatives)
    rules = lifecycle.get_rules(hub)
    first_seen = bad_records.stamp_or_none(hub, "user", key, "created_at", users.first_seen(user_doc))
    status = lifecycle.classify(rules, first_seen, events, now)
    return Profile(
        target=key,
        weights=weights,
        counts={k: v for k, v in counters.items() if k.startswith("n:")},
        events=events,
        blocked_assets=blocked,
        unsubscribed_channels=unsubscribed,
        status=status,
    )
