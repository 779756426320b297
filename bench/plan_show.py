"""Show what issue 21 asks to see, as JSON (figures for bench/RESULTS.md; not a timing bench).

- a plan of the current week generated on a Sunday afternoon and on a Wednesday (pure planner, default
  rules, every channel for 'all', a synthetic picker), one line each;
- the 2027 and 2028 春节 and 中秋 weeks as the calendar shows their marks (zh labels, estimated ones marked);
- the override record of one refused swap, through the store-backed service on a temporary hub.
Usage: PYTHONPATH=. python bench/plan_show.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from contenthub import clock
from contenthub.config import Settings
from contenthub.errors import ConflictError
from contenthub.hub import open_hub
from contenthub.library import service as library
from contenthub.occasions import dates_in_week, lunar_date
from contenthub.publish import editing, service
from contenthub.publish.editing import SlotPatch
from contenthub.publish.planner import Pick, PickRequest, plan_week, week_start_of
from contenthub.publish.rules import Audience, default_rules

SH = ZoneInfo("Asia/Shanghai")


def picker(request: PickRequest) -> Pick:
    n = sum(1 for a in request.exclude_asset_ids if a.startswith(request.content_type))
    return Pick(asset_id=f"{request.content_type}-{n}", title=f"{request.content_type} #{n}")


def plan_line(now: datetime) -> str:
    week = week_start_of(now.astimezone(SH).date())
    result = plan_week(week, default_rules(), [Audience()], None, dates_in_week(week), [], picker, not_before=now)
    days = Counter(s.start.astimezone(SH).strftime("%a %m-%d") for s in result.slots)
    first = min((s.start for s in result.slots), default=None)
    return (
        f"now {now:%a %Y-%m-%d %H:%M} Beijing → week {week.isoformat()}: {len(result.slots)} slots, "
        f"first {first.astimezone(SH):%a %H:%M}"
        if first
        else "no slot"
    ) + f", by day {dict(days)}, none before now: {all(s.start >= now for s in result.slots)}"


def holiday_week(day: date) -> str:
    monday = week_start_of(day)
    marks = [f"{m.date:%a %m-%d} {m.label('zh')}" for m in dates_in_week(monday)]
    return f"{monday.isoformat()}…{monday + timedelta(days=6)}: " + ", ".join(marks)


def override_record() -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="plan-show-"))
    hub = open_hub(Settings(data_dir=root / "data"))
    try:
        clock.pin(hub, datetime(2026, 12, 6, 15, tzinfo=SH))
        lines = [
            json.dumps(
                {
                    "id": f"a{i}",
                    "title": f"护眼小课堂第{i}期",
                    "kind": "article",
                    "status": "approved",
                    "content_type": kind,
                    "channels": ["mp_subscription", "app_push"],
                },
                ensure_ascii=False,
            )
            for i, kind in enumerate(["educational", "practical", "entertainment", "interactive"] * 2)
        ]
        lines.append(
            json.dumps(
                {
                    "id": "w1",
                    "title": "企微一对一专属话术",
                    "kind": "text_script",
                    "status": "approved",
                    "content_type": "practical",
                    "channels": ["wecom_1v1"],
                },
                ensure_ascii=False,
            )
        )
        library.import_jsonl(hub, lines, "editor-li")
        now = clock.current(hub)
        plan = service.generate(hub, date(2026, 12, 7), ["mp_subscription"], ["all"], "editor-li", now=now)
        slot = plan.slots[0]
        try:
            editing.edit_slot(hub, plan.week_start, slot.id, SlotPatch(asset_id="w1"), "editor-li", now, "zh")
            refused = None
        except ConflictError as exc:
            refused = exc.message
        change = editing.edit_slot(
            hub,
            plan.week_start,
            slot.id,
            SlotPatch(asset_id="w1", override_channel=True, override_reason="活动方要求订阅号同步推送一对一话术"),
            "editor-li",
            now,
            "zh",
        )
        assert change.slot is not None
        return {
            "refused_409": refused,
            "override": change.slot.overrides[0].model_dump(),
            "edit_note": change.slot.edits[-1],
        }
    finally:
        hub.close()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    report = {
        "sunday_afternoon": plan_line(datetime(2026, 12, 6, 15, 0, tzinfo=SH)),
        "wednesday": plan_line(datetime(2026, 12, 9, 10, 30, tzinfo=SH)),
        "weeks": {
            "春节 2027": holiday_week(lunar_date(2027, 1, 1)),
            "中秋 2027": holiday_week(lunar_date(2027, 8, 15)),
            "春节 2028": holiday_week(lunar_date(2028, 1, 1)),
            "中秋 2028": holiday_week(lunar_date(2028, 8, 15)),
        },
        "refused_swap": override_record(),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
