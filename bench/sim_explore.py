"""Bench: how should the per-user model explore at request time? (issue 18, no hub, seconds per seed)

``bench/sim_learners.py`` compared a fixed exploring share with posterior means and plain Thompson sampling.
This asks the next questions of the same world (``sim_world``: same seeds, users, common random numbers,
re-delivery window) with the same learner — per user Beta posteriors of clicks per send on each topic and
content type, shrunk to the population's rate with ``st`` / ``sc`` pseudo-sends, an asset's appeal within
its topic, scored by the sum of log rates (the hub's unit) — varying only how a send chooses:

- ``means`` / ``share``: the posterior means, or a Thompson draw on a share ``eps`` of sends (the hub today);
- ``thompson`` with ``temper`` κ: a draw from Beta(κα, κβ) — the same means, κ times the evidence — on
  every send, so exploration decays by itself as the posterior narrows (κ = 1: plain Thompson);
- ``ucb``: mean + ``c`` posterior standard deviations (optimism that decays with evidence);
- ``top_two``: top-two Thompson (Russo 2016): the draw's best topic, or with probability ½ the best
  topic of re-draws that differs from it;
- ``kg``: the posterior mean plus a one-step knowledge gradient per topic, weighted by ``horizon`` sends:
  how much one more send of that topic is expected to raise the best mean (Frazier, Powell & Dayanik 2008);
- ``unopened``: the weight of a delivered-but-unopened send as a failure (1 = the hub; p_open barely
  depends on taste in this world, so an unopened send says little about the topic);
- ``joint``: a third posterior per user × (topic, type) cell, shrunk to the product of the user's topic and
  type means with ``sj`` pseudo-sends, used instead of the two independent ones;
- ``decay``: an exploring share that falls with the user's own sends, decay / (decay + sends);
- ``cold``: the share for a user without sends (the hub: 1, ``ranking.exploring_share``; learner ``hub``);
- ``counts``: the hub's units instead of clicks — successes = engagement weight / a click's (an open 0.5/3,
  a conversion 6/3 more: ``engagement.EVENT_WEIGHTS``), failures = sends − successes, clipped at 0 per
  topic (``hub_counts``); ``no_open``: the same without the open's share (``hub_counts_no_open``);
- ``eb``: the prior strengths ``st`` / ``sc`` re-estimated as the hub's learning job does (``rates.eb_strength``
  over the (user, topic) and (user, type) cells of sends and clicks, around each slot's pooled rate) on days
  ``EB_DAYS`` — about when the job runs in ``bench/simulate.py`` (after 2,000 new events, then at least half as
  many as the last run saw) — instead of a fixed 9 (``hub_eb``, ``hub_counts_eb``, ``hub_no_open_eb``).

Prints JSON: per learner and seed the clicks per send over days 11–20 and 1–3, and the mean ratios to random.
Usage: python bench/sim_explore.py [--seeds 6] [--seed-start 1] [--only NAME,NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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

from contenthub.recommend import rates  # noqa: E402

WINDOW_DAYS = 30
BRAND_PRIOR = 50.0
APPEAL_STRENGTH = 20.0
EB_DAYS = (4, 7, 10, 15)
LEARNERS: dict[str, dict[str, Any]] = {
    "share10_s9": {"mode": "share", "eps": 0.1},
    "means_s9": {"mode": "means"},
    "thompson_k1": {"mode": "thompson", "temper": 1.0},
    "thompson_k3": {"mode": "thompson", "temper": 3.0},
    "thompson_k10": {"mode": "thompson", "temper": 10.0},
    "ucb_c05": {"mode": "ucb", "c": 0.5},
    "ucb_c1": {"mode": "ucb", "c": 1.0},
    "top_two": {"mode": "top_two"},
    "kg_h5": {"mode": "kg", "horizon": 5.0},
    "kg_h10": {"mode": "kg", "horizon": 10.0},
    "unopened05": {"mode": "share", "eps": 0.1, "unopened": 0.5},
    "unopened025": {"mode": "share", "eps": 0.1, "unopened": 0.25},
    "joint_s4": {"mode": "share", "eps": 0.1, "joint": 4.0},
    "hub": {"mode": "share", "eps": 0.1, "cold": 1.0},
    "hub_counts": {"mode": "share", "eps": 0.1, "cold": 1.0, "counts": "hub"},
    "hub_counts_no_open": {"mode": "share", "eps": 0.1, "cold": 1.0, "counts": "no_open"},
    "hub_eb": {"mode": "share", "eps": 0.1, "cold": 1.0, "eb": True},
    "hub_counts_eb": {"mode": "share", "eps": 0.1, "cold": 1.0, "counts": "hub", "eb": True},
    "hub_no_open_eb": {"mode": "share", "eps": 0.1, "cold": 1.0, "counts": "no_open", "eb": True},
    "decay_share_1": {"mode": "share", "eps": 0.1, "decay": 1.0},
    "decay_share_2": {"mode": "share", "eps": 0.1, "decay": 2.0},
    "decay_share_5": {"mode": "share", "eps": 0.1, "decay": 5.0},
    "share10_topic_only_draw": {"mode": "share", "eps": 0.1, "draw": "topic"},
    "share10_type_only_draw": {"mode": "share", "eps": 0.1, "draw": "type"},
    "thompson_k30": {"mode": "thompson", "temper": 30.0},
    "share10_s4": {"mode": "share", "eps": 0.1, "st": 4, "sc": 4},
    "share10_s20": {"mode": "share", "eps": 0.1, "st": 20, "sc": 20},
    "share30_s9": {"mode": "share", "eps": 0.3},
}


def _kg(a: np.ndarray, b: np.ndarray, mu_ref: np.ndarray) -> np.ndarray:
    """Expected rise of max(mean) after one more send of each slot (log-mean units are not needed: KG of
    rates). ``mu_ref``: the rates the other slots offer (max over others)."""
    n = a + b
    mu = a / n
    up, down = (a + 1) / (n + 1), a / (n + 1)
    order = np.sort(mu)
    best, second = order[-1], order[-2] if mu.size > 1 else order[-1]
    other = np.where(mu >= best, second, best)
    now = np.maximum(mu, other)
    after = mu * np.maximum(up, other) + (1 - mu) * np.maximum(down, other)
    return after - now


def eb_strength(clicks: np.ndarray, sends: np.ndarray) -> float:
    """The learning job's estimate of how many sends the population's rate is worth against a user's own
    (``learning.audience_strengths``): ``rates.eb_strength`` over the (user, slot) cells with sends."""
    seen = sends > 0
    slot = np.nonzero(seen)[1]
    s, d = clicks[seen], sends[seen]
    base = rates.brand_rate(s, d)
    return rates.eb_strength(s, d, rates.slot_rates(s, d, slot, sends.shape[1], base)[slot])


def play(seed: int, cfg: dict[str, Any], days: int, users: int, assets: int) -> tuple[float, float]:
    """(clicks per send over days 11..days, over days 1–3) of one learner on one world."""
    world = make_world(seed, assets, users)
    state = UserState.start(world)
    k, c = len(TOPICS), len(TYPE_IDS)
    rng = np.random.default_rng([seed, 18, 77])
    fail_t, clicks_t = np.zeros((users, k)), np.zeros((users, k))
    fail_c, clicks_c = np.zeros((users, c)), np.zeros((users, c))
    fail_j, clicks_j = np.zeros((users, k, c)), np.zeros((users, k, c))
    asset_sends, asset_clicks = np.zeros(assets), np.zeros(assets)
    late, early = [0.0, 0.0], [0.0, 0.0]
    st, sc = float(cfg.get("st", 9)), float(cfg.get("sc", 9))
    w_unopened = float(cfg.get("unopened", 1.0))
    mode = cfg["mode"]
    sends_t, sends_c = np.zeros((users, k)), np.zeros((users, c))
    for day in range(1, days + 1):
        if cfg.get("eb") and day in EB_DAYS:
            st, sc = eb_strength(clicks_j.sum(2), sends_t), eb_strength(clicks_j.sum(1), sends_c)
        uni = day_uniforms(seed, day, users, assets)
        den = clicks_t.sum() + fail_t.sum()
        base = (clicks_t.sum() + 5.0) / (den + BRAND_PRIOR)
        pop_t = (clicks_t.sum(0) + BRAND_PRIOR * base) / (clicks_t.sum(0) + fail_t.sum(0) + BRAND_PRIOR)
        pop_c = (clicks_c.sum(0) + BRAND_PRIOR * base) / (clicks_c.sum(0) + fail_c.sum(0) + BRAND_PRIOR)
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
            if mode == "random":
                a = int(rng.choice(np.flatnonzero(ok)))
            else:
                at, bt = st * pop_t + clicks_t[u], st * (1 - pop_t) + np.maximum(fail_t[u], 0)
                ac, bc = sc * pop_c + clicks_c[u], sc * (1 - pop_c) + np.maximum(fail_c[u], 0)
                mt, mc = at / (at + bt), ac / (ac + bc)
                eps = float(cfg.get("eps", 0.0))
                if "decay" in cfg:  # a share that falls with the user's own sends: decay / (decay + sends)
                    n_u = clicks_t[u].sum() + fail_t[u].sum()
                    eps = float(cfg["decay"]) / (float(cfg["decay"]) + n_u)
                if "cold" in cfg and not (clicks_t[u].any() or fail_t[u].any()):  # the hub: share 1 without evidence
                    eps = float(cfg["cold"])
                if mode == "share" and rng.random() < eps or mode == "thompson":
                    kap = float(cfg.get("temper", 1.0))
                    rt, rc = rng.beta(kap * at, kap * bt), rng.beta(kap * ac, kap * bc)
                    if cfg.get("draw") == "topic":
                        rc = mc
                    elif cfg.get("draw") == "type":
                        rt = mt
                elif mode == "ucb":
                    sd_t = np.sqrt(mt * (1 - mt) / (at + bt + 1))
                    sd_c = np.sqrt(mc * (1 - mc) / (ac + bc + 1))
                    rt, rc = mt + cfg["c"] * sd_t, mc + cfg["c"] * sd_c
                elif mode == "top_two":
                    rt, rc = rng.beta(at, bt), rng.beta(ac, bc)
                    if rng.random() < 0.5:
                        first = int(np.argmax(rt))
                        for _ in range(20):
                            r2 = rng.beta(at, bt)
                            if int(np.argmax(r2)) != first:
                                rt = r2
                                break
                elif mode == "kg":
                    h = float(cfg["horizon"])
                    rt = mt + h * _kg(at, bt, mt)
                    rc = mc
                else:
                    rt, rc = mt, mc
                x = np.log(np.maximum(rt, 1e-3))[world.topic] + np.log(np.maximum(rc, 1e-3) / pop_c)[world.ctype]
                if "joint" in cfg:
                    sj = float(cfg["joint"])
                    prior = np.outer(mt, mc / pop_c)
                    prior = np.clip(prior, 1e-3, 0.95)
                    aj, bj = sj * prior + clicks_j[u], sj * (1 - prior) + fail_j[u]
                    x = np.log(np.maximum(aj / (aj + bj), 1e-3))[world.topic, world.ctype]
                x = x + appeal
                a = int(np.argmax(np.where(ok, x + 1e-9 * rng.random(x.size), -np.inf)))
            r = react(world, state, u, a, day, uni)
            if r.opened:
                opened.add(u)
            t, ct = int(world.topic[a]), int(world.ctype[a])
            f = 0.0 if r.clicked else (1.0 if r.opened else w_unopened)
            g = float(r.clicked)
            if cfg.get("counts"):  # the hub's units: engagement weight / a click's (open 0.5, click 3, conversion 6)
                w = (0.5 * r.opened if cfg["counts"] == "hub" else 0.0) + 3.0 * r.clicked + 6.0 * r.converted
                g, f = w / 3.0, 1.0 - w / 3.0  # failures may go negative: the hub clips the per-topic sum
            fail_t[u, t] += f
            sends_t[u, t] += 1
            sends_c[u, ct] += 1
            clicks_t[u, t] += g
            fail_c[u, ct] += f
            clicks_c[u, ct] += g
            fail_j[u, t, ct] += f
            clicks_j[u, t, ct] += r.clicked
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
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--seed-start", type=int, default=1)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--assets", type=int, default=250)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    chosen = {n: LEARNERS[n] for n in args.only.split(",") if n} or LEARNERS
    runs = {
        name: [play(s, cfg, args.days, args.users, args.assets) for s in seeds]
        for name, cfg in {"random": {"mode": "random"}, **chosen}.items()
    }
    rand = runs["random"]
    out = {
        name: {
            "days_11_20": [round(r[0], 4) for r in v],
            "mean_11_20": round(float(np.mean([r[0] for r in v])), 4),
            "days_1_3": [round(r[1], 4) for r in v],
            "ratio_to_random_11_20": round(float(np.mean([r[0] / q[0] for r, q in zip(v, rand, strict=True)])), 3),
            "ratio_to_random_1_3": round(float(np.mean([r[1] / q[1] for r, q in zip(v, rand, strict=True)])), 3),
        }
        for name, v in runs.items()
    }
    print(json.dumps({"bench": "sim_explore", "seeds": seeds, "learners": out}, indent=1))


if __name__ == "__main__":
    main()
