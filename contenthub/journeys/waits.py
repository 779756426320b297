"""When a wait ends: duration, then the next given weekday, then the next opening of a local window.

Pure time arithmetic in the brand's time zone, so 'day 1 at 10:00' means 10:00 in Shanghai whatever
the server's clock zone is, and a window crossing midnight (20:00–02:00) works.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from contenthub.i18n import _
from contenthub.journeys.models import Wait
from contenthub.labels import label
from contenthub.timeutil import to_utc


def _hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


def _in_window(t: time, start: time, end: time) -> bool:
    if start < end:
        return start <= t < end
    return t >= start or t < end  # crosses midnight


def due_after(wait: Wait, start: datetime, tz: str) -> datetime:
    """The first moment at or after ``start + duration`` that satisfies the weekday and the window."""
    zone = ZoneInfo(tz)
    t = (to_utc(start) + timedelta(seconds=wait.seconds)).astimezone(zone)
    w_start = _hhmm(wait.window_start) if wait.window_start else None
    w_end = _hhmm(wait.window_end) if wait.window_end else None
    if wait.weekday is not None:
        ahead = (wait.weekday - t.weekday()) % 7 or 7
        day = (t + timedelta(days=ahead)).date()
        at = w_start or t.time().replace(microsecond=0)
        t = datetime.combine(day, at, tzinfo=zone)
    if w_start is not None and w_end is not None and not _in_window(t.timetz().replace(tzinfo=None), w_start, w_end):
        opening = datetime.combine(t.date(), w_start, tzinfo=zone)
        if opening <= t:
            opening = datetime.combine(t.date() + timedelta(days=1), w_start, tzinfo=zone)
        t = opening
    return to_utc(t)


def describe(wait: Wait) -> str:
    """Short human text for pages and funnels, in the reader's language, e.g. '1 天 2 小时 · 周一 · 10:00–20:00'."""
    parts = []
    if wait.days:
        parts.append(_("{n}d").format(n=wait.days))
    if wait.hours:
        parts.append(_("{n}h").format(n=wait.hours))
    if wait.minutes:
        parts.append(_("{n}m").format(n=wait.minutes))
    text = " ".join(parts) or _("none")
    if wait.weekday is not None:
        text += " · " + label("weekday", wait.weekday)
    if wait.window_start:
        text += f" · {wait.window_start}–{wait.window_end}"
    return text
