"""Bench: next content in-process for several checkouts at once, interleaved request batch by batch.

On a shared machine whose speed moves by 1.5–5× within minutes, two runs one after the other compare the
machine, not the code. Here one worker process per checkout (its own ``contenthub``, its own
``bench/recommend.py`` settings) opens its data directory, warms its catalog, and then answers "run R
requests" commands; the driver sends them round by round to every worker in a shuffled order, so each
checkout sees the same load drifts, the same users (one seeded user list per round) and the same number of
requests. Prints JSON: per checkout p50/p99/mean ms of ``service.next_for_user`` (n=3, default strategy,
wecom_1v1, random bench users) and each checkout's p50/p99 as a ratio of the first one's, overall and round by round.

The data directories are bench/recommend.py's (build them with it first); two checkouts may share one.

Usage: python bench/interleaved.py --checkout NAME=PATH:DATA_DIR [--checkout ...] [--rounds 30]
       [--per-round 100] [--users 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from typing import Any

import numpy as np

WORKER = r"""
import json, random, sys, time
from pathlib import Path
root, data_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, root + "/bench")
sys.path.insert(0, root)
import recommend as rb
from contenthub.hub import open_hub
from contenthub.recommend import service
from contenthub.recommend.catalog import refresh_now
hub = open_hub(rb.settings_for(Path(data_dir)))
refresh_now(hub)
warm = random.Random(1)
for _ in range(100):
    service.next_for_user(hub, f"bu{warm.randrange(100000):06d}", "wecom_1v1", n=3)
print("ready", flush=True)
for line in sys.stdin:
    n, seed, users = (int(x) for x in line.split())
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        uid = f"bu{rng.randrange(users):06d}"
        t0 = time.perf_counter()
        service.next_for_user(hub, uid, "wecom_1v1", n=3)
        out.append((time.perf_counter() - t0) * 1000)
    print(json.dumps(out), flush=True)
hub.close()
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkout", action="append", required=True, help="NAME=PATH:DATA_DIR (the first is the base)")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--per-round", type=int, default=100)
    p.add_argument("--users", type=int, default=100_000)
    a = p.parse_args()
    workers: dict[str, subprocess.Popen[str]] = {}
    for spec in a.checkout:
        name, rest = spec.split("=", 1)
        path, data_dir = rest.rsplit(":", 1)
        workers[name] = subprocess.Popen(
            [sys.executable, "-c", WORKER, path, data_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=path,
        )
    try:
        for name, w in workers.items():
            assert w.stdout is not None
            if w.stdout.readline().strip() != "ready":
                raise SystemExit(f"worker {name} did not start")
        times: dict[str, list[float]] = {name: [] for name in workers}
        round_p50: dict[str, list[float]] = {name: [] for name in workers}
        order = list(workers)
        shuffle = random.Random(0)
        for r in range(a.rounds):
            shuffle.shuffle(order)
            for name in order:
                w = workers[name]
                assert w.stdin is not None and w.stdout is not None
                w.stdin.write(f"{a.per_round} {r} {a.users}\n")
                w.stdin.flush()
                got = json.loads(w.stdout.readline())
                times[name].extend(got)
                round_p50[name].append(float(np.percentile(got, 50)))
    finally:
        for w in workers.values():
            if w.stdin is not None:
                w.stdin.close()
            w.wait(timeout=60)
    base = next(iter(workers))
    out: dict[str, Any] = {
        "rounds": a.rounds,
        "per_round": a.per_round,
        "n": 3,
        "channel": "wecom_1v1",
        "strategy": "default",
        "checkouts": {},
    }
    stats = {
        name: {
            "p50_ms": float(np.percentile(t, 50)),
            "p99_ms": float(np.percentile(t, 99)),
            "mean_ms": float(np.mean(t)),
            "requests": len(t),
        }
        for name, t in times.items()
    }
    for name, st in stats.items():
        out["checkouts"][name] = {
            **{k: round(v, 3) for k, v in st.items()},
            f"p50_vs_{base}": round(st["p50_ms"] / stats[base]["p50_ms"], 3),
            f"p99_vs_{base}": round(st["p99_ms"] / stats[base]["p99_ms"], 3),
        }
        # the same ratio round by round (each round's p50 against the base's in that round): its median and
        # spread say how much of the overall ratio survives the machine's drift
        per_round = np.asarray(round_p50[name]) / np.asarray(round_p50[base])
        out["checkouts"][name][f"round_p50_vs_{base}"] = {
            "median": round(float(np.median(per_round)), 3),
            "p10": round(float(np.percentile(per_round, 10)), 3),
            "p90": round(float(np.percentile(per_round, 90)), 3),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
