"""Bench: whether the experiment statistics are right (A/A, peeking, power, planning, SRM, decisions),
what experiments cost on the serving hot path, and how long a report takes.

Quality ('quality' in the JSON, pure statistics, seeded): the share of A/A experiments called
significant at a fixed horizon, with 10 peeks (fixed-horizon test vs sequential mode), how often the
relative interval and the p-value disagree, how often the decision rule ships an A/A variant, the
power at 20,000 per arm and at the planner's sample size, and the SRM statistic of a 52/48 split.

Prints JSON: microseconds per call (median of repeats, per call over --calls unit ids) of
``strategy_override`` and ``asset_substitution`` with no running experiment and with --running
experiments (half strategy, half asset, 4 layers), of ``log_exposure`` for an already-seen unit;
then the seconds to build the report of a synthetic experiment with --units exposed units and
--events-per-unit events each (store writes included in 'setup_s', not in the report time).
Usage: python bench/experiments.py [--calls 20000] [--running 8] [--units 20000] [--events-per-unit 4]
                                   [--sims 1000] [--only quality|speed]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from scipy import stats as sps

from contenthub.config import Settings
from contenthub.experiments import service
from contenthub.experiments.models import ExperimentCreate
from contenthub.experiments.report import build_report
from contenthub.experiments.stats import MeanStats, compare, sequential_test, srm_check
from contenthub.experiments.stats.decision import ArmEvidence, PlanFacts, decide
from contenthub.experiments.stats.planning import plan_sample
from contenthub.hub import open_hub
from contenthub.library.models import Asset
from contenthub.timeutil import to_iso, utcnow
from contenthub.variants import runtime


def per_call_us(fn, ids: list[str], repeats: int = 5) -> float:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for uid in ids:
            fn(uid)
        runs.append((time.perf_counter() - t0) / len(ids) * 1e6)
    return round(statistics.median(runs), 2)


def quality(sims: int) -> dict[str, object]:
    """The statistics' error rates and power, by simulation (seeded, no store)."""
    rng = np.random.default_rng(2024)
    out: dict[str, object] = {"sims": sims}
    units, peeks, base = 2000, 10, 0.05
    per_peek = units // 2 // peeks
    clicks = rng.binomial(per_peek, base, size=(sims, peeks, 2)).cumsum(axis=1)
    fixed_final = fixed_ever = seq_ever = disagree = shipped = 0
    for i in range(sims):
        ever_f = ever_s = False
        for k in range(peeks):
            n = per_peek * (k + 1)
            c, t = MeanStats.binomial(n, int(clicks[i, k, 0])), MeanStats.binomial(n, int(clicks[i, k, 1]))
            comp = compare(c, t, "binomial", True)
            ever_f |= comp.significant
            ever_s |= sequential_test(c, t).p_value < 0.05
            if k == peeks - 1:
                fixed_final += comp.significant
                if comp.rel_ci is not None:
                    disagree += (comp.rel_ci[0] > 0 or comp.rel_ci[1] < 0) != comp.significant
                verdict = decide(
                    [ArmEvidence("B", comp)],
                    PlanFacts(
                        sequential=False,
                        mde=0.1,
                        planned_units=units,
                        units=units,
                        enough_data=True,
                        srm_warn=False,
                        srm_p=1.0,
                    ),
                ).verdict
                shipped += verdict == "ship"
        fixed_ever += ever_f
        seq_ever += ever_s
    out["aa_fixed_horizon_significant"] = round(fixed_final / sims, 4)
    out["aa_10_peeks_fixed_ever_significant"] = round(fixed_ever / sims, 4)
    out["aa_10_peeks_sequential_ever_significant"] = round(seq_ever / sims, 4)
    out["aa_relative_interval_disagrees_with_p"] = round(disagree / sims, 4)
    out["aa_decision_ships"] = round(shipped / sims, 4)

    # The situation: ~300 users per arm, a large lift (7% -> 12%). How often does each relative
    # interval disagree with the p-value? Fieller: never, by construction; the delta method: often.
    fieller_off = delta_off = below_minus_100 = 0
    for c, t in zip(rng.binomial(300, 0.07, sims), rng.binomial(300, 0.12, sims), strict=True):
        comp = compare(MeanStats.binomial(300, int(c)), MeanStats.binomial(300, int(t)), "binomial", True)
        if comp.rel_diff is None or comp.rel_std_error is None:
            continue
        half = comp.critical_value * comp.rel_std_error
        delta_off += ((comp.rel_diff - half > 0) or (comp.rel_diff + half < 0)) != comp.significant
        below_minus_100 += comp.rel_diff - half < -1
        if comp.rel_ci is not None:
            fieller_off += ((comp.rel_ci[0] > 0) or (comp.rel_ci[1] < 0)) != comp.significant
    out["small_lift_300_per_arm_delta_interval_disagrees"] = round(delta_off / sims, 4)
    out["small_lift_300_per_arm_delta_interval_below_minus_100pct"] = round(below_minus_100 / sims, 4)
    out["small_lift_300_per_arm_fieller_interval_disagrees"] = round(fieller_off / sims, 4)

    def power(n: int, lifted: float, sequential: bool = False) -> float:
        cs, ts = rng.binomial(n, base, sims), rng.binomial(n, lifted, sims)
        hits = 0
        for c, t in zip(cs, ts, strict=True):
            a, b = MeanStats.binomial(n, int(c)), MeanStats.binomial(n, int(t))
            hits += (
                (sequential_test(a, b).p_value < 0.05) if sequential else compare(a, b, "binomial", True).significant
            )
        return round(hits / sims, 4)

    se = math.sqrt((base * (1 - base) + 0.055 * 0.945) / 20_000)
    out["power_20k_per_arm_10pct_lift"] = power(20_000, 0.055)
    out["power_20k_per_arm_theory"] = round(float(sps.norm.cdf(0.005 / se - sps.norm.ppf(0.975))), 4)
    plan = plan_sample(base, 0.1, power=0.8)
    out["planner_units_per_arm_80pct"] = plan.units_per_variant[0]
    out["power_at_planned_sample"] = power(plan.units_per_variant[0], 0.055)
    seq_plan = plan_sample(base, 0.1, power=0.8, sequential=True)
    out["planner_units_per_arm_80pct_sequential"] = seq_plan.units_per_variant[0]
    out["power_at_planned_sample_sequential"] = power(seq_plan.units_per_variant[0], 0.055, sequential=True)
    srm = srm_check([20_800, 19_200], [0.5, 0.5])
    out["srm_52_48_chi_square"] = round(srm.chi_square, 1)
    out["srm_52_48_warns"] = srm.warn
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--running", type=int, default=8)
    parser.add_argument("--units", type=int, default=20000)
    parser.add_argument("--events-per-unit", type=int, default=4)
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--only", choices=("quality", "speed"), default=None)
    args = parser.parse_args()
    out: dict[str, object] = {"python": platform.python_version(), "cpus": os.cpu_count(), **vars(args)}
    if args.only != "speed":
        t0 = time.perf_counter()
        out["quality"] = quality(args.sims)
        out["quality_s"] = round(time.perf_counter() - t0, 1)
    if args.only == "quality":
        print(json.dumps(out, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(Settings(data_dir=Path(tmp) / "data"))
        ids = [f"u{i}" for i in range(args.calls)]
        stamp = to_iso(utcnow() - timedelta(days=30))
        hub.store.put_assets(
            [
                Asset(
                    id=f"a{i}",
                    title=f"a{i}",
                    kind="article",
                    channels=["app_push"],
                    status="approved",
                    created_at=stamp,
                    updated_at=stamp,
                ).model_dump(mode="json")
                for i in range(2)
            ]
        )

        def strategy(uid: str) -> None:
            runtime.strategy_override(hub, "user", uid, requested="default")

        def asset(uid: str) -> None:
            runtime.asset_substitution(hub, "user", uid, "a-not-in-any-experiment")

        out["strategy_override_us_idle"] = per_call_us(strategy, ids)
        out["asset_substitution_us_idle"] = per_call_us(asset, ids)
        for k in range(args.running):
            layer = f"l{k % 4}"
            body = {
                "key": f"e{k}",
                "unit": "user",
                "layer": layer,
                "layer_start": 0.0 if k < 4 else 0.5,
                "layer_end": 0.5 if k < 4 else 1.0,
                "secondary_metrics": [],
                "variants": [{"name": "control", "weight": 0.5}, {"name": "B", "weight": 0.5}],
            }
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
        service.create_experiment(
            hub,
            ExperimentCreate.model_validate(
                {
                    "key": "big",
                    "secondary_metrics": ["clicks_per_delivery", "revenue_per_unit"],
                    "variants": [
                        {"name": "control", "weight": 0.5},
                        {"name": "B", "weight": 0.5, "strategy": "popular"},
                    ],
                }
            ),
        )
        start = utcnow() - timedelta(days=14)
        docs, events = {}, []
        for i in range(args.units):
            uid = f"x{i}"
            at = start + timedelta(minutes=i % (13 * 24 * 60))
            docs[f"big|{uid}"] = {
                "experiment": "big",
                "unit_id": uid,
                "unit": "user",
                "variant": ("control", "B")[i % 2],
                "variant_index": i % 2,
                "first_exposed_at": to_iso(at),
            }
            for j in range(args.events_per_unit):
                etype = ("delivered", "open", "click", "convert")[j % 4]
                events.append(
                    {
                        "id": f"{uid}-{j}",
                        "type": etype,
                        "user_id": uid,
                        "asset_id": "a0",
                        "channel": "app_push",
                        "ts": to_iso(at + timedelta(hours=j + 1)),
                        "value": 10.0 if etype == "convert" else None,
                    }
                )
        hub.store.put_docs_atomic("exposures", docs)
        for i in range(0, len(events), 10000):
            hub.store.add_events(events[i : i + 10000])
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
