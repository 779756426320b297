"""Bench: how much can a policy gain in the `bench/simulate.py` world at all? (issue 18, no hub)

The simulator's targets (ContentHub ≥ 2× random, ≥ 1.5× popularity, ≥ 60% of the oracle on days 11–20) are
ratios against policies of very different knowledge. This script plays the same worlds (``sim_world``, same
seeds, users, common random numbers and send rules) with policies between random and the oracle, to show
where the clicks are and how fast any learner can find them:

- partial oracles, which know part of the hidden click model and send the best eligible asset by it:
  ``knows_topic`` (the user's topic affinities a_u,k), ``knows_topic_appeal`` (+ the assets' appeal q_a),
  ``knows_topic_type`` (+ the user's content-type tastes b_u,c), ``knows_appeal``, ``knows_type``;
- topic learners, which know nothing hidden: per user and topic a Beta posterior of clicks per send,
  shrunk to the population's rate on that topic (the hub's hierarchical prior) with ``--strength``
  pseudo-sends, choosing a topic by Thompson sampling (``topic_thompson``) or by the posterior mean
  (``topic_greedy``), then a random eligible asset of that topic.

Prints JSON: clicks per send over days 11–20 per policy and seed, and the mean ratio to random.
Usage: python bench/sim_headroom.py [--seeds 4] [--seed-start 1] [--strength 9]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_world import (
    TOPICS,
    UserState,
    World,
    day_uniforms,
    eligible,
    end_of_day,
    make_world,
    react,
)

WINDOW_DAYS = 30
ORACLES = {
    "knows_topic": "t",
    "knows_topic_appeal": "ta",
    "knows_topic_type": "tc",
    "knows_appeal": "a",
    "knows_type": "c",
    "oracle": "tac",
}
LEARNERS = ("random", "topic_thompson", "topic_greedy")


def _oracle_pick(world: World, u: int, ok: np.ndarray, parts: str, rng: np.random.Generator) -> int:
    x = np.zeros(len(world.assets))
    if "t" in parts:
        x += world.affinity[u, world.topic]
    if "a" in parts:
        x += world.appeal
    if "c" in parts:
        x += world.type_taste[u, world.ctype]
    x = np.where(ok, x + 1e-9 * rng.random(x.size), -np.inf)  # ties broken at random
    return int(np.argmax(x))


def play(seed: int, policy: str, strength: float, days: int, users: int, assets: int) -> float:
    """Clicks per send over days 11..days of one policy on one world."""
    world = make_world(seed, assets, users)
    state = UserState.start(world)
    k = len(TOPICS)
    rng = np.random.default_rng([seed, 18, 77])
    succ = np.zeros((users, k))
    fail = np.zeros((users, k))
    clicks = sends = 0.0
    for day in range(1, days + 1):
        uni = day_uniforms(seed, day, users, assets)
        pooled = (succ.sum(axis=0) + 50 * 0.1) / (succ.sum(axis=0) + fail.sum(axis=0) + 50)
        opened: set[int] = set()
        for u in range(users):
            if state.unsubscribed[u]:
                continue
            ok = eligible(world, state, u, day, WINDOW_DAYS)
            if not ok.any():
                continue
            if policy in ORACLES:
                a = _oracle_pick(world, u, ok, ORACLES[policy], rng)
            elif policy == "random":
                a = int(rng.choice(np.flatnonzero(ok)))
            else:
                alpha, beta = strength * pooled + succ[u], strength * (1 - pooled) + fail[u]
                value = rng.beta(alpha, beta) if policy == "topic_thompson" else alpha / (alpha + beta)
                present = np.bincount(world.topic[ok], minlength=k) > 0
                topic = int(np.argmax(np.where(present, value, -np.inf)))
                a = int(rng.choice(np.flatnonzero(ok & (world.topic == topic))))
            r = react(world, state, u, a, day, uni)
            if r.opened:
                opened.add(u)
            t = int(world.topic[a])
            succ[u, t] += r.clicked
            fail[u, t] += not r.clicked
            if day >= 11:
                clicks += r.clicked
                sends += 1
        end_of_day(world, state, day, opened)
    return clicks / sends if sends else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--seed-start", type=int, default=1)
    ap.add_argument("--strength", type=float, default=9.0, help="Pseudo-sends behind the learners' topic prior.")
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--assets", type=int, default=250)
    args = ap.parse_args()
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    per_seed = {
        p: [round(play(s, p, args.strength, args.days, args.users, args.assets), 4) for s in seeds]
        for p in (*LEARNERS, *ORACLES)
    }
    ratio = {p: round(float(np.mean(np.array(v) / np.array(per_seed["random"]))), 3) for p, v in per_seed.items()}
    print(
        json.dumps(
            {
                "bench": "sim_headroom",
                "seeds": seeds,
                "days": f"11-{args.days}",
                "strength": args.strength,
                "clicks_per_send": per_seed,
                "ratio_to_random": ratio,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
