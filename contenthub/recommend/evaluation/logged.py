"""Offline evaluation of stored strategies on the picks the hub actually logged.

A logged round is a pick that reached a user with the probability it was chosen with: a ``served``
record (written when a pick is reserved) or a ``delivered`` event whose attributes carry the pick's
``propensity`` (bots may echo it). Its reward is 1 when the user clicked, converted, favourited or
shared that asset within ``REWARD_DAYS``. Each strategy is replayed on the round's moment (the user's
profile rebuilt from earlier events, ``learning.audiences_before``; exploration off, so the target
policy is deterministic) and the estimators of ``ope`` give its value; the reward model of doubly
robust is each asset's quality posterior mean on the channel.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import numpy as np

from contenthub.hub import Hub
from contenthub.recommend import learning
from contenthub.recommend.catalog import catalog
from contenthub.recommend.evaluation import ope
from contenthub.recommend.ranking import (
    candidate_rows,
    posterior,
    score_candidates,
    top_stable,
)
from contenthub.recommend.strategies import list_strategies
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso

REWARD_DAYS = 7
MAX_ROUNDS = 5000


def is_logged_round(e: dict[str, Any]) -> bool:
    """A served record or delivery of a user's pick that carries the pick's propensity."""
    p = (e.get("attributes") or {}).get("propensity")
    return (
        e["type"] in ("served", "delivered")
        and bool(e.get("user_id"))
        and bool(e.get("asset_id"))
        and isinstance(p, (int, float))
        and p > 0
    )


def evaluate_strategies(
    hub: Hub, strategy_ids: list[str] | None = None, *, max_rounds: int = MAX_ROUNDS
) -> dict[str, Any]:
    """{rounds, logged_value, strategies: [{strategy, ips, snips, dr, matched}]} over the newest logged rounds."""
    evs = hub.store.query_events(EventQuery(limit=learning.MAX_EVENTS, newest_first=True))
    evs.reverse()
    cat = catalog(hub)
    users = learning.by_user(evs)
    rounds: list[tuple[str, int]] = []
    for uid, mine in users.items():
        rounds.extend((uid, k) for k, e in enumerate(mine) if is_logged_round(e))
    rounds.sort(key=lambda uk: users[uk[0]][uk[1]]["ts"])
    rounds = rounds[-max_rounds:]
    points: dict[str, list[int]] = defaultdict(list)
    for uid, k in rounds:
        points[uid].append(k)
    wanted = [s for s in list_strategies(hub) if strategy_ids is None or s.id in strategy_ids]
    plain = [s.model_copy(update={"exploration": False, "uncertainty": {}}) for s in wanted]
    reward, pscore, q_logged = [], [], []
    target: dict[str, list[float]] = {s.id: [] for s in plain}
    q_target: dict[str, list[float]] = {s.id: [] for s in plain}
    rng = np.random.default_rng(0)
    for uid, k, aud in learning.audiences_before(hub, cat, users, points):
        ev = users[uid][k]
        row = cat.index.get(ev["asset_id"])
        if row is None:
            continue
        now = from_iso(ev["ts"])
        aud.exclude.discard(ev["asset_id"])
        idx, _ = candidate_rows(cat, ev["channel"], None, now, aud.exclude)
        if idx.size == 0:
            continue
        post = posterior(cat, ev["channel"])
        quality = post[2] if post is not None else np.full(len(cat), 0.05)
        until = to_iso(now + timedelta(days=REWARD_DAYS))
        got = any(
            e["type"] in learning.DECISIONS and e.get("asset_id") == ev["asset_id"] and ev["ts"] <= e["ts"] <= until
            for e in users[uid][k + 1 :]
        )
        reward.append(1.0 if got else 0.0)
        pscore.append(float(ev["attributes"]["propensity"]))
        q_logged.append(float(quality[row]))
        for strat in plain:
            score, _, _ = score_candidates(cat, aud, strat, ev["channel"], idx, now, rng)
            top = int(idx[top_stable(score, 1)[0]])
            target[strat.id].append(1.0 if top == row else 0.0)
            q_target[strat.id].append(float(quality[top]))
    r, p, ql = np.array(reward), np.array(pscore), np.array(q_logged)
    table = []
    for strat in plain:
        t, qt = np.array(target[strat.id]), np.array(q_target[strat.id])
        table.append(
            {
                "strategy": strat.id,
                "ips": _round(ope.ips(r, p, t)),
                "snips": _round(ope.snips(r, p, t)),
                "dr": _round(ope.doubly_robust(r, p, t, ql, qt)),
                "matched_rounds": int(t.sum()),
            }
        )
    return {
        "rounds": int(r.size),
        "logged_value": _round(float(r.mean()) if r.size else float("nan")),
        "reward": f"click or stronger within {REWARD_DAYS} days",
        "strategies": table,
    }


def _round(v: float) -> float | None:
    return None if not np.isfinite(v) else round(v, 5)
