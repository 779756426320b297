"""Conditions on one user (exit, step, branch, trigger 'only if'), answered from lazily loaded facts.

Why lazy: most steps only ask 'converted since entry?' (one indexed event query); the profile (stage,
tags) and group membership are loaded only when a condition needs them, which keeps the scheduler's
per-user cost low at a million users.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from contenthub.audience import groups, segments, users
from contenthub.audience.profiles import load_profile
from contenthub.errors import NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.journeys.models import Condition
from contenthub.labels import label
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso

SENDS = "journey_sends"
EVENT_LIMIT = 500
GROUPS_TTL = 60.0
MUTE_TYPES = frozenset({"mute", "unsubscribe"})
RARE_TYPES = frozenset({"convert", "mute", "unsubscribe"})
"""What exit conditions ask about; rare enough to fetch for a whole page of due users in one query."""
PREFETCH_LIMIT = 50_000


def _membership(hub: Hub) -> dict[str, list[tuple[str, str, str, str | None]]]:
    """user → [(group, purpose, joined_at, left_at)], rebuilt at most every ``GROUPS_TTL`` seconds."""
    cached = hub.cache.get("journey_groups")
    if cached is not None and time.monotonic() - cached[0] < GROUPS_TTL:
        return cached[1]
    found: dict[str, list[tuple[str, str, str, str | None]]] = {}
    for g in groups.list_groups(hub, limit=100000):
        for m in g.members:
            found.setdefault(m.user_id, []).append((g.id, g.purpose, m.joined_at, m.left_at))
    hub.cache["journey_groups"] = (time.monotonic(), found)
    return found


def invalidate_groups(hub: Hub) -> None:
    hub.cache.pop("journey_groups", None)


class Facts:
    """What the conditions may ask about one user in one run of a journey, loaded on first use."""

    def __init__(
        self,
        hub: Hub,
        user_id: str,
        now: datetime,
        *,
        entered_at: str | None = None,
        entry_stage: str | None = None,
        last_send: str | None = None,
        rare: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.hub = hub
        self.user_id = user_id
        self.now = now
        self.entered_at = entered_at
        self.entry_stage = entry_stage
        self.last_send_key = last_send
        self._events: list[dict[str, Any]] | None = None
        self._profile: Any = None
        self._user: dict[str, Any] | None = None
        self._send: dict[str, Any] | None | bool = False
        self._rare = rare

    def events(self) -> list[dict[str, Any]]:
        """The user's events since entry (newest first)."""
        if self._events is None:
            since = from_iso(self.entered_at) if self.entered_at else None
            self._events = self.hub.store.query_events(
                EventQuery(user_ids=(self.user_id,), since=since, limit=EVENT_LIMIT)
            )
        return self._events

    def events_of(self, types: frozenset[str]) -> list[dict[str, Any]]:
        """Events of these types since entry — from the page's prefetch when it covers them."""
        if self._rare is not None and types <= RARE_TYPES:
            since = self.entered_at or ""
            return [e for e in self._rare.get(self.user_id, ()) if e["type"] in types and e["ts"] >= since]
        return [e for e in self.events() if e["type"] in types]

    def user(self) -> dict[str, Any]:
        if self._user is None:
            self._user = users.find_user(self.hub, self.user_id) or {"id": self.user_id}
        return self._user

    def profile(self) -> Any:
        if self._profile is None:
            self._profile = load_profile(self.hub, user_id=self.user_id, user_doc=self.user(), now=self.now)
        return self._profile

    def stage(self) -> str | None:
        return self.profile().status.get("stage")

    def groups(self) -> list[tuple[str, str]]:
        at = to_iso(self.now)
        return [
            (g, p)
            for g, p, joined, left in _membership(self.hub).get(self.user_id, [])
            if joined <= at and (left is None or left > at)
        ]

    def last_send(self) -> dict[str, Any] | None:
        if self._send is False:
            self._send = self.hub.store.get_doc(SENDS, self.last_send_key) if self.last_send_key else None
        return self._send  # type: ignore[return-value]

    def _previous(self, flag: str, etype: str) -> bool:
        send = self.last_send()
        if not send:
            return False
        if send.get(flag):
            return True
        rec = send.get("recommendation_id")
        return bool(rec) and any(
            e.get("recommendation_id") == rec and e["type"] in (etype, "click") for e in self.events()
        )

    def segment_facts(self) -> dict[str, Any]:
        p = self.profile()
        return {"status": p.status, "weights": p.weights, "groups": [g for g, _ignored in self.groups()]}


def prefetch_rare(hub: Hub, users: list[tuple[str, str]]) -> dict[str, list[dict[str, Any]]] | None:
    """Converts, mutes and unsubscribes of many users (user id, entered at) in one query, grouped by
    user; None when the result may be cut off (then each user is asked on its own)."""
    if not users:
        return {}
    since = min(entered for _ignored, entered in users)
    found = hub.store.query_events(
        EventQuery(
            user_ids=tuple(sorted({u for u, _ignored in users})),
            types=tuple(RARE_TYPES),
            since=from_iso(since),
            limit=PREFETCH_LIMIT,
        )
    )
    if len(found) >= PREFETCH_LIMIT:
        return None
    out: dict[str, list[dict[str, Any]]] = {}
    for e in found:
        out.setdefault(e["user_id"], []).append(e)
    return out


def holds(c: Condition, f: Facts) -> bool:
    value = _value(c, f)
    return value != c.negate


def _value(c: Condition, f: Facts) -> bool:
    kind = c.kind
    if kind == "converted":
        return bool(f.events_of(frozenset({"convert"})))
    if kind == "muted":
        return bool(f.events_of(MUTE_TYPES))
    if kind == "event":
        return bool(f.events_of(frozenset({c.event_type or ""})))
    if kind == "opened_previous":
        return f._previous("opened", "open")
    if kind == "clicked_previous":
        return f._previous("clicked", "click")
    if kind == "in_group":
        return any(c.group_purpose in (None, p) for _ignored, p in f.groups())
    if kind == "stage":
        return f.stage() in c.stages
    if kind == "stage_left":
        return f.entry_stage is not None and f.stage() != f.entry_stage
    if kind == "tag_weight":
        return f.profile().weights.get(f"t:{c.tag}", 0.0) >= float(c.threshold or 0.0)
    if kind == "paying":
        return bool(f.profile().status.get("paying"))
    if kind == "segment":
        try:
            seg = segments.get_segment(f.hub, c.segment or "")
        except NotFoundError:
            return False
        return segments.matches(seg, f.user(), f.segment_facts())
    raise ValueError(_("unknown condition kind {kind!r}").format(kind=kind))


def describe(c: Condition) -> str:
    """Short text for pages, in the reader's language: 'not: is in a group', 'is in a stage: silent'."""
    text = label("condition", c.kind)
    if c.kind == "event" and c.event_type:
        text = _("{condition}: {event}").format(condition=text, event=label("event", c.event_type))
    elif c.kind == "stage":
        text = _("{condition}: {value}").format(condition=text, value=_(", ").join(c.stages))
    elif c.kind == "tag_weight":
        text = (
            _("tag {tag} ≥ {threshold:g}").format(tag=c.tag, threshold=c.threshold)
            if c.threshold is not None
            else _("tag {tag}").format(tag=c.tag)
        )
    elif c.kind == "segment":
        text = _("{condition}: {value}").format(condition=text, value=c.segment)
    elif c.kind == "in_group" and c.group_purpose:
        text = _("{condition}: {value}").format(condition=text, value=label("group_purpose", c.group_purpose))
    return _("not: {condition}").format(condition=text) if c.negate else text
