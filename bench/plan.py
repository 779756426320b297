"""Bench: plan one week for 11 channels × 50 audiences with the default rules.

Core (always): the pure planner with a synthetic picker. Prints seconds per plan (median of repeats) for an
ordinary and a holiday week, slot and unmet counts, picker calls, plus the time to build the 550 best-time
arrays from events and to export ICS/CSV.
Service (with --service DATA_DIR, a `contenthub demo` data directory, copied first so it is not changed):
the whole store-backed path — best times learned from the audiences' events, the recommender picking every
asset, the versioned write — for 'all' plus demo groups up to --audiences (extra groups of random demo users
are created in the copy). Reported cold (best-time cache empty) and warm (re-plan of the same week).
Usage: python bench/plan.py [--audiences 50] [--repeats 5] [--service DATA_DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from contenthub.occasions import dates_in_week
from contenthub.publish.besttime import best_time_scores
from contenthub.publish.export import to_csv, to_ics
from contenthub.publish.planner import Pick, PickRequest, plan_week
from contenthub.publish.rules import CHANNELS, CONTENT_TYPES, Audience, default_rules


def service_bench(data_dir: str, n_audiences: int, week: date) -> dict[str, object]:
    """Plan `week` through publish.service on a copy of a demo data directory; see the module docstring."""
    import shutil
    import tempfile
    from pathlib import Path

    from contenthub.audience import groups, users
    from contenthub.audience.models import GroupIn, MembershipChange
    from contenthub.config import Settings
    from contenthub.hub import open_hub
    from contenthub.publish import service

    copy = Path(tempfile.mkdtemp(prefix="plan-bench-")) / "data"
    shutil.copytree(data_dir, copy)
    hub = open_hub(Settings(data_dir=copy))
    try:
        rng = random.Random(1)
        people = [d["id"] for d in hub.store.list_docs(users.USERS, limit=100000) if not d.get("merged_into")]
        existing = [g.id for g in groups.list_groups(hub, limit=1000)]
        for i in range(max(0, n_audiences - 1 - len(existing))):
            gid = f"bench-g{i:03d}"
            groups.upsert_group(hub, GroupIn(id=gid, name=f"测试群{i}", channel="wecom_group"))
            groups.change_members(hub, gid, MembershipChange(join=rng.sample(people, min(len(people), 80))))
        keys = ["all"] + [f"group:{g.id}" for g in groups.list_groups(hub, limit=1000)][: n_audiences - 1]
        out: dict[str, object] = {
            "data_dir": data_dir,
            "week_start": week.isoformat(),
            "audiences": len(keys),
            "channels": len(CHANNELS),
            "users": len(people),
        }
        for label, action in (("cold", "plan"), ("warm", "replan")):
            began = time.perf_counter()
            plan = service.generate(hub, week, list(CHANNELS), keys, "bench", action=action)
            out[f"{label}_seconds"] = round(time.perf_counter() - began, 3)
            out[f"{label}_slots"] = len(plan.slots)
        out["unmet"] = len(plan.unmet)
        out["channels_with_reasons"] = sum(1 for s in plan.channel_summary.values() if s.reasons)
        return out
    finally:
        hub.close()
        shutil.rmtree(copy.parent, ignore_errors=True)


def synthetic_picker(assets_per_type: int, calls: list[int]):
    """First asset of the type not yet used for the audience, scanning from an audience-specific offset."""

    def pick(request: PickRequest) -> Pick | None:
        calls[0] += 1
        start = hash((request.audience.key, request.channel)) % assets_per_type
        for step in range(assets_per_type):
            asset = f"{request.content_type}-{(start + step) % assets_per_type}"
            if asset not in request.exclude_asset_ids:
                return Pick(asset_id=asset, title=f"Asset {asset}", scene=request.scene, reason="synthetic")
        return None

    return pick


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--audiences", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--events-per-audience", type=int, default=200)
    parser.add_argument("--service", metavar="DATA_DIR", help="also bench the store-backed path on a demo copy")
    args = parser.parse_args()

    audiences = [Audience(kind="group", id=f"g{i}") for i in range(args.audiences)]
    rules = default_rules()
    rng = random.Random(0)
    base = datetime(2026, 5, 1, tzinfo=UTC)

    began = time.perf_counter()
    best_time = {}
    for channel in CHANNELS:
        for audience in audiences:
            events = [base + timedelta(minutes=rng.randrange(60 * 24 * 28)) for _ in range(args.events_per_audience)]
            best_time[(channel, audience.key)] = best_time_scores(events, "Asia/Shanghai", channel, 50.0)
    best_time_seconds = time.perf_counter() - began

    report: dict[str, object] = {
        "benchmark": "publish.plan_week",
        "channels": len(CHANNELS),
        "audiences": len(audiences),
        "pairs": len(CHANNELS) * len(audiences),
        "content_types": len(CONTENT_TYPES),
        "repeats": args.repeats,
        "best_time_arrays_seconds": round(best_time_seconds, 3),
        "events_per_audience": args.events_per_audience,
        "python": platform.python_version(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),  # other work on the box inflates timings
    }
    for label, week in (("ordinary_week", date(2026, 6, 8)), ("holiday_week", date(2026, 9, 28))):
        holidays = dates_in_week(week)
        timings, result, calls = [], None, [0]
        for _ in range(args.repeats):
            calls = [0]
            picker = synthetic_picker(assets_per_type=400, calls=calls)
            began = time.perf_counter()
            result = plan_week(week, rules, audiences, best_time, holidays, [], picker)
            timings.append(time.perf_counter() - began)
        assert result is not None
        began = time.perf_counter()
        ics = to_ics(result.slots, generated_at=datetime(2026, 1, 1, tzinfo=UTC))
        csv_text = to_csv(result.slots)
        export_seconds = time.perf_counter() - began
        report[label] = {
            "week_start": week.isoformat(),
            "seconds_median": round(statistics.median(timings), 3),
            "seconds_min": round(min(timings), 3),
            "slots": len(result.slots),
            "unmet": len(result.unmet),
            "unmet_by_rule": dict(
                sorted({u.rule: sum(1 for v in result.unmet if v.rule == u.rule) for u in result.unmet}.items())
            ),
            "picker_calls": calls[0],
            "export_ics_csv_seconds": round(export_seconds, 3),
            "ics_bytes": len(ics),
            "csv_bytes": len(csv_text.encode()),
        }
    if args.service:
        today = date.today()
        report["service"] = service_bench(args.service, args.audiences, today + timedelta(days=7 - today.weekday()))
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
