"""Bench: where does the served hub lose clicks against the oracle? (issue 18; reads a kept `simulate.py` run)

``bench/simulate.py --keep`` leaves each seed's data directory (its SQLite store holds every event the bot
posted; event ids are ``sim<seed>-<day>-<user>-<type>``). This script rebuilds the same world
(``sim_world.make_world``), replays the hub's deliveries day by day with the re-delivery window, and for
each one compares the delivered asset with the best asset the user could have been sent that day by the
world's click logit ``a_u,t + b_u,c + q_a`` (what the oracle maximises, fatigue aside): how many logits of
the gap are the topic, the content type and the asset's appeal, and how often the pick was the user's
primary topic (the oracle's share beside it). It also prints the default strategy's stored weights (what
the learning job left active) and the lifecycle stage the hub gave the users.

Prints JSON: per day and over days 11–20 the mean regret per component, the primary-topic share of the
hub's picks and of the best picks, and the hub's click rate.
Usage: python bench/simulate.py --seeds 1 --keep --data-dir DIR; python bench/sim_regret.py DIR/contenthub-sim-1-* 1
       [--users 400] [--assets 250]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_world import make_world  # noqa: E402

WINDOW_DAYS = 30  # the hub's default re-delivery window (Settings.redelivery_window_days)


def regrets(data_dir: Path, seed: int, users: int, assets: int) -> dict[str, Any]:
    world = make_world(seed, assets, users)
    user_of = {u: i for i, u in enumerate(world.user_ids)}
    asset_of = {a["id"]: i for i, a in enumerate(world.assets)}
    con = sqlite3.connect(data_dir / "contenthub.db")
    delivered: dict[tuple[int, int], int] = {}
    clicked: set[tuple[int, int]] = set()
    for eid, etype, uid, aid in con.execute(
        "SELECT id, type, user_id, asset_id FROM events WHERE type IN ('delivered', 'click')"
    ):
        day = int(eid.split("-")[1])
        if etype == "delivered":
            delivered[(day, user_of[uid])] = asset_of[aid]
        else:
            clicked.add((day, user_of[uid]))
    sent: dict[int, dict[int, int]] = {}
    rows: dict[int, list[tuple[float, ...]]] = {}
    for day, u in sorted(delivered):
        a = delivered[(day, u)]
        ok = world.on_channel.copy()
        for prev, d in sent.get(u, {}).items():
            if day - d < WINDOW_DAYS:
                ok[prev] = False
        logit = world.affinity[u, world.topic] + world.type_taste[u, world.ctype] + world.appeal
        b = int(np.argmax(np.where(ok, logit, -np.inf)))
        rows.setdefault(day, []).append(
            (
                float(world.affinity[u, world.topic[b]] - world.affinity[u, world.topic[a]]),
                float(world.type_taste[u, world.ctype[b]] - world.type_taste[u, world.ctype[a]]),
                float(world.appeal[b] - world.appeal[a]),
                float(world.topic[a] == world.primary[u]),
                float(world.topic[b] == world.primary[u]),
                float((day, u) in clicked),
            )
        )
        sent.setdefault(u, {})[a] = day
    names = ("regret_topic", "regret_type", "regret_appeal", "hub_primary_topic", "best_primary_topic", "clicks")

    def summary(values: list[tuple[float, ...]]) -> dict[str, float]:
        m = np.mean(np.array(values), axis=0)
        return {n: round(float(v), 3) for n, v in zip(names, m, strict=True)}

    late = [r for d in range(11, 21) for r in rows.get(d, [])]
    strategy = con.execute("SELECT body FROM docs WHERE collection = 'strategies' AND id = 'default'").fetchone()
    stored = json.loads(strategy[0]) if strategy else {}
    return {
        "seed": seed,
        "per_day": {d: summary(v) for d, v in sorted(rows.items())},
        "days_11_20": summary(late) if late else {},
        "stored_default": {k: stored.get(k) for k in ("weights", "rate_prior", "learned")} if stored else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("seed", type=int)
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--assets", type=int, default=250)
    args = ap.parse_args()
    print(json.dumps({"bench": "sim_regret", **regrets(args.data_dir, args.seed, args.users, args.assets)}))


if __name__ == "__main__":
    main()
