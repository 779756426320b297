"""Bench: which way of learning a user's tastes pays in the `bench/simulate.py` world? (issue 18, no hub)

``bench/sim_headroom.py`` asks how much any policy can gain; this asks how a learner that knows nothing
hidden should use what it sees. Each learner keeps, per user, Beta posteriors of clicks per send on each
topic and content type, shrunk to the population's rate on that topic or type with ``st`` / ``sc``
pseudo-sends (the hub's hierarchical prior, ``recommend/rates.py``), and an asset's rate shrunk to its
topic's (``appeal``). It scores an asset by the sum of their log rates (the hub's unit) and sends the
best eligible one. What differs is the exploration:

- ``thompson``: every send ranks by a Thompson draw of each topic's and type's rate (the hub's default up
  to this round);
- ``means``: every send ranks by the posterior means (no explicit exploration: untried topics sit at the
  population's rate, tried ones that failed fall below it);
- ``share``: a share ``eps`` of sends rank by a Thompson draw, the rest by the means (the hub's default
  from this round, ``Strategy.exploration_share``);
- ``per_open``: as ``means`` but counting only opened sends (does ignoring unopened sends help?).

Prints JSON: per learner and seed the clicks per send over days 11–20 and 1–3, and the mean ratios to random.
Usage: python bench/sim_learners.py [--seeds 5] [--seed-start 1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_world import (
    TOPICS,
    TYPE_IDS,
    UserState,
    day_uniforms,
    eligible,
    end_of_day,
    make_world,
    react,
)

WINDOW_DAYS = 30
BRAND_PRIOR = 50.0  # pseudo-sends behind the population's rate on each topic / type (rates.BRAND_PRIOR_DELIVERIES)
APPEAL_STRENGTH = 20.0  # pseudo-sends behind an asset's rate within its topic (rates.STRENGTH_DEFAULT)
LEARNERS: dict[str, dict[str, Any]] = {
    "thompson_s4": {"mode": "thompson", "st": 4, "sc": 4},
    "thompson_s9": {"mode": "thompson", "st": 9, "sc": 9},
    "means_s4": {"mode": "means", "st": 4, "sc": 4},
    "means_s9": {"mode": "means", "st": 9, "sc": 9},
    "share10_s4": {"mode": "share", "eps": 0.1, "st": 4, "sc": 4},
    "share10_s9": {"mode": "share", "eps": 0.1, "st": 9, "sc": 9},
    "per_open_s4": {"mode": "means", "per_open": True, "st": 4, "sc": 4},
    "means_topic_only_s9": {"mode": "means", "st": 9, "sc": 9, "type": False, "appeal": False},
}


def play(seed: int, cfg: dict[str, Any], days: int, users: int, assets: int) -> tuple[float, float]:
    """(clicks per send over days 11..days, over days 1–3) of one learner on one world."""
    world = make_world(seed, assets, users)
    state = UserState.start(world)
    k, c = len(TOPICS), len(TYPE_IDS)
    rng = np.random.default_rng([seed, 18, 77])
    sends_t, opens_t, clicks_t = np.zeros((users, k)), np.zeros((users, k)), np.zeros((users, k))
    sends_c, opens_c, clicks_c = np.zeros((users, c)), np.zeros((users, c)), np.zeros((users, c))
    asset_sends, asset_clicks = np.zeros(assets), np.zeros(assets)
    late = [0.0, 0.0]
    early = [0.0, 0.0]
    st, sc = float(cfg.get("st", 4)), float(cfg.get("sc", 4))
    for day in range(1, days + 1):
        uni = day_uniforms(seed, day, users, assets)
        den_t, den_c = (opens_t, opens_c) if cfg.get("per_open") else (sends_t, sends_c)
        base = (clicks_t.sum() + 5.0) / (den_t.sum() + BRAND_PRIOR)
        pop_t = (clicks_t.sum(0) + BRAND_PRIOR * base) / (den_t.sum(0) + BRAND_PRIOR)
        pop_c = (clicks_c.sum(0) + BRAND_PRIOR * base) / (den_c.sum(0) + BRAND_PRIOR)
        appeal = np.log(
            (asset_clicks + APPEAL_STRENGTH * pop_t[world.topic]) / (asset_sends + APPEAL_STRENGTH) / pop_t[world.topic]
        )
        opened: set[int] = set()
        for u in range(users):
            if state.unsubscribed[u]:
                continue
            ok = eligible(world, state, u, day, WINDOW_DAYS)
            if not ok.any():
                continue
            if cfg["mode"] == "random":
                a = int(rng.choice(np.flatnonzero(ok)))
            else:
                at, bt = st * pop_t + clicks_t[u], st * (1 - pop_t) + np.maximum(den_t[u] - clicks_t[u], 0)
                ac, bc = sc * pop_c + clicks_c[u], sc * (1 - pop_c) + np.maximum(den_c[u] - clicks_c[u], 0)
                draw = cfg["mode"] == "thompson" or (cfg["mode"] == "share" and rng.random() < cfg["eps"])
                rt, rc = (rng.beta(at, bt), rng.beta(ac, bc)) if draw else (at / (at + bt), ac / (ac + bc))
                x = np.log(np.maximum(rt, 1e-3))[world.topic]
                if cfg.get("type", True):
                    x = x + np.log(np.maximum(rc, 1e-3) / pop_c)[world.ctype]
                if cfg.get("appeal", True):
                    x = x + appeal
                a = int(np.argmax(np.where(ok, x + 1e-9 * rng.random(x.size), -np.inf)))
            r = react(world, state, u, a, day, uni)
            if r.opened:
                opened.add(u)
            t, ct = int(world.topic[a]), int(world.ctype[a])
            sends_t[u, t] += 1
            opens_t[u, t] += r.opened
            clicks_t[u, t] += r.clicked
            sends_c[u, ct] += 1
            opens_c[u, ct] += r.opened
            clicks_c[u, ct] += r.clicked
            asset_sends[a] += 1
            asset_clicks[a] += r.clicked
            for span, on in ((late, day >= 11), (early, day <= 3)):
                if on:
                    span[0] += r.clicked
                    span[1] += 1
        end_of_day(world, state, day, opened)
    return late[0] / late[1], early[0] / early[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed-start", type=int, default=1)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--assets", type=int, default=250)
    args = ap.parse_args()
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    runs = {
        name: [play(s, cfg, args.days, args.users, args.assets) for s in seeds]
        for name, cfg in {"random": {"mode": "random"}, **LEARNERS}.items()
    }
    rand = runs["random"]
    out = {
        name: {
            "days_11_20": [round(r[0], 4) for r in v],
            "days_1_3": [round(r[1], 4) for r in v],
            "ratio_to_random_11_20": round(float(np.mean([r[0] / q[0] for r, q in zip(v, rand, strict=True)])), 3),
            "ratio_to_random_1_3": round(float(np.mean([r[1] / q[1] for r, q in zip(v, rand, strict=True)])), 3),
        }
        for name, v in runs.items()
    }
    print(json.dumps({"bench": "sim_learners", "seeds": seeds, "learners": out}, indent=1))


if __name__ == "__main__":
    main()
