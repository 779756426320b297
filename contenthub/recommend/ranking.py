"""Where a score is computed: candidate signals, their blend, exploration and diversity.

Every signal is scaled to [0, 1] over the candidates of one request before the strategy's weights
apply, so weights mean the same thing whatever the model, corpus or traffic volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from contenthub.recommend.catalog import Catalog, ChannelBlock
from contenthub.recommend.strategies import SIGNALS, Strategy

PRIOR_STRENGTH = 20.0  # pseudo-deliveries behind the channel-wide click rate


@dataclass
class Audience:
    """What ranking knows about the user or group it ranks for."""

    weights: dict[str, float] = field(default_factory=dict)     # decayed engagement-tag weights (t:/s:/c:/k:)
    vector: np.ndarray | None = None                            # decayed mean of engaged asset vectors
    recent_positive: list[tuple[str, float]] = field(default_factory=list)  # (asset id, weight), newest first
    stage: str | None = None
    stage_scenes: list[str] = field(default_factory=list)
    exclude: set[str] = field(default_factory=set)
    target: str | None = None  # the user id, so the engagement model can add the user's whole history


@dataclass
class Ranked:
    index: int
    score: float
    signals: dict[str, float]
    explored: bool


def _minmax(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-12:
        return np.zeros_like(x) if hi <= 0 else np.ones_like(x) * 0.5
    return (x - lo) / (hi - lo)


def candidate_mask(cat: Catalog, channel: str, scene: str | None, now: datetime, exclude: set[str]) -> np.ndarray:
    n = len(cat)
    mask = cat.channel_mask.get(channel, np.zeros(n, dtype=bool)).copy()
    if scene:
        mask &= cat.scene_mask.get(scene, np.zeros(n, dtype=bool))
    t = now.timestamp()
    mask &= (cat.valid_from <= t) & (cat.valid_until > t)
    for aid in exclude:
        i = cat.index.get(aid)
        if i is not None:
            mask[i] = False
    return mask


def quality_posterior(cat: Catalog, channel: str, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beta posterior (alpha, beta) of 'engaged per delivery' on this channel, shrunk to the channel mean."""
    st = cat.stats.get(channel)
    if st is None:
        a = np.full(idx.size, 1.0)
        return a, np.full(idx.size, 19.0)
    success, delivered, rate = st.quality_inputs(len(cat))
    base = float(np.clip(rate, 0.01, 0.9))
    a0, b0 = base * PRIOR_STRENGTH, (1 - base) * PRIOR_STRENGTH
    s = np.minimum(success[idx], delivered[idx] * 3)  # several clicks per delivery are possible; cap the credit
    d = np.maximum(delivered[idx], s / 3)
    return a0 + s, b0 + np.maximum(d - s / 3, 0)


def _channel_positions(cat: Catalog, channel: str, idx: np.ndarray) -> tuple[ChannelBlock, np.ndarray] | None:
    """(channel block, positions of ``idx`` in it) when every candidate is on the channel, else None."""
    blk = cat.block(channel)
    if idx.size == 0 or blk.rows.size == 0:
        return None
    pos = np.searchsorted(blk.rows, idx)
    if pos[-1] >= blk.rows.size or not np.array_equal(blk.rows[pos], idx):
        return None
    return blk, pos


def collaborative_scores(cat: Catalog, aud: Audience) -> np.ndarray | None:
    """Engagement-model scores over all catalog rows: Σ over the assets the audience engaged with
    (whole history as of the last fit, plus recent positive events) of their EASE weight rows."""
    model = cat.engagement
    if model is None or cat.model_rows is None or not model.asset_ids:
        return None
    engaged = set(model.engaged(aud.target).tolist())
    engaged.update(j for j in (model.position.get(a) for a, w in aud.recent_positive if w > 0) if j is not None)
    if not engaged:
        return None
    rows = np.fromiter(engaged, dtype=np.int64, count=len(engaged))
    per_model = model.weights[rows].sum(axis=0) if rows.size > 1 else model.weights[rows[0]]
    out = np.zeros(len(cat), dtype=np.float32)
    present = cat.model_rows >= 0
    out[cat.model_rows[present]] = per_model[present]
    return out


def score_candidates(
    cat: Catalog, aud: Audience, strategy: Strategy, channel: str, idx: np.ndarray, now: datetime,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Blend of the strategy's signals for candidate rows ``idx``; returns (score, signals, explored flags)."""
    m = idx.size
    sig: dict[str, np.ndarray] = {}
    on_channel = _channel_positions(cat, channel, idx)  # contiguous rows: no copy of idx's vectors
    if aud.vector is not None and strategy.weight("similarity"):
        v = np.asarray(aud.vector, dtype=np.float32)
        raw = (on_channel[0].vectors @ v)[on_channel[1]] if on_channel else cat.vectors[idx] @ v
        sig["similarity"] = _minmax(raw)
    if aud.weights and strategy.weight("affinity"):
        w = np.zeros(cat.features.shape[1], dtype=np.float32)
        for f, val in aud.weights.items():
            j = cat.feature_index.get(f)
            if j is not None:
                w[j] = val
        raw = (on_channel[0].features @ w)[on_channel[1]] if on_channel else cat.features[idx] @ w
        sig["affinity"] = _minmax(np.maximum(raw, 0)) - _minmax(np.maximum(-raw, 0)) * 0.5
    if strategy.weight("collaborative"):
        collab = collaborative_scores(cat, aud)
        if collab is not None:
            sig["collaborative"] = _minmax(collab[idx])
    explored = np.zeros(m, dtype=bool)
    if strategy.weight("quality"):
        a, b = quality_posterior(cat, channel, idx)
        mean = a / (a + b)
        if strategy.exploration:
            sample = rng.beta(a, b)
            explored = sample > mean + 2 * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
            sig["quality"] = _minmax(sample)
        else:
            sig["quality"] = _minmax(mean)
    if strategy.weight("popularity"):
        log_pop = cat.log_popularity.get(channel)
        if log_pop is None:
            log_pop = cat.log_popularity.get("*")
        if log_pop is not None:
            sig["popularity"] = _minmax(log_pop[idx])
    if strategy.weight("freshness"):
        age_days = np.maximum(0.0, (now.timestamp() - cat.created[idx]) / 86400.0)
        sig["freshness"] = np.power(0.5, age_days / strategy.freshness_half_life_days)
    if aud.stage and strategy.weight("lifecycle"):
        sig["lifecycle"] = cat.lifecycle_fit(aud.stage, tuple(aud.stage_scenes))[idx]
    score = np.zeros(m)
    for name in SIGNALS:
        if name in sig:
            score += strategy.weight(name) * sig[name]
    return score, sig, explored


def top_stable(score: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` of ``np.argsort(-score, kind="stable")`` without sorting everything: ties keep
    the lower index, exactly as the full stable sort would."""
    if k >= score.size:
        return np.argsort(-score, kind="stable")
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = score[np.argpartition(-score, k - 1)[k - 1]]
    better = np.flatnonzero(score > kth)
    top = np.concatenate([better, np.flatnonzero(score == kth)[: k - better.size]])
    return top[np.lexsort((top, -score[top]))]


def mmr(cat: Catalog, idx: np.ndarray, score: np.ndarray, n: int, lam: float) -> list[int]:
    """Maximal marginal relevance: each next pick trades score against similarity to those picked."""
    if n <= 1 or lam >= 1.0:
        return top_stable(score, n).tolist()
    pool = top_stable(score, max(n * 5, 20))
    vecs = cat.vectors[idx[pool]]
    s = score[pool]
    s = (s - s.min()) / (s.max() - s.min() + 1e-12)
    chosen: list[int] = []
    max_sim = np.full(pool.size, -np.inf)
    available = np.ones(pool.size, dtype=bool)
    for _ in range(min(n, pool.size)):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = np.where(available, lam * s - (1 - lam) * penalty, -np.inf)
        j = int(np.argmax(value))
        chosen.append(int(pool[j]))
        available[j] = False
        max_sim = np.maximum(max_sim, vecs @ vecs[j])
    return chosen


def explain(
    cat: Catalog, aud: Audience, strategy: Strategy, row: int, signals: dict[str, float], explored: bool,
    channel: str, names: dict[str, str], now: datetime,
) -> list[dict[str, Any]]:
    """Human reasons for one pick, strongest first."""
    doc = cat.docs[row]
    reasons: list[dict[str, Any]] = []
    if "affinity" in signals and signals["affinity"] > 0 and aud.weights:
        feats = [f for f in (
            [f"t:{t}" for t in doc.get("tags") or []] + [f"s:{s}" for s in doc.get("scenes") or []]
            + ([f"c:{doc['content_type']}"] if doc.get("content_type") else [])
        ) if aud.weights.get(f, 0) > 0]
        feats.sort(key=lambda f: -aud.weights[f])
        if feats:
            shown = ", ".join(names.get(f, f[2:]) for f in feats[:3])
            reasons.append({"kind": "tags", "detail": f"matches engaged tags: {shown}",
                            "weight": strategy.weight("affinity") * signals["affinity"]})
    if "similarity" in signals and aud.recent_positive:
        rows = [cat.index[a] for a, _ in aud.recent_positive[:20] if a in cat.index and cat.index[a] != row]
        if rows:
            sims = cat.vectors[rows] @ cat.vectors[row]
            best = rows[int(np.argmax(sims))]
            reasons.append({"kind": "similar", "detail": f"resembles「{cat.docs[best]['title']}」engaged before "
                            f"(similarity {float(sims.max()):.2f})",
                            "weight": strategy.weight("similarity") * signals["similarity"]})
    if signals.get("collaborative", 0) > 0.3:
        reasons.append({"kind": "collaborative", "detail": "people who engaged with the same assets engaged with this",
                        "weight": strategy.weight("collaborative") * signals["collaborative"]})
    if signals.get("lifecycle", 0) >= 0.8 and aud.stage:
        reasons.append({"kind": "lifecycle", "detail": f"fits the '{aud.stage}' lifecycle stage",
                        "weight": strategy.weight("lifecycle") * signals["lifecycle"]})
    if signals.get("popularity", 0) > 0.5:
        reasons.append({"kind": "popular", "detail": f"among the most engaged on {channel}",
                        "weight": strategy.weight("popularity") * signals["popularity"]})
    if signals.get("quality", 0) > 0.6:
        reasons.append({"kind": "quality", "detail": f"high engagement per delivery on {channel}",
                        "weight": strategy.weight("quality") * signals["quality"]})
    age_days = (now.timestamp() - cat.created[row]) / 86400.0
    if signals.get("freshness", 0) > 0.7:
        reasons.append({"kind": "fresh", "detail": f"new: added {max(age_days, 0):.0f} days ago",
                        "weight": strategy.weight("freshness") * signals["freshness"]})
    if explored:
        reasons.append({"kind": "exploration", "detail": "exploring: few deliveries so far, its true rate may be higher",
                        "weight": strategy.weight("quality") * signals.get("quality", 0)})
    reasons.sort(key=lambda r: -r["weight"])
    if aud.vector is None and not aud.weights:
        reasons.insert(0, {"kind": "cold_start", "detail": "no engagement history yet: popular on this channel and "
                           "fit for the lifecycle stage", "weight": 0.0})
    return reasons
