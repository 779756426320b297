"""Profiles: what we know of a user or group right now, assembled from counters and recent events.

Tag weights come from the decayed counters (whole history, O(1) to read); the user vector and the
lifecycle stage come from the recent event log (bounded query), so the next request after an event
already reflects it. All of it, with the user's document, is one store read (``user_read``), for one
user or a page of them (``load_profiles``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from contenthub import bad_records
from contenthub.audience import exclusions, lifecycle, users
from contenthub.audience.engagement import (
    GROUP_PREFIX,
    NEGATIVE,
    PROFILE,
    PROFILE_PREFIXES,
    read_decayed,
)
from contenthub.hub import Hub
from contenthub.store.query import SubjectData, SubjectRead
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
    user: dict[str, Any] | None = None
    """The user's document as the profile was read (following merges); None for a group or a user the
    store does not hold."""

    def top_tags(self, n: int = 12) -> list[tuple[str, float]]:
        items = [(k, v) for k, v in self.weights.items() if k[:2] in PROFILE_PREFIXES]
        return sorted(items, key=lambda kv: -kv[1])[:n]


def user_read() -> SubjectRead:
    """What a user's profile is built from, as one store read (``Store.read_subjects``): the user's
    document following merges as ``users.find_user`` does, the newest HISTORY_LIMIT events, the newest
    NEGATIVES_LIMIT negative events (read on their own only when the newest page is full) and the
    profile counters — one round trip for a request, one for a page of due sends."""
    return SubjectRead(
        counters=PROFILE,
        newest=HISTORY_LIMIT,
        docs=users.USERS,
        follow=users.MERGED_INTO,
        hops=users.MERGE_HOPS,
        typed=tuple(sorted(NEGATIVE)),
        typed_limit=NEGATIVES_LIMIT,
    )


def group_read() -> SubjectRead:
    """``user_read`` for a group: its events by group id, its counters under ``group:<id>``, no document."""
    return replace(user_read(), by="group_id", docs="", follow="", hops=0, counter_prefix=GROUP_PREFIX)


def history(found: SubjectData, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events since HISTORY_DAYS before ``now``, newest first, at most HISTORY_LIMIT; negative events
    of all time, at most NEGATIVES_LIMIT) from what ``user_read``/``group_read`` read.

    The newest HISTORY_LIMIT events of all time hold every event of the window a windowed query would
    return (newest first, the window is a prefix)."""
    cutoff = to_iso(now - timedelta(days=HISTORY_DAYS))
    return [e for e in found.events if e["ts"] >= cutoff], found.typed


def load_profiles(hub: Hub, user_ids: Sequence[str], *, now: datetime) -> dict[str, Profile]:
    """Each user's profile (by the id asked for; a merged user's old id gets the surviving user's
    profile, whose ``target`` and ``user`` say who that is), in one store read for all of them."""
    found = hub.store.read_subjects(list(user_ids), user_read())
    return {uid: _profile(hub, f, f.key, f.doc, now) for uid, f in found.items()}


def load_profile(
    hub: Hub,
    *,
    user_id: str | None = None,
    group_id: str | None = None,
    user_doc: dict[str, Any] | None = None,
    now: datetime,
) -> Profile:
    """One user's profile (``load_profiles``) or a group's. ``user_doc``: the document the caller holds
    already (a group's stand-in with its ``created_at``), dated by instead of the one read."""
    if user_id is not None:
        found = hub.store.read_subjects([user_id], user_read())[user_id]
        return _profile(hub, found, found.key, found.doc if user_doc is None else user_doc, now)
    gid = group_id or ""
    found = hub.store.read_subjects([gid], group_read())[gid]
    return _profile(hub, found, GROUP_PREFIX + gid, user_doc, now)


async def read_user_profile(hub: Hub, user_id: str, *, now: datetime) -> Profile:
    """``load_profile(user_id=...)`` for a caller on an event loop: the same profile, its store read awaited
    (``Store.read_subjects_async``) so the loop serves other requests while the store answers."""
    found = (await hub.store.read_subjects_async([user_id], user_read()))[user_id]
    return _profile(hub, found, found.key, found.doc, now)


def _profile(hub: Hub, found: SubjectData, key: str, user_doc: dict[str, Any] | None, now: datetime) -> Profile:
    events, negatives = history(found, now)
    profile = profile_from(hub, key, events, negatives, found.counters, user_doc, now)
    profile.user = found.doc
    return profile


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
