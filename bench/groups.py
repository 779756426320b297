"""Bench: next content for a group of 500 members, in-process (DESIGN.md: p50 ≤ 20 ms).

Prints JSON with p50/p99/mean ms of ``service.next_for_group`` (n=3, default strategy, wecom_group) over
``--requests`` calls after a warm-up, and how long the set-up's membership change and member events took.

Data (built fresh in a temporary directory, or --data-dir): ``--assets`` approved assets from
``demo_corpus.generate_assets`` with random unit vectors (bench/recommend.py's loader), ``--members``
members with bench/recommend.py's 4–16 events each (half of them before the group exists, half after
the members joined, so both ways of keeping a group profile are exercised), a few deliveries to the group
itself, and as many users outside the group.

Usage: python bench/groups.py [--assets 10000] [--members 500] [--requests 300] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import recommend as rb

from contenthub.hub import open_hub
from contenthub.timeutil import to_iso, utcnow

CHANNEL = "wecom_group"


def run(data_dir: Path, n_assets: int, n_members: int, requests: int) -> dict[str, Any]:
    from contenthub.audience import groups
    from contenthub.audience.models import GroupIn, MembershipChange
    from contenthub.recommend import events, service
    from contenthub.recommend.catalog import refresh_now

    hub = open_hub(rb.settings_for(data_dir))
    try:
        docs = rb.load_assets(hub, n_assets)
        by_vertical: dict[str, list[dict[str, Any]]] = {}
        for d in docs:
            by_vertical.setdefault(d["vertical"] or "", []).append(d)
        verticals = sorted(by_vertical)
        rng = random.Random(7)
        now = utcnow()
        now_ts = now.timestamp() - 3600
        members = [f"gm{u:05d}" for u in range(n_members)]
        others = [f"go{u:05d}" for u in range(n_members)]
        before = [
            e
            for u, uid in enumerate(members[: n_members // 2] + others)
            for e in rb.user_events(rng, uid, by_vertical, verticals, now_ts, u)
        ]
        assert not events.ingest(hub, before).rejected
        groups.upsert_group(hub, GroupIn(id="g500", name="五百人群", channel=CHANNEL, purpose="community"))
        started = time.perf_counter()
        groups.change_members(hub, "g500", MembershipChange(join=members))
        join_s = time.perf_counter() - started
        after = [
            e
            for u, uid in enumerate(members[n_members // 2 :])
            for e in rb.user_events(rng, uid, by_vertical, verticals, now_ts, 10**6 + u)
        ]
        for k in range(5):
            a = rng.choice(docs)
            after.append(
                {
                    "id": f"grp-{k}",
                    "type": "delivered",
                    "group_id": "g500",
                    "asset_id": a["id"],
                    "channel": CHANNEL,
                    "ts": to_iso(now - timedelta(days=k + 1)),
                }
            )
        started = time.perf_counter()
        assert not events.ingest(hub, after).rejected
        ingest_s = time.perf_counter() - started
        refresh_now(hub)
        for s in range(30):
            service.next_for_group(hub, "g500", n=3, seed=s)
        times = []
        empty = 0
        for _request in range(requests):
            t0 = time.perf_counter()
            rec = service.next_for_group(hub, "g500", n=3)
            times.append((time.perf_counter() - t0) * 1000)
            empty += not rec.picks
    finally:
        hub.close()
    arr = np.asarray(times)
    return {
        "members": n_members,
        "assets": n_assets,
        "requests": requests,
        "channel": CHANNEL,
        "n": 3,
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p99_ms": round(float(np.percentile(arr, 99)), 3),
        "mean_ms": round(statistics.mean(times), 3),
        "responses_without_picks": empty,
        "join_500_s": round(join_s, 3),
        "member_events_after_join": len(after),
        "ingest_after_join_s": round(ingest_s, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--assets", type=int, default=10_000)
    p.add_argument("--members", type=int, default=500)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--data-dir", type=Path, default=None)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="contenthub-groups-") as tmp:
        data_dir = a.data_dir or Path(tmp)
        out = rb.probed(run, data_dir, a.assets, a.members, a.requests)
    print(json.dumps({"group_next_content": out}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
