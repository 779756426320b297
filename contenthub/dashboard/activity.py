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
_NEGATIVE_ON_CHANNEL = frozenset({"mute", "unsubscribe"})


def week_of_day(day: date) -> int:
    return (day.toordinal() - _EPOCH_ORDINAL) // 7


def week_start(week: int) -> date:
    """The Monday a week index starts on."""
    return EPOCH.date() + timedelta(days=7 * week)


def counter_deltas(events: list[dict[str, Any]]) -> CounterDeltas:
    """The weekly increments of newly stored events (see the module docstring), grouped per key.

    The week of a stamp comes from its first ten characters (stored stamps are canonical UTC), memoised
    per day: a batch spans few days, and parsing every stamp would cost more than the rest of this."""
    per_user: defaultdict[str, dict[str, float]] = defaultdict(dict)
    per_channel: defaultdict[str, dict[str, float]] = defaultdict(dict)
    weeks: dict[str, int] = {}
    for ev in events:
        day = ev["ts"][:10]
        week = weeks.get(day)
        if week is None:
            week = weeks[day] = week_of_day(date.fromisoformat(day))
        etype, channel, user = ev["type"], ev.get("channel") or "", ev.get("user_id")
        value = float(ev["value"]) if etype == "convert" and ev.get("value") else 0.0
        cw = per_channel[f"{channel}|{week}"]
        name = f"n:{etype}"
        cw[name] = cw.get(name, 0.0) + 1
        if value:
            cw["rev"] = cw.get("rev", 0.0) + value
        if not user:
            continue
        f = per_user[user]
        _add(f, f"{week}.n")
        if etype in ENGAGED:
            _add(f, f"{week}.e")
        if etype == "convert":
            _add(f, f"{week}.c")
            if value:
                f[f"{week}.r"] = f.get(f"{week}.r", 0.0) + value
        elif etype == "unsubscribe":
            _add(f, f"{week}.u")
        if etype == "delivered":
            _add(f, f"{week}.{channel}.d")
        elif etype == "open":
            _add(f, f"{week}.{channel}.o")
        elif etype in _NEGATIVE_ON_CHANNEL:
            _add(f, f"{week}.{channel}.m")
    return [(ACTIVITY, k, per_user[k]) for k in sorted(per_user)] + [
        (CHANNEL_WEEK, k, per_channel[k]) for k in sorted(per_channel)]


def _add(fields: dict[str, float], name: str) -> None:
    fields[name] = fields.get(name, 0.0) + 1
