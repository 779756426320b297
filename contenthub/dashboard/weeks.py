"""Calendar weeks in the hub's time zone (``settings.timezone``, Asia/Shanghai by default).

A week runs from Monday 00:00 to the next Monday 00:00 *local time*, so an event at 07:30 on a Monday in
Shanghai (23:30 on Sunday UTC) belongs to the week that Monday starts. Weeks are numbered by whole weeks
since Monday 2024-01-01 (``engagement.EPOCH``'s date); numbers before it are negative.

Why the zone is applied when the dashboard reads the event log and not when events are ingested: the
weekly numbers are derived from the stored events each time the rollup is built, so a change of the
hub's zone re-buckets the whole history consistently instead of splitting a week, and ingestion pays
nothing for the dashboard.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from contenthub.audience.engagement import EPOCH
from contenthub.hub import Hub

_EPOCH_ORDINAL = EPOCH.date().toordinal()


def zone(hub: Hub) -> tzinfo:
    return ZoneInfo(hub.settings.timezone)


def week_of_day(day: date) -> int:
    """The week a local calendar day falls in."""
    return (day.toordinal() - _EPOCH_ORDINAL) // 7


def week_start(week: int) -> date:
    """The Monday a week index starts on (a local date)."""
    return EPOCH.date() + timedelta(days=7 * week)


def week_of(at: datetime, tz: tzinfo) -> int:
    """The week an instant falls in, in zone ``tz``."""
    return week_of_day(at.astimezone(tz).date())


def week_bounds(week: int, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of a week as UTC instants: local Monday 00:00 to the next local Monday 00:00 (a
    zone with daylight saving gives 167- or 169-hour weeks, as its calendar does)."""
    monday = week_start(week)
    start = datetime.combine(monday, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), time(), tzinfo=tz).astimezone(UTC)
    return start, end
