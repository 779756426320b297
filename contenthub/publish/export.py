"""Calendar exports of a plan: ICS for calendar apps, CSV for spreadsheets (where operators work today).

UIDs derive from slot ids so re-importing an updated plan updates events instead of duplicating them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from icalendar import Calendar, Event

from .planner import Slot

CSV_COLUMNS = (
    "slot_id", "channel", "audience", "start", "timezone", "local_date", "local_time", "content_type",
    "scene", "asset_id", "asset_title", "locked", "rationale", "status",
)


def _summary(slot: Slot) -> str:
    return f"[{slot.channel}] {slot.content_type} · {slot.asset_title or slot.asset_id}"


def to_ics(
    slots: Sequence[Slot],
    calendar_name: str = "ContentHub publish plan",
    duration_minutes: int = 30,
    generated_at: datetime | None = None,
) -> bytes:
    """One VEVENT per slot; DTSTART keeps the slot's IANA zone as TZID and the VTIMEZONEs are included.

    Pass `generated_at` for byte-identical output (it becomes DTSTAMP, which RFC 5545 requires).
    """
    stamp = (generated_at or datetime.now(dt_timezone.utc)).astimezone(dt_timezone.utc)
    cal = Calendar()
    cal.add("prodid", "-//ContentHub//publish planner//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", calendar_name)
    for slot in slots:
        event = Event()
        event.add("uid", f"{slot.id}@contenthub")
        event.add("dtstamp", stamp)
        event.add("dtstart", slot.start)
        event.add("dtend", slot.start + timedelta(minutes=duration_minutes))
        event.add("summary", _summary(slot))
        event.add("description", "\n".join(slot.rationale))
        event.add("categories", [slot.channel, slot.content_type])
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def _cell(value: str) -> str:
    # editors type titles; a leading =,+,-,@ would run as a formula when the CSV is opened in a spreadsheet
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def to_csv(slots: Sequence[Slot]) -> str:
    """One row per slot with the local date/time and zone next to the ISO start (status when stored)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for slot in slots:
        zone = getattr(slot.start.tzinfo, "key", None) or str(slot.start.tzinfo)
        writer.writerow([
            slot.id, slot.channel, slot.audience.key, slot.start.isoformat(), zone,
            slot.start.date().isoformat(), slot.start.strftime("%H:%M"), slot.content_type, slot.scene or "",
            slot.asset_id, _cell(slot.asset_title or ""), "yes" if slot.locked else "no",
            _cell(" | ".join(slot.rationale)), getattr(slot, "status", ""),
        ])
    return out.getvalue()
