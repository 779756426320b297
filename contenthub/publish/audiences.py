"""Who a plan's audience is, in the recommender's terms: members, a ranking profile, engagement times.

The planner speaks of audiences as keys ('all', 'group:g1', 'segment:s1'); the recommender speaks of
users, groups and segments. This module is the one translation between them, so the picker, the
best-time model and publishing agree on who "the audience" is.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from contenthub.audience import groups, segments, users
from contenthub.audience.profiles import load_profile
from contenthub.errors import InvalidError, NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.publish.rules import Audience
from contenthub.recommend.audiences import audience_for, group_audience, merge_audiences
from contenthub.recommend.catalog import Catalog
from contenthub.recommend.ranking import Audience as RankingAudience
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso

PROFILE_SAMPLE = 100
"""Members whose profiles make up a segment's ranking audience (a group's is its kept profile)."""
EVENT_SAMPLE = 500
"""Members whose opens and clicks feed a segment's best-time model."""
BEST_TIME_DAYS = 90
BEST_TIME_EVENTS = 20000
ENGAGEMENT_TYPES = ("open", "click")
_CHUNK = 500


def parse_audience(key: str) -> Audience:
    """'all', 'group:<id>' or 'segment:<id>' → Audience, or a 422 naming the field and the forms allowed."""
    try:
        if key != "all" and ":" not in key:
            raise ValueError(_("missing ':'"))
        return Audience.from_key(key)
    except ValueError:
        raise InvalidError(
            _("Unknown audience '{key}'. Use 'all', 'group:<group id>' or 'segment:<segment id>'.").format(key=key),
            field="audience",
            value=key,
            allowed=["all", "group:<id>", "segment:<id>"],
        ) from None


def check_exists(hub: Hub, audience: Audience, field: str = "audience") -> None:
    """A group or segment audience must exist; 422 (not 404) because it is a value in the request body."""
    try:
        if audience.kind == "group":
            groups.get_group(hub, audience.id or "")
        elif audience.kind == "segment":
            segments.get_segment(hub, audience.id or "")
    except NotFoundError as exc:
        raise InvalidError(exc.message, field=field, value=audience.key) from None


def label(hub: Hub, audience: Audience) -> str:
    """Human name for pages: the group's name, the segment's name, or 'all'."""
    if audience.kind == "group":
        doc = hub.store.get_doc(groups.COLLECTION, audience.id or "")
        return (doc or {}).get("name") or audience.key
    if audience.kind == "segment":
        doc = hub.store.get_doc(segments.COLLECTION, audience.id or "")
        return (doc or {}).get("name") or audience.key
    return _("Everyone")


def iter_members(hub: Hub, audience: Audience, limit: int | None = None) -> Iterator[str]:
    """User ids of the audience now: every (unmerged) user, a group's current members, a segment's matches."""
    if audience.kind == "group":
        members = groups.current_members(groups.get_group(hub, audience.id or ""))
        yield from members[:limit] if limit is not None else members
        return
    if audience.kind == "segment":
        seg = segments.get_segment(hub, audience.id or "")
        yield from segments.members(hub, seg, limit=limit if limit is not None else 1_000_000_000)
        return
    ids = (doc["id"] for doc in users.iter_users(hub))
    yield from ids if limit is None else islice(ids, limit)


def _sample(hub: Hub, audience: Audience, size: int) -> list[str]:
    """A deterministic member sample: seeded by the audience so re-planning the same week is repeatable."""
    if audience.kind == "group":
        members = sorted(groups.current_members(groups.get_group(hub, audience.id or "")))
        return members if len(members) <= size else random.Random(audience.key).sample(members, size)
    return list(islice(iter_members(hub, audience), size))


def ranking_audience(hub: Hub, cat: Catalog, audience: Audience, now: datetime) -> tuple[RankingAudience, set[str]]:
    """(what ranking knows of the audience, assets its group profile received recently on any channel).

    group → the group's kept profile (``audiences.group_audience``, as next_for_group ranks it);
    segment → merged profiles of a member sample; all → an empty profile, so ranking falls back to the
    channel-wide popularity, quality and freshness signals.
    """
    if audience.kind == "all":
        return RankingAudience(), set()
    if audience.kind == "group":  # the group's kept profile, as next_for_group ranks it: no member is loaded
        group = groups.get_group(hub, audience.id or "")
        gprof = load_profile(hub, group_id=group.id, user_doc={"created_at": group.created_at}, now=now)
        aud, _ignored = group_audience(hub, cat, gprof, group.id, group.purpose, now)
        since = now - timedelta(days=hub.settings.redelivery_window_days)
        delivered = {
            e["asset_id"]
            for e in gprof.events
            if e["type"] in ("delivered", "served") and e.get("asset_id") and e["ts"] >= to_iso(since)
        }
        return aud, delivered
    parts = []
    for uid in _sample(hub, audience, PROFILE_SAMPLE):
        doc = users.find_user(hub, uid)
        parts.append(audience_for(hub, cat, load_profile(hub, user_id=uid, user_doc=doc, now=now), now))
    merged = merge_audiences(parts) if parts else RankingAudience()
    merged.exclude = set()
    return merged, set()


def engagement_times(hub: Hub, channel: str, audience: Audience, now: datetime) -> list[datetime]:
    """Times of the audience's opens and clicks on the channel in the last BEST_TIME_DAYS (newest first)."""
    base = EventQuery(
        types=ENGAGEMENT_TYPES, channels=(channel,), since=now - timedelta(days=BEST_TIME_DAYS), limit=BEST_TIME_EVENTS
    )
    found: dict[str, dict[str, Any]] = {}
    if audience.kind == "all":
        found = {e["id"]: e for e in hub.store.query_events(base)}
    else:
        if audience.kind == "group":
            for e in hub.store.query_events(replace(base, group_ids=(audience.id or "",))):
                found[e["id"]] = e
        members = (
            _sample(hub, audience, EVENT_SAMPLE) if audience.kind == "segment" else list(iter_members(hub, audience))
        )
        for start in range(0, len(members), _CHUNK):
            chunk = tuple(members[start : start + _CHUNK])
            for e in hub.store.query_events(replace(base, user_ids=chunk)):
                found[e["id"]] = e
    times = sorted((from_iso(e["ts"]) for e in found.values()), reverse=True)
    return times[:BEST_TIME_EVENTS]
