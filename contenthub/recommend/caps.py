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

from pydantic import BaseModel, Field, model_validator

from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.i18n import N_, _
from contenthub.labels import label
from contenthub.library import taxonomy
from contenthub.recommend import doccache
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
            raise ValueError(_('per_week must not be smaller than per_day'))
        if self.per_month is not None and self.per_month >= 0:
            if self.per_week is not None and self.per_month < self.per_week:
                raise ValueError(_('per_month must not be smaller than per_week'))
            if self.per_day is not None and self.per_month < self.per_day:
                raise ValueError(_('per_month must not be smaller than per_day'))
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
    "wecom_1v1": {"per_day": 1, "per_month": DAYS_IN_MONTH,
                  "note": "客户群发每月不超过当月天数；JS-SDK 每位员工对每位客户每天 1 条"},
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
        raise InvalidError(_("Unknown time zone '{name}'. Use an IANA name such as Asia/Shanghai.").format(name=name),
                           field="timezone", value=name) from None


LIMIT_NAMES = {
    "per_day": N_("daily limit of {limit} reached on {channel} ({used} sent)"),
    "per_week": N_("weekly limit of {limit} reached on {channel} ({used} sent)"),
    "per_month": N_("monthly limit of {limit} reached on {channel} ({used} sent)"),
}


def cap_status(hub: Hub, rule: CapRule, delivered_ts: list[str], now: datetime) -> tuple[bool, str | None, datetime | None]:
    """(capped?, which limit, when the next send is allowed) from the delivery times of one target."""
    tz = check_timezone(hub.settings.timezone)
    if not delivered_ts and _no_zero_limit(rule):
        return False, None, None  # nothing sent: every count is 0, below every limit (none is 0)
    local = now.astimezone(tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = day_start - timedelta(days=local.weekday())
    month_start = day_start.replace(day=1)
    times = [from_iso(t).astimezone(tz) for t in delivered_ts]
    next_day = day_start + timedelta(days=1)
    next_week = week_start + timedelta(days=7)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    checks = [
        ("per_day", rule.per_day, day_start, next_day),
        ("per_week", rule.per_week, week_start, next_week),
        ("per_month", rule.month_limit(local), month_start, next_month),
    ]
    blocked: list[tuple[str, datetime]] = []
    for name, limit, start, reopen in checks:
        if limit is None:
            continue
        used = sum(1 for t in times if t >= start)
        if used >= limit:
            blocked.append((_(LIMIT_NAMES[name]).format(limit=limit, channel=label("channel", rule.channel), used=used),
                            reopen))
    if not blocked:
        return False, None, None
    reason, reopen = max(blocked, key=lambda b: b[1])
    return True, reason, reopen


def _no_zero_limit(rule: CapRule) -> bool:
    """Whether every limit of the rule allows at least one send (a month of days always does); then a
    target with no send is never capped, and ``cap_status`` skips the calendar arithmetic for it."""
    return (rule.per_day is None or rule.per_day > 0) and (rule.per_week is None or rule.per_week > 0) and (
        rule.per_month is None or rule.per_month != 0)


def send_times(events: list[dict[str, Any]], channel: str) -> list[str]:
    """Times that count against a target's cap on `channel`: deliveries, plus reserved sends not yet confirmed.

    Why reserved sends count: a bot that took a slot with ``reserve=true`` has not delivered yet, but
    anyone else deciding now (the planner publishing, another journey step) must treat it as sent. Once
    its delivered event arrives (same recommendation id) only the delivery counts, so nothing is counted
    twice.
    """
    on_channel = [e for e in events if e.get("channel") == channel]
    confirmed = {e.get("recommendation_id") for e in on_channel if e["type"] == "delivered"}
    return [e["ts"] for e in on_channel if e["type"] == "delivered" or (
        e["type"] == "served" and (e.get("attributes") or {}).get("reserved")
        and e.get("recommendation_id") not in confirmed)]


def has_limits(rule: CapRule) -> bool:
    return rule.per_day is not None or rule.per_week is not None or rule.per_month is not None
