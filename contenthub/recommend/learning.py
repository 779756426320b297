"""Where the default strategy learns its weights from the brand's own events, and when that runs.

What is learnt, when the brand's events hold deliveries of the hub's own picks (a bot reports what it sent
with the pick's recommendation id): the weights of the ranking signals (``strategies.SIGNALS``) of a
logistic model of *engagement per delivery* —
P(a click or stronger follows a delivery) = σ(b_user + w · signals of the delivered asset, as of the moment
before it was delivered), fitted *within users* (``fit_pairs``: a pairwise conditional logit over
one user's engaged and ignored deliveries, in which the user's own propensity b_user cancels), because
serving ranks one user's candidates and the held-out check compares one user's deliveries. That is the
quantity a pick should maximise, and it does not depend on which assets the serving policy liked to send:
a signal that only tracks what was sent (popularity grows with sends) earns no weight unless sent assets
with more of it are engaged with more often, and a signal that only tells users apart earns none at all. Each delivery's
signals are computed among the candidates the user had then (the scaled signals depend on them), by the
replay below. Who chose the exposure decides the question: where the hub picked what was sent, the
question is what gets engaged once sent; where the users chose what they saw (imported history, ratings
turned into deliveries without a recommendation id) their choice is itself the signal. So without enough
deliveries of the hub's own picks the weights are fitted as a conditional logit —
the probability that a user engaged with asset *a* rather than with one of ``NEGATIVES`` other assets
of the channel is softmax(w · signals). The signals are the production ones (``ranking.score_candidates``
with every weight 1 and no exploration), computed for each sampled engagement *as of the moment before
it*: the user's profile is replayed from the user's earlier events through the same rules serving uses
(``profiles.profile_from`` and ``audience_for`` on ``engagement.counter_deltas`` of those events), so a
click never explains itself. Two leaks are left and documented: the quality/popularity statistics and
the co-engagement model are the current ones (they include the sampled event, one among thousands).

The fits are L-BFGS-B on the negative log-likelihood with an L2 pull (little data moves the weights
little: the per-delivery fit pulls towards the strategy's built-in weights, the choice fit towards the
weights in use) and non-negative weights; the Hessian at the optimum gives each weight's
posterior standard deviation (Laplace), stored as ``Strategy.uncertainty``: serving draws its weights
from that posterior (linear Thompson sampling), so exploration shrinks as evidence grows.

When a fit is kept: the newest ``HOLDOUT`` share of the samples is held out (for the per-delivery fit: the
pairs whose later delivery is among them; the fit sees only pairs entirely before); the learnt weights must
rank held-out engagement better than the weights in use — each user's engaged deliveries above the same
user's ignored ones, both scored in the earlier request (the area under the ROC curve within users,
``pair_auc``) for the per-delivery fit, the engaged asset among its candidates (mean
1/log2(1 + rank)) for the conditional logit — and be finite. Otherwise the previous weights stay and the report says why. A hub without
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np
from scipy.optimize import minimize

from contenthub.audience.engagement import (
    ALL_CHANNELS,
    EVENT_WEIGHTS,
    NEGATIVE,
    counter_deltas,
    decay_scale,
)
from contenthub.audience.profiles import HISTORY_DAYS, HISTORY_LIMIT, profile_from
from contenthub.hooks import EventsStored, Hooks
from contenthub.hub import Hub
from contenthub.recommend import rates, topics
from contenthub.recommend.audiences import audience_for
from contenthub.recommend.catalog import (
    STAT_TYPES,
    Catalog,
    ChannelStats,
    attach_model,
    catalog,
    fit_engagement_model,
)
from contenthub.recommend.ranking import Audience, candidate_rows, score_candidates
from contenthub.recommend.service import recently_delivered
from contenthub.recommend.strategies import (
    DEFAULTS,
    RATE_SIGNALS,
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
MIN_DELIVERIES = 200
"""Deliveries of the hub's own picks (with at least ``MIN_SAMPLES`` of them engaged) needed for the per-delivery fit."""


def _hub_pick(e: dict[str, Any]) -> bool:
    """A delivery of one of the hub's own picks: it carries the pick's recommendation id."""
    return e["type"] == "delivered" and bool(e.get("recommendation_id"))


STATS_EVERY = 300
MODEL_EVERY = 3000


@dataclass
class Samples:
    x: np.ndarray  # samples × candidates × signals
    positive: np.ndarray  # position of the engaged asset among each sample's candidates
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
    reverted: bool = False  # the weights in use lost to the built-in ones on held-out data and were replaced

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unit_strategy(rate_prior: dict[str, float] | None = None) -> Strategy:
    """Every signal at weight 1, no exploration; ``rate_prior``: the audience prior strengths serving will use."""
    return Strategy(
        id="learn-signals",
        weights={s: 1.0 for s in SIGNALS},
        exploration=False,
        diversity=1.0,
        rate_prior=rate_prior or {},
    )


MIN_CELLS = 50
"""(Audience, topic) cells with deliveries needed to estimate how much audiences differ (``audience_strengths``)."""


def audience_strengths(cat: Catalog, evs: list[dict[str, Any]]) -> dict[str, float]:
    """How many deliveries' worth of weight the population's rate on a topic (content type) deserves
    against an audience's own: the empirical-Bayes strength (``rates.eb_strength``) over the window's
    (user, topic) cells — deliveries, and those followed by a click or stronger — around each topic's
    pooled rate. Where users differ a lot from each other the strength is small (their own deliveries
    soon decide, and Thompson sampling explores there); where they barely differ it is large (no
    exploration is spent on noise). Only signals with at least ``MIN_CELLS`` cells are estimated."""
    decided: set[tuple[str, str]] = set()
    for e in evs:
        if e["type"] in DECISIONS and e.get("user_id") and e.get("asset_id"):
            decided.add((e["user_id"], e["asset_id"]))
    sent: set[tuple[str, str]] = set()
    for e in evs:
        if e["type"] == "delivered" and e.get("user_id") and e.get("asset_id") in cat.index:
            sent.add((e["user_id"], e["asset_id"]))
    out: dict[str, float] = {}
    for name, of_row, size in (
        ("topic", cat.topic_of_row, len(cat.topic_names)),
        ("type", cat.type_of_row, len(cat.type_names)),
    ):
        if size < 2 or of_row.size != len(cat):
            continue
        cells: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for uid, aid in sent:
            cell = cells[(uid, int(of_row[cat.index[aid]]))]
            cell[0] += (uid, aid) in decided
            cell[1] += 1
        if len(cells) < MIN_CELLS:
            continue
        keys = list(cells)
        s = np.array([cells[k][0] for k in keys], dtype=float)
        d = np.array([cells[k][1] for k in keys], dtype=float)
        slot = np.array([k[1] for k in keys], dtype=np.int64)
        base = rates.brand_rate(s, d)
        p = rates.slot_rates(s, d, slot, size, base)[slot]
        out[name] = round(rates.eb_strength(s, d, p), 3)
    return out


def by_user(evs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each user's events, in the order given (oldest first)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in evs:
        if e.get("user_id"):
            out[e["user_id"]].append(e)
    return out


def audiences_before(
    hub: Hub, cat: Catalog, users: dict[str, list[dict[str, Any]]], points: dict[str, list[int]]
) -> Iterator[tuple[str, int, Audience]]:
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
            history = [
                e
                for e in reversed(mine[max(0, before - HISTORY_LIMIT) : before])
                if e["ts"] >= since and (not aid or e.get("asset_id") != aid)
            ]
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
    view = replace(
        cat,
        stats=stats,
        popularity=popularity,
        log_popularity={ch: np.log1p(v) for ch, v in popularity.items()},
        blocks={},
        freshness_base={},
        fits={},
    )
    attach_model(view, fit_engagement_model(hub, pairs=pairs))
    return view


def replay(
    hub: Hub, cat: Catalog, evs: list[dict[str, Any]], *, seed: int = 0, rate_prior: dict[str, float] | None = None
) -> Samples:
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
            if (
                e["type"] in DECISIONS
                and e.get("asset_id") in cat.index
                and e["asset_id"] not in seen
                and e["ts"] >= start
            ):
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
    unit = _unit_strategy(rate_prior)
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
        take = np.concatenate(
            [shown_rows, rng.choice(rest, min(NEGATIVES - shown_rows.size, rest.size), replace=False)]
        )
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
    return Samples(
        np.stack(rows_x)[order], np.array(rows_pos, dtype=np.int64)[order], [rows_ts[i] for i in order.tolist()]
    )


PAIR_SPAN = 20
"""Each delivery is compared with at most this many of the same user's earlier deliveries (the nearest): it
bounds the pairs of a very active user, and pairs close in time share more of the user's state."""


@dataclass
class Pairs:
    """One user's engaged delivery against the same user's ignored one, both scored *in the earlier
    request* — what serving had to choose from before either outcome was known."""

    d: np.ndarray  # pairs × signals: the engaged asset's signals minus the ignored one's, in the earlier request
    users: np.ndarray  # whose deliveries
    weight: np.ndarray  # 2 / (the user's replayed deliveries): see ``fit_pairs``
    later_ts: list[str]  # the later delivery's time (the held-out split)


@dataclass
class Deliveries:
    x: np.ndarray  # deliveries × signals: the delivered asset's signals as of just before
    context: np.ndarray  # deliveries × signals: their mean over the user's candidates then
    engaged: np.ndarray  # bool: a click or stronger on that asset by that user followed
    ts: list[str]
    users: list[str]  # whose delivery it was
    pairs: Pairs  # what the fit and the held-out check compare


def _no_pairs() -> Pairs:
    return Pairs(np.zeros((0, len(SIGNALS))), np.zeros(0, dtype=object), np.zeros(0), [])


def replay_deliveries(
    hub: Hub, cat: Catalog, evs: list[dict[str, Any]], *, seed: int = 0, rate_prior: dict[str, float] | None = None
) -> Deliveries:
    """Each sampled delivery of the window's newer part (the statistics from its older part, ``as_of``):
    the delivered asset's signals among the user's candidates as of just before the delivery, and whether
    the user engaged with it afterwards; and the within-user ``Pairs``. ``evs``: oldest first.

    Why pairs are scored in the earlier request rather than each delivery in its own: a delivery's
    personal signals (the user's topic and type rates, similarity, tag affinity) are built from the user's
    earlier outcomes. Compared within one user, an engaged delivery then looks *worse* than the user's
    others: given how often a user engaged, the others had one more engagement before them to raise their
    scores (the bias of within-unit comparisons with a lagged outcome, Nickell 1981). On a simulated
    deployment the built-in weights ranked each user's own engaged deliveries *below* the ignored ones
    (within-user AUC 0.41; 0.27 for deliveries a day apart) while pooled over users they ranked them above
    (0.64) — bench/RESULTS.md, learn-18f. In the earlier request neither outcome is in either score."""
    rng = np.random.default_rng(seed)
    cut = int(len(evs) * SNAPSHOT_SHARE)
    cat = as_of(hub, cat, evs[:cut])
    start = evs[cut]["ts"] if cut < len(evs) else ""
    users = by_user(evs)
    chosen: list[tuple[str, int]] = []
    engaged_after: dict[tuple[str, int], bool] = {}
    for uid, mine in users.items():
        decided: dict[str, list[str]] = defaultdict(list)  # asset → times of decisions on it
        for e in mine:
            if e["type"] in DECISIONS and e.get("asset_id"):
                decided[e["asset_id"]].append(e["ts"])
        for k, e in enumerate(mine):
            if _hub_pick(e) and e.get("asset_id") in cat.index and e["ts"] >= start:
                chosen.append((uid, k))
                engaged_after[(uid, k)] = any(t >= e["ts"] for t in decided.get(e["asset_id"], ()))
    chosen.sort(key=lambda uk: users[uk[0]][uk[1]]["ts"])
    points: dict[str, list[int]] = defaultdict(list)
    for uid, k in chosen[-MAX_SAMPLES:]:
        points[uid].append(k)
    for ks in points.values():
        ks.sort()
    unit = _unit_strategy(rate_prior)
    rows_x: list[np.ndarray] = []
    rows_c: list[np.ndarray] = []
    labels: list[bool] = []
    rows_ts: list[str] = []
    rows_user: list[str] = []
    pair_d: list[np.ndarray] = []
    pair_user: list[str] = []
    pair_w: list[float] = []
    pair_ts: list[str] = []
    for uid, k, aud in audiences_before(hub, cat, users, points):
        ev = users[uid][k]
        now = from_iso(ev["ts"])
        row = cat.index[ev["asset_id"]]
        aud.exclude.discard(ev["asset_id"])
        idx, _ = candidate_rows(cat, ev["channel"], None, now, aud.exclude)
        if not np.any(idx == row):
            idx = np.sort(np.append(idx, row))
        _, sig, _ = score_candidates(cat, aud, unit, ev["channel"], idx, now, rng)
        at = int(np.searchsorted(idx, row))
        mine_x = np.array([float(sig[name][at]) if name in sig else 0.0 for name in SIGNALS])
        rows_x.append(mine_x)
        rows_c.append(np.array([float(sig[name].mean()) if name in sig else 0.0 for name in SIGNALS]))
        mine_y = engaged_after[(uid, k)]
        labels.append(mine_y)
        rows_ts.append(ev["ts"])
        rows_user.append(uid)
        ks = points[uid]
        later = ks[ks.index(k) + 1 : ks.index(k) + 1 + PAIR_SPAN]
        for k2 in later:  # this request against the user's later deliveries with the other outcome
            if engaged_after[(uid, k2)] == mine_y:
                continue
            other = cat.index[users[uid][k2]["asset_id"]]
            pos = int(np.searchsorted(idx, other))
            if pos >= idx.size or idx[pos] != other:
                continue  # not a candidate then (not yet in the library, or excluded)
            other_x = np.array([float(sig[name][pos]) if name in sig else 0.0 for name in SIGNALS])
            pair_d.append(mine_x - other_x if mine_y else other_x - mine_x)
            pair_user.append(uid)
            pair_w.append(2.0 / len(ks))
            pair_ts.append(users[uid][k2]["ts"])
    if not rows_x:
        empty = np.zeros((0, len(SIGNALS)))
        return Deliveries(empty, empty.copy(), np.zeros(0, dtype=bool), [], [], _no_pairs())
    order = np.argsort(np.array(rows_ts), kind="stable")
    pairs = (
        Pairs(np.stack(pair_d), np.array(pair_user, dtype=object), np.array(pair_w), pair_ts) if pair_d else _no_pairs()
    )
    return Deliveries(
        np.stack(rows_x)[order],
        np.stack(rows_c)[order],
        np.array(labels, dtype=bool)[order],
        [rows_ts[i] for i in order.tolist()],
        [rows_user[i] for i in order.tolist()],
        pairs,
    )


def fit_pairs(
    d: np.ndarray,
    weight: np.ndarray,
    prior: np.ndarray,
    l2: float = L2,
    *,
    fixed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(weights, their posterior standard deviations) of the per-delivery model fitted *within users*: a
    pairwise conditional logit over pairs of one user's engaged and ignored deliveries (``d``: the engaged
    one's signals minus the ignored one's), P(i is the engaged one | exactly one of i, j was engaged) =
    σ(w · (x_i − x_j)).

    Why within users: under P(engaged) = σ(b_user + w · x), that conditional probability holds exactly
    whatever the user's own propensity b_user (it cancels), so a signal that only tells users apart — a
    lifecycle stage, how much a user engages at all — earns nothing, as in the held-out check
    (``pair_auc``) and in serving, which ranks one user's candidates. A logistic regression pooled over
    deliveries credited such signals (bench/RESULTS.md, learn-18c). The weights keep the log-odds scale
    of the per-delivery model, so the log-rate signals stay calibrated.

    ``weight``: 2 / (the user's deliveries) for each of a user's pairs — a user with P engaged and N
    ignored deliveries holds up to P·N pairs but only about P·N / (P + N) deliveries' worth of evidence
    about what separates them (the exact conditional likelihood's information at weights near 0 is
    2 / (P + N) times the pairs' sum), so the L2 pull keeps its meaning in deliveries and one delivery
    counted in many pairs does not narrow the standard deviations. A weight constant within a user
    leaves the fit consistent.

    L2 pull towards ``prior``, non-negative weights, L-BFGS-B (scipy); standard deviations from the
    Hessian at the optimum (Laplace). ``fixed``: weights held at their ``prior`` (an offset, standard
    deviation 0) — the log-rate signals (``strategies.RATE_SIGNALS``), whose weight 1 is their calibration."""
    k = d.shape[1]
    held = fixed if fixed is not None else np.zeros(k, dtype=bool)
    pull = np.where(held, 0.0, l2)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = d @ w
        nll = float(np.sum(weight * np.logaddexp(0.0, -z)))
        grad = -(d.T @ (weight / (1.0 + np.exp(z)))) + pull * (w - prior)
        return nll + 0.5 * float(np.sum(pull * (w - prior) ** 2)), grad

    bounds = [(float(v), float(v)) if h else (0.0, None) for v, h in zip(prior, held, strict=True)]
    res = minimize(loss, np.where(held, prior, np.maximum(prior, 0.0)), jac=True, method="L-BFGS-B", bounds=bounds)
    w = res.x
    free = ~held
    p = 1.0 / (1.0 + np.exp(-(d @ w)))
    sub = d[:, free]
    hessian = (sub * (weight * p * (1 - p))[:, None]).T @ sub + np.diag(pull[free] + 1e-9)
    sd = np.zeros(k)
    try:
        sd[free] = np.sqrt(np.clip(np.diag(np.linalg.inv(hessian)), 0.0, None))
    except np.linalg.LinAlgError:
        sd[:] = np.nan
    return w, sd


BOOTSTRAP = 200
"""Resamples of the held-out check's paired bootstrap (``pair_auc_gain_se``)."""


def _pair_counts(d: np.ndarray, w: np.ndarray, codes: np.ndarray, n_users: int) -> np.ndarray:
    """Per user: the pairs the score orders right (the engaged one above), ties counting half."""
    z = d @ w
    return np.bincount(codes, weights=(z > 0) + 0.5 * (z == 0), minlength=n_users)


def pair_auc(d: np.ndarray, w: np.ndarray) -> float:
    """The share of within-user pairs the weights order right (ties half): the area under the ROC curve
    within users, each user weighted by their number of pairs."""
    if d.shape[0] == 0 or not np.all(np.isfinite(w)):
        return 0.0
    z = d @ w
    return float(np.mean((z > 0) + 0.5 * (z == 0)))


def pair_auc_gain_se(d: np.ndarray, users: np.ndarray, new: np.ndarray, old: np.ndarray, seed: int = 0) -> float:
    """Standard error of pair_auc(new) − pair_auc(old) on the same pairs: a paired bootstrap over users
    (a user's pairs share deliveries, so users are the independent units)."""
    if d.shape[0] == 0 or not (np.all(np.isfinite(new)) and np.all(np.isfinite(old))):
        return 0.0
    codes = np.unique(users, return_inverse=True)[1].ravel()
    m = int(codes.max()) + 1
    if m < 2:
        return 0.0
    total = np.bincount(codes, minlength=m).astype(float)
    gain = _pair_counts(d, new, codes, m) - _pair_counts(d, old, codes, m)
    draws = np.random.default_rng(seed).multinomial(m, np.full(m, 1.0 / m), size=BOOTSTRAP).astype(float)
    return float(np.std((draws @ gain) / (draws @ total), ddof=1))


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


def ranking_gains(x: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each sample's 1/log2(1 + rank) of the engaged asset among its candidates (ties count against it)."""
    if x.shape[0] == 0 or not np.all(np.isfinite(w)):
        return np.zeros(x.shape[0])
    z = x @ w
    mine = z[np.arange(z.shape[0]), positive]
    rank = 1 + (z > mine[:, None]).sum(axis=1) + ((z == mine[:, None]).sum(axis=1) - 1)
    return 1.0 / np.log2(1.0 + rank)


def ranking_quality(x: np.ndarray, positive: np.ndarray, w: np.ndarray) -> float:
    """Mean 1/log2(1 + rank) of the engaged asset among its candidates (ties count against it)."""
    gains = ranking_gains(x, positive, w)
    return float(gains.mean()) if gains.size else 0.0


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
    strengths = audience_strengths(cat, evs)
    delivered = sum(1 for e in evs if _hub_pick(e))
    if delivered >= MIN_DELIVERIES:
        found = replay_deliveries(hub, cat, evs, seed=seed, rate_prior=strengths)
        if found.x.shape[0] >= MIN_DELIVERIES and int(found.engaged.sum()) >= MIN_SAMPLES:
            return _learn_per_delivery(hub, current, prior, report, found, len(evs), strengths)
    samples = replay(hub, cat, evs, seed=seed, rate_prior=strengths)
    n = samples.x.shape[0]
    report.samples = n
    if n < MIN_SAMPLES:
        report.reason = f"only {n} engagements to learn from (at least {MIN_SAMPLES} needed): the weights stay"
        return _remember(hub, report)
    cut = math.floor(n * (1 - HOLDOUT))
    report.holdout_samples = n - cut
    w, sd = fit(samples.x[:cut], samples.positive[:cut], prior)
    w = np.where(np.isfinite(w), w, np.nan)
    old_g = ranking_gains(samples.x[cut:], samples.positive[cut:], prior)
    new_g = ranking_gains(samples.x[cut:], samples.positive[cut:], w)
    old_q, new_q = float(old_g.mean()), float(new_g.mean())
    se = float(np.std(new_g - old_g, ddof=1) / math.sqrt(new_g.size)) if new_g.size > 1 else 0.0
    report.previous["holdout_quality"] = round(old_q, 4)
    report.learned = {
        "rate_prior": strengths,
        "weights": {s: round(float(v), 4) for s, v in zip(SIGNALS, w, strict=True)},
        "uncertainty": {s: round(float(v), 4) for s, v in zip(SIGNALS, sd, strict=True)},
        "holdout_quality": round(new_q, 4),
    }
    report.learned["objective"] = "choice among candidates"

    def choice_quality(weights: np.ndarray) -> tuple[float, float]:
        gains = ranking_gains(samples.x[cut:], samples.positive[cut:], weights)
        diff = gains - old_g
        return float(gains.mean()), float(np.std(diff, ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0

    return _activate(
        hub, current, report, w, sd, new_q, old_q, se, n, len(evs), samples.ts[-1], rescale=True, quality=choice_quality
    )


def _pull_centre(current: Strategy) -> np.ndarray:
    """Where the per-delivery fit's L2 pull goes: the strategy's built-in weights (its own if it has none).
    Why not the weights in use: each run is a fresh estimate on its own window, shrunk to the product's
    prior; pulled towards the weights in use, an earlier lucky fit would be where every later one starts
    and stays (the ratchet ``_recheck`` undoes)."""
    base = DEFAULTS.get(current.id) or current
    return np.array([base.weight(s) for s in SIGNALS])


def _learn_per_delivery(
    hub: Hub,
    current: Strategy,
    prior: np.ndarray,
    report: LearnReport,
    found: Deliveries,
    events: int,
    strengths: dict[str, float],
) -> LearnReport:
    """The per-delivery fit (module docstring) on the older deliveries, checked on the newest."""
    n = found.x.shape[0]
    report.samples = n
    cut = math.floor(n * (1 - HOLDOUT))
    report.holdout_samples = n - cut
    fixed = np.array([s in RATE_SIGNALS for s in SIGNALS])
    centre = np.where(fixed, 1.0, _pull_centre(current))
    # fit and check ask the same question of the same kind of data: one user's engaged delivery against
    # the same user's ignored one, scored in the earlier request (``replay_deliveries``). Held out: the
    # pairs whose later delivery is among the newest ``HOLDOUT`` share; the fit sees only pairs before.
    pairs = found.pairs
    split = found.ts[cut] if cut < n else "~"
    is_held = np.array([t >= split for t in pairs.later_ts], dtype=bool)
    train, held = ~is_held, is_held
    w, sd = fit_pairs(pairs.d[train], pairs.weight[train], centre, fixed=fixed)
    w = np.where(np.isfinite(w), w, np.nan)
    d_held, users = pairs.d[held], pairs.users[held]
    old_q = pair_auc(d_held, prior)
    new_q = pair_auc(d_held, w)
    se = pair_auc_gain_se(d_held, users, w, prior)
    report.previous["holdout_quality"] = round(old_q, 4)
    report.learned = {
        "objective": "engagement per delivery",
        "fit": "pairs within users, scored in the earlier request",
        "training_pairs": int(train.sum()),
        "holdout_pairs": int(held.sum()),
        "holdout": "AUC within users",
        "rate_prior": strengths,
        "weights": {s: round(float(v), 4) for s, v in zip(SIGNALS, w, strict=True)},
        "uncertainty": {s: round(float(v), 4) for s, v in zip(SIGNALS, sd, strict=True)},
        "holdout_quality": round(new_q, 4),
        "engaged_share": round(float(found.engaged.mean()), 4),
    }

    def delivery_quality(weights: np.ndarray) -> tuple[float, float]:
        return pair_auc(d_held, weights), pair_auc_gain_se(d_held, users, weights, prior)

    return _activate(
        hub, current, report, w, sd, new_q, old_q, se, n, events, found.ts[-1], rescale=False, quality=delivery_quality
    )


def _activate(
    hub: Hub,
    current: Strategy,
    report: LearnReport,
    w: np.ndarray,
    sd: np.ndarray,
    new_q: float,
    old_q: float,
    se: float,
    n: int,
    events: int,
    newest: str,
    *,
    rescale: bool,
    quality: Callable[[np.ndarray], tuple[float, float]] | None = None,
) -> LearnReport:
    """Store the learnt weights when they are finite and beat the weights in use on held-out data by more
    than the standard error of that difference (``se``; a gain within noise keeps the previous weights);
    else keep the previous ones and say why. ``rescale``: divide by the largest weight (the conditional
    logit's scale is arbitrary); the per-delivery fit's weights are on the log-rate scale and stay."""
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(sd))) or w.max() <= 0:
        report.reason = "the fit gave non-finite or all-zero weights: the previous weights stay"
        return _remember(hub, _keep_weights(hub, _recheck(current, report, old_q, quality), report))
    report.learned["holdout_gain_se"] = round(se, 4)
    if new_q - old_q <= se:
        report.reason = (
            f"the learnt weights ranked held-out engagement no better, beyond the standard error of the "
            f"difference ({new_q:.4f} vs {old_q:.4f}, standard error {se:.4f}): the previous weights stay"
        )
        return _remember(hub, _keep_weights(hub, _recheck(current, report, old_q, quality), report))
    top = float(w.max()) if rescale else 1.0
    weights = {s: round(float(v) / top, 4) for s, v in zip(SIGNALS, w, strict=True)}
    uncertainty = {s: round(float(v) / top, 4) for s, v in zip(SIGNALS, sd, strict=True)}
    put_strategy(
        hub,
        current.model_copy(
            update={
                "weights": weights,
                "uncertainty": uncertainty,
                "rate_prior": report.learned.get("rate_prior") or current.rate_prior,
                "learned": {
                    "samples": n,
                    "holdout_quality": round(new_q, 4),
                    "previous_holdout_quality": round(old_q, 4),
                    "events": events,
                    "newest_event": newest,
                    "objective": report.learned.get("objective", ""),
                    # how many runs have changed this strategy's weights: a count an operator can watch
                    "activations": int(current.learned.get("activations", 0)) + 1,
                },
            }
        ),
    )
    report.activated = True
    report.reason = (
        f"held-out ranking quality {new_q:.4f} beats the previous weights' {old_q:.4f} "
        f"by more than its standard error {se:.4f}"
    )
    return _remember(hub, report)


def _recheck(
    current: Strategy,
    report: LearnReport,
    old_q: float,
    quality: Callable[[np.ndarray], tuple[float, float]] | None,
) -> Strategy:
    """The weights to keep when the new fit did not win: the ones in use, unless the built-in weights of the
    same strategy now rank the held-out data better than they do by more than the standard error of that
    difference — then the built-in ones (``report.reverted``), with their uncertainty cleared.

    Why: the weights in use were activated on an earlier, smaller window because they beat *their*
    predecessor there by one standard error; a run that only asks whether a new fit beats them lets a
    lucky early fit stay for good (each run is one more chance for a lucky fit to pass, none to undo it).
    On a simulated deployment (bench/RESULTS.md, learn-18) a fit of ~800 deliveries on day 3 gave the
    lifecycle fit weight 1.2–1.5, an asset prior that held-out data later ranked below the built-in
    weights (AUC 0.608 vs 0.626), and no later fit beat it by a standard error, so it stayed all run.
    The check asks the newest held-out data the same question the activation asks, with the same margin."""
    built_in = DEFAULTS.get(current.id)
    if quality is None or built_in is None or built_in.weights == current.weights:
        return current
    base = np.array([built_in.weight(s) for s in SIGNALS])
    base_q, base_se = quality(base)
    if not (np.isfinite(base_q) and base_q - old_q > base_se):
        return current
    report.reverted = True
    report.reason += (
        f"; but the built-in weights rank the held-out data better than the weights in use ({base_q:.4f} vs "
        f"{old_q:.4f}, standard error {base_se:.4f}): the built-in weights are restored"
    )
    # ``learned`` keeps the count of activations and says the built-in weights are back (and from which run)
    learned = {"activations": current.learned.get("activations", 0), "restored_built_in_at_events": report.events}
    return current.model_copy(update={"weights": dict(built_in.weights), "uncertainty": {}, "learned": learned})


def _keep_weights(hub: Hub, current: Strategy, report: LearnReport) -> LearnReport:
    """The weights stay (or the built-in ones come back: ``_recheck``); the audience prior strengths are
    still refreshed when the run estimated new ones: they are an estimate of how much audiences differ
    (``audience_strengths``, a maximum-likelihood fit to the deliveries themselves), not ranking weights
    that must beat the old ones."""
    strengths = report.learned.get("rate_prior") or {}
    update: dict[str, Any] = {}
    if strengths and strengths != current.rate_prior:
        update["rate_prior"] = strengths
        report.reason += f"; the audience prior strengths are refreshed to {strengths}"
    if report.reverted or update:
        put_strategy(hub, current.model_copy(update=update))
    return report


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
        found = hub.cache.setdefault(
            _SLOT, {"new": 0, "stats": 0, "model": 0, "events_at_learn": 0, "running": False, "lock": threading.Lock()}
        )
    return found


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
    return _state(hub).get("last_report")


def _on_events_stored(event: EventsStored) -> None:
    after_ingest(event.hub, len(event.inserted))


def subscribe(hooks: Hooks) -> None:
    """Wired when a hub opens (``contenthub.hooks.SUBSCRIBERS``): newly stored events count towards the next
    statistics refresh, model refit and learning run."""
    hooks.subscribe(EventsStored, _on_events_stored)
