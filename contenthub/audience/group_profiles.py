"""Kept group profiles: what a group's members engage with, summed per group and kept up to date, so a
group of any size is answered from one counter read instead of loading its members.

The kept profile of group G is the counter document ``members:G`` (in the ``profile`` counters, beside
the users' own and the group's own ``group:G``). It holds, for the members of G right now:

- the sum of their profile counters (decayed tag, topic and content-type weights, ``e:``/``g:`` rate
  fields, ``n:`` counts): exactly what their own profiles hold, so the group's affinities and topic
  rates pool its members' evidence;
- ``a:<asset id>``: the decayed weight of each member's positive events per asset (the group's
  interest vector is the mix of the most engaged assets' vectors);
- ``m:members``: how many members it sums.

How it is kept — every update is an increment, so it is exact whatever the order:
- a member's new events add the same deltas to ``members:G`` as to the member's own profile, in the
  same store transaction as the events (``member_deltas``, called from ingestion's counter derivation,
  which runs once per newly stored event: re-sent events add nothing);
- a join adds the member's current counters and per-asset weights; a leave (or an erasure) subtracts the
  member's current ones: since ``members:G`` received the same increments in between, the member's whole
  share leaves with them. Per-asset weights come from the member's newest ``ASSET_EVENTS`` positive
  events at join and at leave, so a member with more than that many has the older part of their share
  dropped (reads clip such remainders at zero).

Which groups a user is in is the ``group_memberships`` document of the user (``{"groups": [...]}``),
written with each membership change; ingestion reads those of a batch's users in one ``get_docs``.

How it is read: every change to ``members:G`` also adds 1 to the one-field counter ``members-updates:G``
in the same write. A process keeps each group's kept profile parsed (``kept_profile``) with the update
count it was read at, and reads the whole profile again only when that count moved: a request for a
group pays a one-field read, not the thousands of per-asset fields of a large group. The memo holds the
stored (undecayed) values, so it is exact at any ``now``: decay scales every stored value alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from contenthub.audience.engagement import (
    EVENT_WEIGHTS,
    POSITIVE,
    PROFILE,
    counter_deltas,
    decay_scale,
)
from contenthub.hub import Hub
from contenthub.store.base import CounterDeltas
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso

MEMBERSHIPS = "group_memberships"
ASSET = "a:"
MEMBER_COUNT = "m:members"
UPDATES = "n"
"""The field of ``updates_key(G)``: how many writes changed ``members:G`` (what a process's memo is checked with)."""
_MEMO = "audience.group_profiles"
ASSET_EVENTS = 400
"""Positive events of a member read at join and leave for the per-asset weights (a profile's history bound)."""


def members_key(group_id: str) -> str:
    return f"members:{group_id}"


def updates_key(group_id: str) -> str:
    return f"members-updates:{group_id}"


PROBE_ABOVE = 100
"""Users in a batch past which one 'any membership at all?' probe comes first: a hub without groups then
skips the bulk read of every user's membership. A few users are read by id at once: on Elasticsearch the
probe is a search (a refresh first, when this process wrote documents) and costs more than a real-time
read of a few ids (a reserved pick's served event names one user)."""


def groups_of_users(hub: Hub, user_ids: list[str]) -> dict[str, list[str]]:
    """user id → the groups the user is in now, for users in at least one group (one read; none when no
    group has a member, so a hub without groups pays one indexed probe per large batch)."""
    if not user_ids or (len(user_ids) > PROBE_ABOVE and not hub.store.list_docs(MEMBERSHIPS, limit=1)):
        return {}
    docs = hub.store.get_docs(MEMBERSHIPS, user_ids)
    return {uid: d["groups"] for uid, d in docs.items() if d.get("groups")}


def set_memberships(hub: Hub, group_id: str, joined: list[str], left: list[str]) -> None:
    """Record ``group_id`` in the membership documents of ``joined`` and take it out of ``left``'s."""
    changed = [*joined, *left]
    docs = hub.store.get_docs(MEMBERSHIPS, changed) if changed else {}
    for uid in joined:
        groups = set(docs.get(uid, {}).get("groups", []))
        groups.add(group_id)
        hub.store.put_doc(MEMBERSHIPS, uid, {"groups": sorted(groups)})
    for uid in left:
        groups = set(docs.get(uid, {}).get("groups", []))
        groups.discard(group_id)
        if groups:
            hub.store.put_doc(MEMBERSHIPS, uid, {"groups": sorted(groups)})
        else:
            hub.store.delete_doc(MEMBERSHIPS, uid)


def member_deltas(
    events: list[dict[str, Any]],
    memberships: dict[str, list[str]],
    assets: dict[str, dict[str, Any]],
    half_life_days: float,
    topics: dict[str, str] | None = None,
) -> CounterDeltas:
    """The increments newly stored ``events`` make to the kept profiles of their users' groups: the
    profile deltas ``engagement.counter_deltas`` gives the user, under ``members:<group>``, plus the
    ``a:`` weight of positive events. A member's event that names the group itself counts here too (as it
    does in the member's own profile, which a leave subtracts), besides the group's own ``group:<group>``:
    engagement inside the group is the most telling."""
    if not memberships:
        return []
    copies: list[dict[str, Any]] = []
    per_asset: defaultdict[str, dict[str, float]] = defaultdict(dict)
    for ev in events:
        gids = memberships.get(ev.get("user_id") or "")
        if not gids:
            continue
        w = EVENT_WEIGHTS.get(ev["type"], 0.0)
        aid = ev.get("asset_id")
        for gid in gids:
            key = members_key(gid)
            copies.append({**ev, "user_id": key, "group_id": None})
            if w > 0 and aid and aid in assets:
                fields = per_asset[key]
                f = ASSET + aid
                fields[f] = fields.get(f, 0.0) + w * decay_scale(from_iso(ev["ts"]), half_life_days)
    if not copies:
        return []
    out = [d for d in counter_deltas(copies, assets, half_life_days, topics) if d[0] == PROFILE]
    merged = {key: dict(fields) for _, key, fields in out}
    for key, fields in per_asset.items():
        into = merged.setdefault(key, {})
        for f, v in fields.items():
            into[f] = into.get(f, 0.0) + v
    for key in list(merged):
        merged[updates_key(key[len("members:") :])] = {UPDATES: 1.0}
    return [(PROFILE, key, merged[key]) for key in sorted(merged)]


def _share(hub: Hub, user_id: str) -> dict[str, float]:
    """A member's share of a kept profile: their profile counters and per-asset positive weights."""
    share = dict(hub.store.get_counters(PROFILE, user_id))
    half = hub.settings.profile_half_life_days
    for ev in hub.store.query_events(EventQuery(user_ids=(user_id,), types=tuple(POSITIVE), limit=ASSET_EVENTS)):
        aid = ev.get("asset_id")
        if aid:
            f = ASSET + aid
            share[f] = share.get(f, 0.0) + EVENT_WEIGHTS[ev["type"]] * decay_scale(from_iso(ev["ts"]), half)
    share[MEMBER_COUNT] = 1.0
    return share


def add_members(hub: Hub, group_id: str, joined: list[str], left: list[str]) -> None:
    """Add the shares of ``joined`` to the group's kept profile and take those of ``left`` out."""
    key = members_key(group_id)
    updates: list[tuple[str, str, float]] = []
    for uid, sign in [*((u, 1.0) for u in joined), *((u, -1.0) for u in left)]:
        updates.extend((key, f, sign * v) for f, v in _share(hub, uid).items())
    if updates:
        hub.store.add_to_counters(PROFILE, [*updates, (updates_key(group_id), UPDATES, 1.0)])


@dataclass(frozen=True)
class KeptProfile:
    """A group's kept profile as stored: summed member counters (raw stored values, ``read_decayed`` them),
    per-asset positive weights heaviest first (stored values: times ``1 / decay_scale(now)`` to decay)
    and the member count."""

    counters: dict[str, float]
    assets: list[tuple[str, float]]
    members: int


def kept_profile(hub: Hub, group_id: str) -> KeptProfile:
    """The group's kept profile, read again only when its update count moved (see the module's doc)."""
    memo: dict[str, tuple[float, KeptProfile]] = hub.cache.setdefault(_MEMO, {})
    stamp = hub.store.get_counters(PROFILE, updates_key(group_id)).get(UPDATES, 0.0)
    hit = memo.get(group_id)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    raw = hub.store.get_counters(PROFILE, members_key(group_id))
    counters: dict[str, float] = {}
    assets: list[tuple[str, float]] = []
    for f, v in raw.items():
        if f.startswith(ASSET):
            if v > 0:  # a departed member's share may leave a rounding remainder
                assets.append((f[len(ASSET) :], v))
        elif f != MEMBER_COUNT:
            counters[f] = v
    assets.sort(key=lambda kv: -kv[1])
    found = KeptProfile(counters, assets, round(raw.get(MEMBER_COUNT, 0.0)))
    if len(memo) >= MEMO_GROUPS:
        memo.clear()
    memo[group_id] = (stamp, found)
    return found


MEMO_GROUPS = 10_000
"""Bound on the groups whose kept profile one process holds parsed."""
