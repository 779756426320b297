"""Who enters a journey, and when: hooks for facts that arrive (events, new users, new identities) and
sweeps for facts that only time reveals (a user became silent, joined a group, crossed a tag weight).

Why hooks for events and users: an event carries its own time and may arrive late, so a scan of
'recent events' by time would miss it, while ``add_events`` returns exactly the ids it newly stored —
each event is seen once, duplicates never. The hooks are cheap when nothing listens: one cached
look-up of the running journeys, and per batch at most one indexed read of recommendation ids.

Why sweeps for stages, tags, segments and groups: nothing happens when a user *becomes* silent — the
stage is a function of time — so the scheduler walks the users a page per pass (``SWEEP_USERS``), and
the groups' join times since its last look (``GROUP_SWEEP``). Re-entry rules make repeated matches
harmless.

The hooks are subscriptions (``subscribe``, wired by ``contenthub.hooks`` when a hub opens): ingestion and
the users service announce what happened and import nothing of journeys.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from contenthub.audience import groups, segments, users
from contenthub.audience.engagement import PROFILE
from contenthub.errors import NotFoundError
from contenthub.hooks import EventsStored, Hooks, IdentityLinked, UserCreated
from contenthub.hub import Hub
from contenthub.journeys import engine, outbox, service
from contenthub.journeys.conditions import Facts, holds
from contenthub.timeutil import from_iso, to_iso

log = logging.getLogger(__name__)

SCHEDULER = "journey_scheduler"
SWEEP_USERS = 500
GROUP_SWEEP = timedelta(minutes=5)
GROUP_BACKFILL = timedelta(days=1)
SWEEP_KINDS = ("stage_entered", "tag_weight", "segment")


def _journeys(hub: Hub, kind: str) -> list[Any]:
    return [j for j in service.active(hub) if j.trigger.kind == kind]


def _at(ts: str | None, now: datetime) -> datetime:
    return min(from_iso(ts), now) if ts else now


def _only_if(hub: Hub, journey: Any, user_id: str, now: datetime) -> bool:
    if not journey.trigger.only_if:
        return True

    f = Facts(hub, user_id, now, entered_at=to_iso(now))
    return all(holds(c, f) for c in journey.trigger.only_if)


def _enter(
    hub: Hub,
    journey: Any,
    user_id: str,
    at: datetime,
    now: datetime,
    *,
    tentative: bool = False,
    entry_stage: str | None = None,
) -> bool:
    if not tentative and not _only_if(hub, journey, user_id, now):
        return False
    ok, _ = engine.enroll(hub, journey, user_id, at=at, now=now, tentative=tentative, entry_stage=entry_stage)
    return ok


def _safely(fn: Any, *args: Any, **kwargs: Any) -> None:
    """Hooks run after data was stored: a journey problem is logged, never turned into a failed request."""
    try:
        fn(*args, **kwargs)
    except Exception:
        log.exception("journey trigger %s failed", getattr(fn, "__name__", fn))


# ---- hooks ------------------------------------------------------------------------------------------------------


def subscribe(hooks: Hooks) -> None:
    """Wired when a hub opens (``contenthub.hooks.SUBSCRIBERS``)."""
    hooks.subscribe(UserCreated, on_user_created)
    hooks.subscribe(IdentityLinked, on_identity_linked)
    hooks.subscribe(EventsStored, on_events_stored)


def on_user_created(event: UserCreated) -> None:
    """A user was created (from an event, an identity, or the users API)."""
    _safely(_user_created, event.hub, event.user_id, event.at)


def _user_created(hub: Hub, user_id: str, at: str | None) -> None:
    journeys = _journeys(hub, "user_created")
    if not journeys:
        return

    now = service.clock(hub)
    doc = users.find_user(hub, user_id) or {}
    for j in journeys:
        verdict = engine.trigger_filters_hold(j.trigger, doc)
        if verdict is False:
            continue
        _enter(hub, j, user_id, _at(at, now), now, tentative=verdict is None or bool(j.trigger.only_if))


def on_identity_linked(event: IdentityLinked) -> None:
    """An identity (openid, external_userid …) was linked to a user for the first time."""
    _safely(_identity_added, event.hub, event.user_id, event.identity_type, event.at)


def _identity_added(hub: Hub, user_id: str, identity_type: str, at: str | None) -> None:
    journeys = [j for j in _journeys(hub, "identity_added") if j.trigger.identity_type in (None, identity_type)]
    if not journeys:
        return

    now = service.clock(hub)
    doc = users.find_user(hub, user_id) or {}
    for j in journeys:
        verdict = engine.trigger_filters_hold(j.trigger, doc)
        if verdict is False:
            continue
        _enter(hub, j, user_id, _at(at, now), now, tentative=verdict is None or bool(j.trigger.only_if))


def on_events_stored(event: EventsStored) -> None:
    """Events were ingested: attribution of journey sends, and event triggers."""
    if event.inserted:
        _safely(_events, event.hub, event.rows, event.inserted)


def _events(hub: Hub, rows: list[dict[str, Any]], inserted: list[str]) -> None:
    if not service.heads(hub):
        return
    new = set(inserted)
    fresh = [r for r in rows if r["id"] in new] if len(new) < len(rows) else rows

    outbox.on_events(hub, fresh)
    journeys = _journeys(hub, "event")
    if not journeys:
        return

    now = service.clock(hub)
    for j in journeys:
        t = j.trigger
        hits = [
            r
            for r in fresh
            if r["type"] == t.event_type and r.get("user_id") and (t.channel is None or r["channel"] == t.channel)
        ]
        for r in hits:
            if t.first_only:
                seen = hub.store.get_counters(PROFILE, r["user_id"]).get(f"n:{t.event_type}", 0.0)
                in_batch = sum(1 for x in hits if x["user_id"] == r["user_id"])
                if seen > in_batch:
                    continue
            _enter(hub, j, r["user_id"], _at(r["ts"], now), now)


# ---- sweeps (run by the scheduler) --------------------------------------------------------------------------------


def sweep_groups(hub: Hub, now: datetime, *, force: bool = False) -> int:
    """Enter users who joined a group since the last sweep (for journeys triggered by group_joined)."""
    journeys = _journeys(hub, "group_joined")
    doc = hub.store.get_doc(SCHEDULER, "groups_sweep") or {}
    since = doc.get("since") or to_iso(now - GROUP_BACKFILL)
    if not journeys or (not force and doc.get("ran_at") and from_iso(doc["ran_at"]) + GROUP_SWEEP > now):
        if not journeys:
            hub.store.put_doc(SCHEDULER, "groups_sweep", {"since": to_iso(now), "ran_at": to_iso(now)})
        return 0

    until = to_iso(now)
    entered = 0
    for g in groups.list_groups(hub, limit=100000):
        for j in journeys:
            t = j.trigger
            if t.group_id not in (None, g.id) or t.group_purpose not in (None, g.purpose):
                continue
            for m in g.members:
                if since < m.joined_at <= until and m.left_at is None:
                    entered += _enter(hub, j, m.user_id, from_iso(m.joined_at), now)
    hub.store.put_doc(SCHEDULER, "groups_sweep", {"since": until, "ran_at": until})
    return entered


def _profile_match(hub: Hub, j: Any, user: dict[str, Any], facts: Any) -> bool:
    t = j.trigger
    if t.kind == "stage_entered":
        return facts.stage() == t.stage
    if t.kind == "tag_weight":
        return facts.profile().weights.get(f"t:{t.tag}", 0.0) >= float(t.threshold or 0.0)

    try:
        seg = segments.get_segment(hub, t.segment or "")
    except NotFoundError:
        return False
    return segments.matches(seg, user, facts.segment_facts())


def sweep_users(hub: Hub, now: datetime, *, batch: int = SWEEP_USERS) -> int:
    """One page of the rolling walk over users for stage / tag weight / segment triggers.

    The walk uses an offset into the id-ordered user list: users added meanwhile may shift it by a
    few, which the next walk catches (these triggers are about states that last days)."""
    journeys = [j for k in SWEEP_KINDS for j in _journeys(hub, k)]
    if not journeys:
        return 0

    cursor = hub.store.get_doc(SCHEDULER, "users_sweep") or {"offset": 0}
    page = hub.store.list_docs(users.USERS, limit=batch, offset=int(cursor["offset"]))
    entered = 0
    for user in page:
        if user.get("merged_into"):
            continue
        facts = Facts(hub, user["id"], now, entered_at=to_iso(now))
        for j in journeys:
            state = engine.get_state(hub, j.id, user["id"])
            if state is not None and state["status"] == "active":
                continue
            if _profile_match(hub, j, user, facts):
                stage = facts.stage() if j.trigger.kind == "stage_entered" else None
                entered += _enter(hub, j, user["id"], now, now, entry_stage=stage)
    offset = int(cursor["offset"]) + len(page) if len(page) == batch else 0
    hub.store.put_doc(SCHEDULER, "users_sweep", {"offset": offset, "ran_at": to_iso(now)})
    return entered
