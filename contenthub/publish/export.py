"""Calendar exports of a plan: ICS for calendar apps, CSV for spreadsheets (where operators work today).

UIDs derive from slot ids so re-importing an updated plan updates events instead of duplicating them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from contenthub.occasions import HolidayMark

from .planner import Slot

CSV_COLUMNS = (
    "slot_id",
    "channel",
    "audience",
    "start",
    "timezone",
    "local_date",
    "local_time",
    "content_type",
    "scene",
    "asset_id",
    "asset_title",
    "locked",
    "rationale",
    "status",
    "channel_name",
    "content_type_name",
    "overrides",
)


def _summary(slot: Slot, channels: Mapping[str, str], types: Mapping[str, str]) -> str:
    """'[订阅号] 知识 · 护眼小课堂': the channel's and the content type's names, then the asset's title."""
    return (
        f"[{channels.get(slot.channel, slot.channel)}] {types.get(slot.content_type, slot.content_type)}"
        f" · {slot.asset_title or slot.asset_id}"
    )


def to_ics(
    slots: Sequence[Slot],
    calendar_name: str = "ContentHub publish plan",
    duration_minutes: int = 30,
    generated_at: datetime | None = None,
    channel_names: Mapping[str, str] | None = None,
    type_names: Mapping[str, str] | None = None,
    holidays: Sequence[HolidayMark] = (),
    lang: str = "zh",
) -> bytes:
    """One VEVENT per slot; DTSTART keeps the slot's IANA zone as TZID and the VTIMEZONEs are included.
    Holiday marks become all-day events, an estimated one saying so in its title and description.

    Pass `generated_at` for byte-identical output (it becomes DTSTAMP, which RFC 5545 requires).
    """
    channels, types = channel_names or {}, type_names or {}
    stamp = (generated_at or datetime.now(UTC)).astimezone(UTC)
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
        event.add("summary", _summary(slot, channels, types))
        event.add("description", "\n".join(slot.rationale))
        event.add("categories", [slot.channel, slot.content_type])
        cal.add_component(event)
    for mark in holidays:
        event = Event()
        event.add("uid", f"{mark.date.isoformat()}-{mark.kind}-{mark.name}@contenthub")
        event.add("dtstamp", stamp)
        event.add("dtstart", mark.date)
        event.add("dtend", mark.date + timedelta(days=1))
        event.add("summary", mark.label(lang))
        event.add("categories", ["holiday", mark.kind] + (["estimated"] if mark.estimated else []))
        if mark.estimated:
            event.add(
                "description",
                "预计放假安排：官方安排尚未发布，发布后自动替换。"
                if lang == "zh"
                else "Estimated days off: the official schedule is not published yet; it replaces this once it is.",
            )
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def _cell(value: str) -> str:
    # editors type titles; a leading =,+,-,@ would run as a formula when the CSV is opened in a spreadsheet
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def to_csv(
    slots: Sequence[Slot], channel_names: Mapping[str, str] | None = None, type_names: Mapping[str, str] | None = None
) -> str:
    """One row per slot with the local date/time and zone next to the ISO start (status when stored)."""
    channels, types = channel_names or {}, type_names or {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for slot in slots:
        zone = getattr(slot.start.tzinfo, "key", None) or str(slot.start.tzinfo)
        writer.writerow(
            [
                slot.id,
                slot.channel,
                slot.audience.key,
                slot.start.isoformat(),
                zone,
                slot.start.date().isoformat(),
                slot.start.strftime("%H:%M"),
                slot.content_type,
                slot.scene or "",
                slot.asset_id,
                _cell(slot.asset_title or ""),
                "yes" if slot.locked else "no",
                _cell(" | ".join(slot.rationale)),
                getattr(slot, "status", ""),
                channels.get(slot.channel, slot.channel),
                types.get(slot.content_type, slot.content_type),
                _cell(" | ".join(f"{o.by} {o.at[:16]}: {o.reason}" for o in getattr(slot, "overrides", []))),
            ]
        )
    return out.getvalue()
