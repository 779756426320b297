"""Times as a person in the hub reads them: in the hub's time zone (``CONTENTHUB_TIMEZONE``), in the current
language's format (Babel), with the zone named where a time is read on its own.

Stored stamps are UTC (``timeutil``); the zone of the request being answered is set by
``web.language.LanguageMiddleware`` from the settings, so templates and services format without passing it.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.dates import get_timezone_name

from contenthub.i18n import _, current_locale
from contenthub.timeutil import to_utc

DEFAULT_TIMEZONE = "Asia/Shanghai"
_timezone: ContextVar[str] = ContextVar("contenthub_timezone", default=DEFAULT_TIMEZONE)


def set_timezone(name: str) -> None:
    _timezone.set(name)


def hub_zone() -> ZoneInfo:
    return ZoneInfo(_timezone.get())


def zone_label(zone: ZoneInfo | None = None) -> str:
    """The hub's zone as a person names it (``中国时间`` / ``China Time`` for Asia/Shanghai)."""
    return str(get_timezone_name(zone or hub_zone(), "long", locale=current_locale()))


def local(dt: datetime, zone: ZoneInfo | None = None) -> datetime:
    return to_utc(dt).astimezone(zone or hub_zone())


def format_datetime(
    dt: datetime | None, *, zone: ZoneInfo | None = None, show_zone: bool = False, fmt: str = "yyyy-MM-dd HH:mm"
) -> str:
    """A stored (UTC) time as a person in the hub reads it: in the hub's zone, optionally naming the zone."""
    if dt is None:
        return ""
    z = zone or hub_zone()
    text = str(_babel_format_datetime(to_utc(dt), fmt, tzinfo=z, locale=current_locale()))
    return _("{time} ({zone})").format(time=text, zone=zone_label(z)) if show_zone else text


def format_date(d: date, fmt: str = "medium") -> str:
    return str(_babel_format_date(d, fmt, locale=current_locale()))


def format_local(dt: datetime, fmt: str) -> str:
    """An aware time in its own zone (a slot's rule zone), in the current language (``EEE`` is 周一 / Mon)."""
    return str(_babel_format_datetime(dt, fmt, tzinfo=dt.tzinfo, locale=current_locale()))
