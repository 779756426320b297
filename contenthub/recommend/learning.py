"""Where the default strategy learns its weights from the brand's own events, and when that runs.

What is learnt: the weights of the ranking signals (``strategies.SIGNALS``), as a conditional logit —
the probability that a user engaged with asset *a* rather than with one of ``NEGATIVES`` other assets
of the channel is softmax(w · signals). The signals are the production ones (``ranking.score_candidates``
with every weight 1 and no exploration), computed for each sampled engagement *as of the moment before
it*: the user's profile is replayed from the user's earlier events through the same rules serving uses
(``profiles.profile_from`` and ``audience_for`` on ``engagement.counter_deltas`` of those events), so a
click never explains itself. Two leaks are left and documented: the quality/popularity statistics and
the co-engagement model are the current ones (they include the sampled event, one among thousands).

The fit is L-BFGS-B on the negative log-likelihood with an L2 pull towards the weights in use (little
data moves them little) and non-negative weights; the Hessian at the optimum gives each weight's
posterior standard deviation (Laplace), stored as ``Strategy.uncertainty``: serving draws its weights
from that posterior (linear Thompson sampling), so exploration shrinks as evidence grows.

When a fit is kept: the newest ``HOLDOUT`` share of the samples is held out; the learnt weights must
rank the engaged asset higher there (mean 1/log2(1 + rank) among its candidates) than the weights in
use, and be finite. Otherwise the previous weights stay and the report says why. A hub without
engagement keeps the prior and says so.

When it runs: ``contenthub strategies learn`` (the CLI), and after ingestion once enough new events
arrived (``after_ingest``: ``Settings.learn_every_events``, and at least as many as half the events the
last fit saw), on a background thread of the process that ingested them — never on a wall-clock timer.
The same hook asks the catalog for fresh statistics every ``STATS_EVERY`` events and a refit of the
co-engagement model every ``MODEL_EVERY`` events (see ``catalog.CatalogHolder``).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np
from scipy.optimize import minimize

from contenthub.hub import Hub
from contenthub.recommend import topics
from contenthub.recommend.catalog import (
    STAT_TYPES,
    Catalog,
    ChannelStats,
    attach_model,
    catalog,
    fit_engagement_model,
)
from contenthub.recommend.engagement import (
    ALL_CHANNELS,
    EVENT_WEIGHTS,
    NEGATIVE,
    counter_deltas,
    decay_scale,
)
from contenthub.recommend.profiles import (
    HISTORY_DAYS,
    HISTORY_LIMIT,
    audience_for,
    profile_from,
)
from contenthub.recommend.ranking import Audience, candidate_rows, score_candidates
from contenthub.recommend.service import recently_delivered
from contenthub.recommend.strategies import (
    SIGNALS,
    Strategy,
    get_strategy,
    put_strategy,
)
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso

MAX_EVENTS = 60_000
"""The window: the brand's newest events (by count, not by date, so a quiet brand still learns)."""
MAX_SAMPLES = 3000
SAMPLES_PER_USER = 8
NEGATIVES = 49
SHOWN_NEGATIVES = 24
"""Of the negatives, at most this many are assets delivered to the same user and not engaged with."""
HOLDOUT = 0.2
MIN_SAMPLES = 40
L2 = 2.0
DECISIONS = frozenset(t for t, w in EVENT_WEIGHTS.items() if w >= EVENT_WEIGHTS["click"])
"""What a sample is: a click or a stronger decision (an open is a glance, not a choice)."""
STATS_EVERY = 300
MODEL_EVERY = 3000


@dataclass
class Samples:
    x: np.ndarray          # samples × candidates × signals
    positive: np.ndarray   # position of the engaged asset among each sample's candidates
    ts: list[str]


@dataclass
class LearnReport:
    strategy: str
    activated: bool
    reason: str
    events: int = 0
    samples: int = 0
    holdout_samples: int = 0
    previous: dict[str, Any] = field(default_factory=dict)
    learned: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unit_strategy() -> Strategy:
    return Strategy(id="learn-signals", weights={s: 1.0 for s in SIGNALS}, exploration=False, diversity=1.0)


def by_user(evs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each user's events, in the order given (oldest first)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in evs:
        if e.get("user_id"):
            out[e["user_id"]].append(e)
    return out


def audiences_before(hub: Hub, cat: Catalog, users: dict[str, list[dict[str, Any]]],
                     points: dict[str, list[int]]) -> Iterator[tuple[str, int, Audience]]:
    """(user, k, the user's audience just before the user's k-th event) for each point, replayed through
    the serving rules. Each user's counters are carried forward incrementally (the counter deltas of the
    events between two points), as ingestion builds them."""
    assets = {cat.ids[i]: cat.docs[i] for i in range(len(cat))}
    topic_of = topics.stored(hub)
    half = hub.settings.profile_half_life_days
    for uid, ks in points.items():
        mine = users[uid]
        counters: dict[str, float] = defaultdict(float)
        done = 0
        for k in sorted(ks):
            ts = mine[k]["ts"]
            before = done
            while before < len(mine) and mine[before]["ts"] < ts:
                before += 1
            for _, key, fields in counter_deltas(mine[done:before], assets, half, topic_of):
                if key == uid:
                    for f, v in fields.items():
                        counters[f] += v
            done = before
            now = from_iso(ts)
            # The point's own asset is left out of what came before: its delivery and open precede the
            # click being explained, and an open is engagement — the click would explain itself.
            aid = mine[k].get("asset_id")
            own = [e for e in mine[:before] if e.get("asset_id") == aid] if aid else []
            fields_now = dict(counters)
            for _, key, fields in counter_deltas(own, assets, half, topic_of) if own else ():
                if key == uid:
                    for f, v in fields.items():
                        fields_now[f] = fields_now.get(f, 0.0) - v
            since = to_iso(now - timedelta(days=HISTORY_DAYS))
            history = [e for e in reversed(mine[max(0, before - HISTORY_LIMIT):before])
                       if e["ts"] >= since and (not aid or e.get("asset_id") != aid)]
            negatives = [e for e in mine[:before] if e["type"] in NEGATIVE and (not aid or e.get("asset_id") != aid)]
            profile = profile_from(hub, uid, history, negatives, fields_now, None, now)
            aud = audience_for(hub, cat, profile, now)
            aud.target = None  # the co-engagement model's whole-history view would include the future
            window = now - timedelta(days=hub.settings.redelivery_window_days)
            aud.exclude |= recently_delivered(history, mine[k]["channel"], window)
            yield uid, k, aud


SNAPSHOT_SHARE = 0.5
"""The older share of the window that the statistics and co-engagement model of the replay are built
from; engagements are sampled from the newer part only."""


def as_of(hub: Hub, cat: Catalog, evs: list[dict[str, Any]]) -> Catalog:
    """The catalog with statistics, popularity and co-engagement model made from ``evs`` only (oldest
    first): the replay's view, so that no sampled engagement is already counted in the signals that
    should predict it (the live ones would count it: a leak that inflates quality, popularity and
    co-engagement weights). The same counters ingestion keeps, summed in memory."""
    n = len(cat)
    half = hub.settings.profile_half_life_days
    counts: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    pop: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n))
    ref = decay_scale(from_iso(evs[-1]["ts"]), half) if evs else 1.0
    pairs = []
    for e in evs:
        row = cat.index.get(e.get("asset_id") or "")
        if row is None or e["type"] not in STAT_TYPES and EVENT_WEIGHTS.get(e["type"], 0) <= 0:
            continue
        ch = e["channel"]
        if e["type"] in STAT_TYPES:
            arr = counts[ch].get(e["type"])
            if arr is None:
                arr = counts[ch][e["type"]] = np.zeros(n)
            arr[row] += 1
        w = EVENT_WEIGHTS.get(e["type"], 0.0)
        if w > 0:
            pop[ch][row] += w * decay_scale(from_iso(e["ts"]), half) / ref
            if e.get("user_id"):
                pairs.append((e["user_id"], e["asset_id"]))
    stats = {ch: ChannelStats(counts=c) for ch, c in counts.items()}
    if counts:
        total: dict[str, np.ndarray] = {}
        for c in counts.values():
            for k, v in c.items():
                total[k] = total[k] + v if k in total else v.copy()
        stats[ALL_CHANNELS] = ChannelStats(counts=total)
    popularity = dict(pop)
    if popularity:
        popularity[ALL_CHANNELS] = sum(popularity.values(), np.zeros(n))
    view = replace(cat, stats=stats, popularity=popularity,
                   log_popularity={ch: np.log1p(v) for ch, v in popularity.items()}, blocks={},
                   freshness_base={}, fits={})
    attach_model(view, fit_engagement_model(hub, pairs=pairs))
    return view


def replay(hub: Hub, cat: Catalog, evs: list[dict[str, Any]], *, seed: int = 0) -> Samples:
    """The signals of each sampled engagement and of ``NEGATIVES`` other assets, as of just before it,
    with the statistics of the window's older part (``as_of``). ``evs``: oldest first."""
    rng = np.random.default_rng(seed)
    cut = int(len(evs) * SNAPSHOT_SHARE)
    cat = as_of(hub, cat, evs[:cut])
    start = evs[cut]["ts"] if cut < len(evs) else ""
    users = by_user(evs)
    chosen: list[tuple[str, int]] = []  # (user, position in the user's events)
    for uid, mine in users.items():
        seen: set[str] = set()
        found = []
        for k, e in enumerate(mine):
            if e["type"] in DECISIONS and e.get("asset_id") in cat.index and e["asset_id"] not in seen \
                    and e["ts"] >= start:
                seen.add(e["asset_id"])
                found.append(k)
        chosen.extend((uid, k) for k in found[-SAMPLES_PER_USER:])
    chosen.sort(key=lambda uk: users[uk[0]][uk[1]]["ts"])
    points: dict[str, list[int]] = defaultdict(list)
    for uid, k in chosen[-MAX_SAMPLES:]:
        points[uid].append(k)
    # what each user was delivered and did not engage with in the window: the negatives that share the
    # positives' selection (both were picked by the policy that served them), so the fit learns what
    # gets engagement, not what the serving policy liked to pick
    engaged: dict[str, set[str]] = defaultdict(set)
    delivered: dict[str, set[str]] = defaultdict(set)
    for uid, mine in users.items():
        for e in mine:
            if e.get("asset_id"):
                if EVENT_WEIGHTS.get(e["type"], 0) > 0:
                    engaged[uid].add(e["asset_id"])
                elif e["type"] in ("delivered", "served"):
                    delivered[uid].add(e["asset_id"])
    _ignored = {uid: delivered[uid] - engaged[uid] for uid in users}
    unit = _unit_strategy()
    rows_x: list[np.ndarray] = []
    rows_pos: list[int] = []
    rows_ts: list[str] = []
    for uid, k, aud in audiences_before(hub, cat, users, points):
        ev = users[uid][k]
        now = from_iso(ev["ts"])
        row = cat.index[ev["asset_id"]]
        aud.exclude.discard(ev["asset_id"])  # delivered just before it was clicked: still the answer
        idx, _ = candidate_rows(cat, ev["channel"], None, now, aud.exclude)
        others = idx[idx != row]
        if others.size == 0:
            continue
        shown = _ignored[uid] - {ev["asset_id"]}
        shown_rows = np.array(sorted(cat.index[a] for a in shown if a in cat.index), dtype=np.int64)
        shown_rows = shown_rows[np.isin(shown_rows, others)]
        if shown_rows.size > SHOWN_NEGATIVES:
            shown_rows = rng.choice(shown_rows, SHOWN_NEGATIVES, replace=False)
        rest = others[~np.isin(others, shown_rows)]
        take = np.concatenate([shown_rows, rng.choice(rest, min(NEGATIVES - shown_rows.size, rest.size), replace=False)])
        cand = np.sort(np.append(take, row))
        _, sig, _ = score_candidates(cat, aud, unit, ev["channel"], cand, now, rng)
        x = np.zeros((cand.size, len(SIGNALS)))
        for j, name in enumerate(SIGNALS):
            if name in sig:
                x[:, j] = sig[name]
        at = int(np.searchsorted(cand, row))
        if cand.size < NEGATIVES + 1:  # pad with copies of a negative so every sample has one shape
            x = np.vstack([x, np.repeat(x[[1 if at == 0 else 0]], NEGATIVES + 1 - cand.size, axis=0)])
        rows_x.append(x)
        rows_pos.append(at)
        rows_ts.append(ev["ts"])
    if not rows_x:
        return Samples(np.zeros((0, NEGATIVES + 1, len(SIGNALS))), np.zeros(0, dtype=np.int64), [])
    order = np.argsort(np.array(rows_ts), kind="stable")
    return Samples(np.stack(rows_x)[order], np.array(rows_pos, dtype=np.int64)[order],
                   [rows_ts[i] for i in order.tolist()])


def fit(x: np.ndarray, positive: np.ndarray, prior: np.ndarray, l2: float = L2) -> tuple[np.ndarray, np.ndarray]:
    """(weights, their posterior standard deviations) of the conditional logit (see the module docstring)."""
    n = x.shape[0]
    at = np.arange(n)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        nll = -np.log(np.maximum(p[at, positive], 1e-300)).sum()
        expected = np.einsum("sc,sck->sk", p, x)
        grad = (expected - x[at, positive]).sum(axis=0) + l2 * (w - prior)
        return float(nll + 0.5 * l2 * np.sum((w - prior) ** 2)), grad

    res = minimize(loss, prior.copy(), jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * x.shape[2])
    w = res.x
    z = x @ w
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    mean = np.einsum("sc,sck->sk", p, x)
    centred = x - mean[:, None, :]
    hessian = np.einsum("sc,sck,scl->kl", p, centred, centred) + l2 * np.eye(x.shape[2])
    try:
        sd = np.sqrt(np.clip(np.diag(np.linalg.inv(hessian)), 0.0, None))
    except np.linalg.LinAlgError:
        sd = np.full(x.shape[2], np.nan)
    return w, sd


def ranking_quality(x: np.ndarray, positive: np.ndarray, w: np.ndarray) -> float:
    """Mean 1/log2(1 + rank) of the engaged asset among its candidates (ties count against it)."""
    if x.shape[0] == 0 or not np.all(np.isfinite(w)):
        return 0.0
    z = x @ w
    mine = z[np.arange(z.shape[0]), positive]
    rank = 1 + (z > mine[:, None]).sum(axis=1) + ((z == mine[:, None]).sum(axis=1) - 1)
    return float(np.mean(1.0 / np.log2(1.0 + rank)))


def learn(hub: Hub, strategy_id: str = "default", *, seed: int = 0) -> LearnReport:
    """Fit ``strategy_id``'s weights on the brand's newest events; activate them only when they win on
    held-out engagement (see the module docstring). Always returns what happened and why."""
    current = get_strategy(hub, strategy_id)
    prior = np.array([current.weight(s) for s in SIGNALS])
    previous = {"weights": dict(current.weights)}
    evs = hub.store.query_events(EventQuery(limit=MAX_EVENTS, newest_first=True))
    evs.reverse()
    report = LearnReport(strategy=strategy_id, activated=False, reason="", events=len(evs), previous=previous)
    if not any(e["type"] in DECISIONS for e in evs):
        report.reason = "no engagement (clicks or stronger) in the hub yet: the prior weights stay"
        return _remember(hub, report)
    cat = catalog(hub)
    samples = replay(hub, cat, evs, seed=seed)
    n = samples.x.shape[0]
    report.samples = n
    if n < MIN_SAMPLES:
        report.reason = f"only {n} engagements to learn from (at least {MIN_SAMPLES} needed): the weights stay"
        return _remember(hub, report)
    cut = math.floor(n * (1 - HOLDOUT))
    report.holdout_samples = n - cut
    w, sd = fit(samples.x[:cut], samples.positive[:cut], prior)
    old_q = ranking_quality(samples.x[cut:], samples.positive[cut:], prior)
    w = np.where(np.isfinite(w), w, np.nan)
    new_q = ranking_quality(samples.x[cut:], samples.positive[cut:], w)
    report.previous["holdout_quality"] = round(old_q, 4)
    report.learned = {"weights": {s: round(float(v), 4) for s, v in zip(SIGNALS, w, strict=True)},
                      "uncertainty": {s: round(float(v), 4) for s, v in zip(SIGNALS, sd, strict=True)},
                      "holdout_quality": round(new_q, 4)}
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(sd))) or w.max() <= 0:
        report.reason = "the fit gave non-finite or all-zero weights: the previous weights stay"
        return _remember(hub, report)
    if new_q <= old_q:
        report.reason = (f"the learnt weights ranked held-out engagement no better ({new_q:.4f} vs {old_q:.4f}): "
                         "the previous weights stay")
        return _remember(hub, report)
    top = float(w.max())
    weights = {s: round(float(v) / top, 4) for s, v in zip(SIGNALS, w, strict=True)}
    uncertainty = {s: round(float(v) / top, 4) for s, v in zip(SIGNALS, sd, strict=True)}
    put_strategy(hub, current.model_copy(update={
        "weights": weights, "uncertainty": uncertainty,
        "learned": {"samples": n, "holdout_quality": round(new_q, 4), "previous_holdout_quality": round(old_q, 4),
                    "events": len(evs), "newest_event": samples.ts[-1]},
    }))
    report.activated = True
    report.reason = f"held-out ranking quality {new_q:.4f} beats the previous weights' {old_q:.4f}"
    return _remember(hub, report)


def _remember(hub: Hub, report: LearnReport) -> LearnReport:
    state = _state(hub)
    state["last_report"] = report
    state["events_at_learn"] = report.events
    return report


# --- when: after enough new events ----------------------------------------------------------------

_SLOT = "recommend.learning"


def _state(hub: Hub) -> dict[str, Any]:
    found = hub.cache.get(_SLOT)
    if found is None:
        found = hub.cache.setdefault(_SLOT, {"new": 0, "stats": 0, "model": 0, "events_at_learn": 0,
                                             "running": False, "lock": threading.Lock()})
    return found  # type: ignore[no-any-return]


def after_ingest(hub: Hub, accepted: int) -> None:
    """Count newly stored events; past the thresholds, ask for fresh statistics, a co-engagement refit and
    a learning run (a background thread; one at a time per process). Cheap when nothing is due."""
    every = hub.settings.learn_every_events
    if accepted <= 0 or every <= 0:
        return
    state = _state(hub)
    state["new"] += accepted
    state["stats"] += accepted
    state["model"] += accepted
    holder = hub.cache.get("catalog")
    if holder is not None and state["stats"] >= STATS_EVERY:
        state["stats"] = 0
        holder.invalidate_stats(refit=state["model"] >= MODEL_EVERY)
        if state["model"] >= MODEL_EVERY:
            state["model"] = 0
    if state["new"] >= max(every, state["events_at_learn"] // 2) and not state["running"]:
        with state["lock"]:
            if state["running"]:
                return
            state["running"] = True
            state["new"] = 0
        hub.start_background(lambda: _run(hub), "strategies-learn")


def _run(hub: Hub) -> None:
    state = _state(hub)
    try:
        learn(hub)
    finally:
        state["running"] = False


def last_report(hub: Hub) -> LearnReport | None:
    return _state(hub).get("last_report")  # type: ignore[no-any-return]

