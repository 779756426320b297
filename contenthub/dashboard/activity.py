"""Weekly counters written at ingestion, so the dashboard never scans the event log.

Two collections, both additive (``Store.add_to_counters`` semantics, applied in the events' transaction):

- ``ACTIVITY`` — key: user id; fields ``"<week>.<what>"`` (all events ``n``, engaged events ``e``,
  conversions ``c``, revenue ``r``, unsubscribes ``u``) and ``"<week>.<channel>.<what>"`` (deliveries
  ``d``, opens ``o``, mutes and unsubscribes ``m``) — what retention, LTV and send fatigue need per user.
- ``CHANNEL_WEEK`` — key ``"<channel>|<week>"``; fields ``n:<event type>`` and ``rev`` — channel health.

A week is the number of whole weeks since ``engagement.EPOCH`` (Monday 2024-01-01, UTC), so week
boundaries are Mondays 00:00 UTC. Why UTC and not the brand's zone: ingestion is a pure function of the
events (the store may re-derive a batch), and a zone setting that changed later would split a week.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from contenthub.recommend.engagement import ENGAGED, EPOCH
from contenthub.store.base import CounterDeltas

ACTIVITY = "activity"
CHANNEL_WEEK = "channel_week"
_EPOCH_ORDINAL = EPOCH.date().toordinal()


def week_of_day(day: date) -> int:
    return (day.toordinal() - _EPOCH_ORDINAL) // 7


def week_start(week: int) -> date:
    """The Monday a week index starts on."""
    return EPOCH.date() + timedelta(days=7 * week)


def counter_deltas(events: list[dict[str, Any]]) -> CounterDeltas:
    """The weekly increments of newly stored events (see the module docstring), grouped per key.

    The week of a stamp comes from its first ten characters (stored stamps are canonical UTC), memoised
    per day, and each (week, channel)'s field names are built once per call: this runs inside every
    ingestion batch, so it does no per-event parsing or formatting beyond dictionary look-ups."""
    per_user: defaultdict[str, dict[str, float]] = defaultdict(dict)
    per_channel: defaultdict[str, dict[str, float]] = defaultdict(dict)
    weeks: dict[str, int] = {}
    names: dict[tuple[int, str], tuple[str, ...]] = {}
    for ev in events:
        day = ev["ts"][:10]
        week = weeks.get(day)
        if week is None:
            week = weeks[day] = week_of_day(date.fromisoformat(day))
        etype, channel, user = ev["type"], ev.get("channel") or "", ev.get("user_id")
        n = names.get((week, channel))
        if n is None:
            w = str(week)
            n = names[week, channel] = (f"{channel}|{w}", f"{w}.n", f"{w}.e", f"{w}.c", f"{w}.r", f"{w}.u",
                                        f"{w}.{channel}.d", f"{w}.{channel}.o", f"{w}.{channel}.m")
        value = float(ev["value"]) if etype == "convert" and ev.get("value") else 0.0
        cw = per_channel[n[0]]
        type_field = _TYPE_FIELDS.get(etype) or f"n:{etype}"
        cw[type_field] = cw.get(type_field, 0.0) + 1
        if value:
            cw["rev"] = cw.get("rev", 0.0) + value
        if not user:
            continue
        f = per_user[user]
        f[n[1]] = f.get(n[1], 0.0) + 1
        if etype in ENGAGED:
            f[n[2]] = f.get(n[2], 0.0) + 1
        if etype == "convert":
            f[n[3]] = f.get(n[3], 0.0) + 1
            if value:
                f[n[4]] = f.get(n[4], 0.0) + value
        elif etype == "unsubscribe":
            f[n[5]] = f.get(n[5], 0.0) + 1
        slot = _CHANNEL_SLOT.get(etype)
        if slot is not None:
            name = n[slot]
            f[name] = f.get(name, 0.0) + 1
    return [(ACTIVITY, k, per_user[k]) for k in sorted(per_user)] + [
        (CHANNEL_WEEK, k, per_channel[k]) for k in sorted(per_channel)]


_TYPE_FIELDS = {t: f"n:{t}" for t in ("served", "delivered", "open", "click", "favorite", "comment", "share",
                                      "add_to_cart", "convert", "mute", "unsubscribe", "delete")}
_CHANNEL_SLOT = {"delivered": 6, "open": 7, "mute": 8, "unsubscribe": 8}  # index in the per-(week, channel) names
