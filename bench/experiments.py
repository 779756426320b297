"""Bench: what experiments cost on the serving hot path, and how long a report takes.

Prints JSON: microseconds per call (median of repeats, per call over --calls unit ids) of
``strategy_override`` and ``asset_substitution`` with no running experiment and with --running
experiments (half strategy, half asset, 4 layers), of ``log_exposure`` for an already-seen unit;
then the seconds to build the report of a synthetic experiment with --units exposed units and
--events-per-unit events each (store writes included in 'setup_s', not in the report time).
Usage: python bench/experiments.py [--calls 20000] [--running 8] [--units 20000] [--events-per-unit 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from contenthub.config import Settings
from contenthub.experiments import runtime, service
from contenthub.experiments.models import ExperimentCreate
from contenthub.experiments.report import build_report
from contenthub.hub import open_hub
from contenthub.library.models import Asset
from contenthub.timeutil import to_iso, utcnow


def per_call_us(fn, ids: list[str], repeats: int = 5) -> float:  # noqa: ANN001
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for uid in ids:
            fn(uid)
        runs.append((time.perf_counter() - t0) / len(ids) * 1e6)
    return round(statistics.median(runs), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--running", type=int, default=8)
    parser.add_argument("--units", type=int, default=20000)
    parser.add_argument("--events-per-unit", type=int, default=4)
    args = parser.parse_args()
    out: dict[str, object] = {"python": platform.python_version(), "cpus": os.cpu_count(), **vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(Settings(data_dir=Path(tmp) / "data"))
        ids = [f"u{i}" for i in range(args.calls)]
        stamp = to_iso(utcnow() - timedelta(days=30))
        hub.store.put_assets([Asset(id=f"a{i}", title=f"a{i}", kind="article", channels=["app_push"], status="approved",
                                    created_at=stamp, updated_at=stamp).model_dump(mode="json") for i in range(2)])

        def strategy(uid: str) -> None:
            runtime.strategy_override(hub, "user", uid, requested="default")

        def asset(uid: str) -> None:
            runtime.asset_substitution(hub, "user", uid, "a-not-in-any-experiment")

        out["strategy_override_us_idle"] = per_call_us(strategy, ids)
        out["asset_substitution_us_idle"] = per_call_us(asset, ids)
        for k in range(args.running):
            layer = f"l{k % 4}"
            body = {"key": f"e{k}", "unit": "user", "layer": layer, "layer_start": 0.0 if k < 4 else 0.5,
                    "layer_end": 0.5 if k < 4 else 1.0, "secondary_metrics": [], "variants": [
                        {"name": "control", "weight": 0.5}, {"name": "B", "weight": 0.5}]}
            if k % 2:
                body |= {"change": "asset"}
                body["variants"][1]["substitutions"] = {"a0": "a1"}
            else:
                body["variants"][1]["strategy"] = "popular"
            service.create_experiment(hub, ExperimentCreate.model_validate(body))
            service.start_experiment(hub, f"e{k}")
        out["strategy_override_us_running"] = per_call_us(strategy, ids)
        out["asset_substitution_us_running_not_in_domain"] = per_call_us(asset, ids)
        ov = runtime.strategy_override(hub, "user", "u1", requested="default")
        if ov is not None:
            runtime.log_exposure(hub, ov, "u1", utcnow())
            out["log_exposure_us_seen"] = per_call_us(lambda _: runtime.log_exposure(hub, ov, "u1", utcnow()), ids)

        t0 = time.perf_counter()
        service.create_experiment(hub, ExperimentCreate.model_validate({
            "key": "big", "secondary_metrics": ["clicks_per_delivery", "revenue_per_unit"], "variants": [
                {"name": "control", "weight": 0.5}, {"name": "B", "weight": 0.5, "strategy": "popular"}]}))
        start = utcnow() - timedelta(days=14)
        docs, events = {}, []
        for i in range(args.units):
            uid = f"x{i}"
            at = start + timedelta(minutes=i % (13 * 24 * 60))
            docs[f"big|{uid}"] = {"experiment": "big", "unit_id": uid, "unit": "user", "variant": ("control", "B")[i % 2],
                                  "variant_index": i % 2, "first_exposed_at": to_iso(at)}
            for j in range(args.events_per_unit):
                etype = ("delivered", "open", "click", "convert")[j % 4]
                events.append({"id": f"{uid}-{j}", "type": etype, "user_id": uid, "asset_id": "a0", "channel": "app_push",
                               "ts": to_iso(at + timedelta(hours=j + 1)), "value": 10.0 if etype == "convert" else None})
        hub.store.put_docs_atomic("exposures", docs)
        for i in range(0, len(events), 10000):
            hub.store.add_events(events[i:i + 10000])
        out["setup_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        rep = build_report(hub, "big")
        out["report_s"] = round(time.perf_counter() - t0, 2)
        out["report_units"] = sum(rep.units.values())
        out["report_events_used"] = rep.events_used
        out["report_periods"] = len(rep.timeseries[0].points)
        hub.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
