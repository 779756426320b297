"""Frequency caps per channel: the platforms' documented limits, kept as editable data.

Counted from delivered events of the user (or group) on the channel, in the brand's time zone:
calendar day, ISO week, calendar month. A capped request gets no picks, the reason, and the first
moment a send becomes allowed again.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, Field, model_validator

from contenthub import doccache
from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.i18n import N_, _
from contenthub.labels import label
from contenthub.library import taxonomy
from contenthub.timeutil import from_iso

COLLECTION = "channel_caps"
DAYS_IN_MONTH = -1  # sentinel stored in per_month: "as many as the month has days"


class CapRule(BaseModel):
    channel: str
    per_day: int | None = Field(default=None, ge=0)
    per_week: int | None = Field(default=None, ge=0)
    per_month: int | None = Field(default=None, ge=-1, description="-1 means 'days in the month'.")
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> CapRule:
        if self.per_day is not None and self.per_week is not None and self.per_week < self.per_day:
            raise ValueError(_("per_week must not be smaller than per_day"))
        if self.per_month is not None and self.per_month >= 0:
            if self.per_week is not None and self.per_month < self.per_week:
                raise ValueError(_("per_month must not be smaller than per_week"))
            if self.per_day is not None and self.per_month < self.per_day:
                raise ValueError(_("per_month must not be smaller than per_day"))
        return self

    def month_limit(self, day: datetime) -> int | None:
        if self.per_month is None:
            return None
        if self.per_month == DAYS_IN_MONTH:
            return calendar.monthrange(day.year, day.month)[1]
        return self.per_month


DEFAULT_CAPS: dict[str, dict[str, Any]] = {
    "mp_subscription": {"per_day": 1, "note": "订阅号每天 1 次群发"},
    "mp_service": {"per_month": 4, "note": "服务号每位粉丝每月最多收到 4 次群发"},
    "wecom_1v1": {
        "per_day": 1,
        "per_month": DAYS_IN_MONTH,
        "note": "客户群发每月不超过当月天数；JS-SDK 每位员工对每位客户每天 1 条",
    },
    "wecom_group": {"per_month": DAYS_IN_MONTH, "note": "客户群群发每月不超过当月天数（可改为每周 7 次或每天 1 次）"},
}


def get_rule(hub: Hub, channel: str) -> CapRule:
    """The channel's stored rule, else its default (memoised per process: a ``put_rule`` here is seen at
    once, one made by another process within ``doccache.TTL`` seconds). Shared: treat as read-only."""
    return doccache.cached(hub, COLLECTION, channel, lambda: _load_rule(hub, channel))


def _load_rule(hub: Hub, channel: str) -> CapRule:
    doc = hub.store.get_doc(COLLECTION, channel)
    if doc is not None:
        return CapRule.model_validate(doc)
    return CapRule(channel=channel, **DEFAULT_CAPS.get(channel, {}))


def all_rules(hub: Hub) -> list[CapRule]:
    return [get_rule(hub, c) for c in taxonomy.ids(hub.store, "channels")]


def put_rule(hub: Hub, rule: CapRule) -> CapRule:
    taxonomy.validate_values(hub.store, "channel", "channels", [rule.channel])
    hub.store.put_doc(COLLECTION, rule.channel, rule.model_dump())
    hub.touch(COLLECTION)  # after the write: readers in this process reload (see doccache)
    return rule


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:
        raise InvalidError(
            _("Unknown time zone '{name}'. Use an IANA name such as Asia/Shanghai.").format(name=name),
            field="timezone",
            value=name,
        ) from None


LIMIT_NAMES = {
    "per_day": N_("daily limit of {limit} reached on {channel} ({used} sent)"),
    "per_week": N_("weekly limit of {limit} reached on {channel} ({used} sent)"),
    "per_month": N_("monthly limit of {limit} reached on {channel} ({used} sent)"),
}


def _periods(rule: CapRule, tz: ZoneInfo, now: datetime) -> list[tuple[str, int, datetime, datetime]]:
    """(name, limit, start, when it reopens) of each limit the rule sets, in the brand's calendar."""
    local = now.astimezone(tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = day_start - timedelta(days=local.weekday())
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    checks = [
        ("per_day", rule.per_day, day_start, day_start + timedelta(days=1)),
        ("per_week", rule.per_week, week_start, week_start + timedelta(days=7)),
        ("per_month", rule.month_limit(local), month_start, next_month),
    ]
    return [(name, limit, start, reopen) for name, limit, start, reopen in checks if limit is not None]


def capped_targets(
    hub: Hub, rule: CapRule, owner: np.ndarray, sent_at: np.ndarray, n: int, now: datetime
) -> np.ndarray:
    """Which of ``n`` targets are capped, from the epoch times ``sent_at`` of their sends that count
    (``counted_sends``), ``owner`` saying whose each is: the one cap rule of the per-target path
    (``cap_status``) and the batch ranker."""
    out = np.zeros(n, dtype=bool)
    for _name, limit, start, _reopen in _periods(rule, check_timezone(hub.settings.timezone), now):
        out |= np.bincount(owner[sent_at >= start.timestamp()], minlength=n) >= limit
    return out


def cap_status(
    hub: Hub, rule: CapRule, delivered_ts: list[str], now: datetime
) -> tuple[bool, str | None, datetime | None]:
    """(capped?, which limit, when the next send is allowed) from the send times of one target."""
    tz = check_timezone(hub.settings.timezone)
    if not delivered_ts and _no_zero_limit(rule):
        return False, None, None  # nothing sent: every count is 0, below every limit (none is 0)
    sent_at = np.array([from_iso(t).timestamp() for t in delivered_ts], dtype=np.float64)
    if not capped_targets(hub, rule, np.zeros(sent_at.size, dtype=np.int64), sent_at, 1, now)[0]:
        return False, None, None
    blocked: list[tuple[str, datetime]] = []
    for name, limit, start, reopen in _periods(rule, tz, now):
        used = int(np.count_nonzero(sent_at >= start.timestamp()))
        if used >= limit:
            blocked.append(
                (_(LIMIT_NAMES[name]).format(limit=limit, channel=label("channel", rule.channel), used=used), reopen)
            )
    reason, reopen = max(blocked, key=lambda b: b[1])
    return True, reason, reopen


def _no_zero_limit(rule: CapRule) -> bool:
    """Whether every limit of the rule allows at least one send (a month of days always does); then a
    target with no send is never capped, and ``cap_status`` skips the calendar arithmetic for it."""
    return (
        (rule.per_day is None or rule.per_day > 0)
        and (rule.per_week is None or rule.per_week > 0)
        and (rule.per_month is None or rule.per_month != 0)
    )


def send_times(events: list[dict[str, Any]], channel: str) -> list[str]:
    """Times that count against a target's cap on `channel` (``counted_sends`` of its events there)."""
    on_channel = [e for e in events if e.get("channel") == channel]
    if not any(e["type"] == "served" for e in on_channel):  # no reservation: ``counted_sends`` is the deliveries
        return [e["ts"] for e in on_channel if e["type"] == "delivered"]
    counted = counted_sends(
        np.zeros(len(on_channel), dtype=np.int64),
        np.fromiter((e["type"] == "delivered" for e in on_channel), dtype=bool, count=len(on_channel)),
        np.fromiter(
            (e["type"] == "served" and bool((e.get("attributes") or {}).get("reserved")) for e in on_channel),
            dtype=bool,
            count=len(on_channel),
        ),
        np.fromiter(
            (hash(e.get("recommendation_id") or "") for e in on_channel), dtype=np.int64, count=len(on_channel)
        ),
    )
    return [e["ts"] for e, c in zip(on_channel, counted.tolist(), strict=True) if c]


def counted_sends(owner: np.ndarray, delivered: np.ndarray, reserved: np.ndarray, rec_code: np.ndarray) -> np.ndarray:
    """Which events count against their target's cap: deliveries, plus reserved sends not yet confirmed —
    the one rule of both the per-target path and the batch ranker. ``owner``: whose event each is;
    ``rec_code``: ``hash`` of its recommendation id (0 for none).

    Why reserved sends count: a bot that took a slot with ``reserve=true`` has not delivered yet, but
    anyone else deciding now (the planner publishing, another journey step, a batch) must treat it as
    sent. Once its delivered event arrives (same recommendation id, same target) only the delivery
    counts, so nothing is counted twice."""
    out = delivered.copy()
    res = np.flatnonzero(reserved)
    if res.size:
        pair = owner.astype(np.int64) * np.int64(1_000_003) ^ rec_code
        done = delivered & (rec_code != 0)
        out[res] = ~np.isin(pair[res], pair[done]) | (rec_code[res] == 0)
    return out


def has_limits(rule: CapRule) -> bool:
    return rule.per_day is not None or rule.per_week is not None or rule.per_month is not None
