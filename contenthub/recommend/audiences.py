"""The audience as the ranking sees it: a profile (``audience.profiles``) turned into ranking inputs.

Tag weights, the interest vector of recently engaged assets, the topic and content-type engagement
posteriors shrunk to the population's rates, the lifecycle stage's scenes — for a user, for a group from
its kept profile (``audience.group_profiles``), or pooled over members.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from contenthub.audience import group_profiles, lifecycle
from contenthub.audience.engagement import (
    ALL_CHANNELS,
    EVENT_WEIGHTS,
    POSITIVE,
    PROFILE_PREFIXES,
    TOPIC,
    decay_scale,
    read_decayed,
)
from contenthub.audience.profiles import VECTOR_EVENTS, Profile
from contenthub.hub import Hub
from contenthub.recommend import rates
from contenthub.recommend.catalog import Catalog
from contenthub.recommend.ranking import Audience
from contenthub.recommend.scoring import RATE_PRIOR_DELIVERIES, rate_posterior_rows
from contenthub.timeutil import from_iso


def audience_for(hub: Hub, cat: Catalog, profile: Profile, now: datetime) -> Audience:
    rules = lifecycle.get_rules(hub)
    half = hub.settings.profile_half_life_days
    now_scale = decay_scale(now, half)
    recent: dict[str, float] = {}
    for ev in profile.events:
        if ev["type"] in POSITIVE and ev.get("asset_id") in cat.index:
            weight = EVENT_WEIGHTS[ev["type"]] * decay_scale(from_iso(ev["ts"]), half) / now_scale
            recent[ev["asset_id"]] = recent.get(ev["asset_id"], 0.0) + weight
            if len(recent) >= VECTOR_EVENTS:
                break
    vector = None
    rows: list[int] = []
    w: np.ndarray | None = None
    norm = 1.0
    if recent:
        rows = [cat.index[a] for a in recent]
        w = np.array(list(recent.values()), dtype=np.float32)
        v = (w[:, None] * cat.vectors[rows]).sum(axis=0)
        norm = float(np.linalg.norm(v))
        vector = v / norm if norm > 0 else None
    weights = {k: v for k, v in profile.weights.items() if k[:2] in PROFILE_PREFIXES and abs(v) > 1e-6}
    topic, ctype = rate_posteriors(profile.weights, cat)
    stage = profile.status.get("stage")
    return Audience(
        weights=weights,
        vector=vector,
        vector_rows=rows if vector is not None else [],
        vector_weights=w,
        vector_norm=norm,
        recent_positive=list(recent.items()),
        stage=stage,
        stage_scenes=rules.stage_scenes.get(stage or "", []),
        exclude=set(profile.blocked_assets),
        target=profile.target,
        topic_ab=topic[0] if topic else None,
        topic_prior=topic[1] if topic else None,
        type_ab=ctype[0] if ctype else None,
        type_prior=ctype[1] if ctype else None,
    )


def population_rates(cat: Catalog) -> tuple[float, np.ndarray, np.ndarray]:
    """(brand rate, population rate per topic, per content type — each with a last "none" slot at the brand
    rate) over all channels, once per statistics refresh: the prior a user's own rates are shrunk to."""
    st = cat.stats.get(ALL_CHANNELS)
    if st is None:
        p = rates.RATE_PRIOR_RATE
        return p, np.full(len(cat.topic_names) + 1, p), np.full(len(cat.type_names) + 1, p)
    found = st.memo.get("population")
    if found is None:
        success, delivered, _ = st.quality_inputs(len(cat))
        p = rates.brand_rate(success, delivered)
        found = st.memo["population"] = (
            p,
            rates.slot_rates(success, delivered, cat.topic_of_row, len(cat.topic_names), p),
            rates.slot_rates(success, delivered, cat.type_of_row, len(cat.type_names), p),
        )
    return found


def brand_rate(cat: Catalog) -> float:
    """Engaged per delivery over all assets and channels, shrunk and clipped (``rates.brand_rate``)."""
    return population_rates(cat)[0]


def _beta(
    weights: dict[str, float], names: list[str], prefix: str, prior: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """(posterior, prior) Beta(α, β) of the audience's engagement per delivery on each name, plus a last
    "none" slot (``scoring.rate_posterior_rows`` of the profile's decayed ``e:``/``g:`` weights, shrunk
    to the population's rate on each name, ``population_rates``). None when there are no names."""
    if not names:
        return None
    e = np.fromiter((weights.get(f"e:{prefix}{n}", 0.0) for n in names), dtype=np.float64, count=len(names))
    g = np.fromiter((weights.get(f"g:{prefix}{n}", 0.0) for n in names), dtype=np.float64, count=len(names))
    a, b, _ = rate_posterior_rows(e[None, :], g[None, :], prior)
    return (a[0], b[0]), (RATE_PRIOR_DELIVERIES * prior, RATE_PRIOR_DELIVERIES * (1 - prior))


def rate_posteriors(
    weights: dict[str, float], cat: Catalog
) -> tuple[
    tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None,
    tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None,
]:
    """The audience's per-topic and per-content-type engagement posteriors, each with its prior: what
    makes a click on one topic move the very next pick towards it, a delivered asset that was not opened
    count against its topic and type, and a user without history start on the topics people like."""
    _, topic_p, type_p = population_rates(cat)
    return _beta(weights, cat.topic_names, TOPIC, topic_p), _beta(weights, cat.type_names, "c:", type_p)


def group_audience(
    hub: Hub, cat: Catalog, gprof: Profile, group_id: str, purpose: str, now: datetime
) -> tuple[Audience, int]:
    """A group's audience from its kept profile (``group_profiles``) and its own profile ``gprof``, and the
    member count the kept profile sums: tag weights and topic/type rates of the members and the group's
    own events pooled, the vector the mix of the most engaged assets, the lifecycle fit the purpose's
    scenes. A one-field read whatever the group's size, while the kept profile is unchanged
    (``group_profiles.kept_profile``)."""
    kept = group_profiles.kept_profile(hub, group_id)
    half = hub.settings.profile_half_life_days
    weights = dict(gprof.weights)
    for f, v in read_decayed(kept.counters, now, half).items():
        weights[f] = weights.get(f, 0.0) + v
    own = audience_for(hub, cat, gprof, now)
    recent = dict(own.recent_positive)
    # the VECTOR_EVENTS heaviest of own and member weights summed are among the own assets and the
    # VECTOR_EVENTS heaviest member assets: the rest of the (thousands of) member assets need no look
    inv = 1.0 / decay_scale(now, half)
    taken = 0
    for aid, w in kept.assets:
        if taken >= VECTOR_EVENTS:
            break
        if aid in cat.index:
            recent[aid] = recent.get(aid, 0.0) + w * inv
            taken += 1
    top = sorted(recent.items(), key=lambda kv: -kv[1])[:VECTOR_EVENTS]
    vector, rows, w_arr, norm = None, [], None, 1.0
    if top:
        rows = [cat.index[a] for a, _ in top]
        w_arr = np.array([w for _, w in top], dtype=np.float32)
        v = (w_arr[:, None] * cat.vectors[rows]).sum(axis=0)
        norm = float(np.linalg.norm(v))
        vector = v / norm if norm > 0 else None
    topic, ctype = rate_posteriors(weights, cat)
    rules = lifecycle.get_rules(hub)
    aud = Audience(
        weights={k: v for k, v in weights.items() if k[:2] in PROFILE_PREFIXES and abs(v) > 1e-6},
        vector=vector,
        vector_rows=rows if vector is not None else [],
        vector_weights=w_arr,
        vector_norm=norm,
        recent_positive=top,
        stage=own.stage,
        stage_scenes=list(rules.purpose_scenes.get(purpose, [])),
        exclude=set(gprof.blocked_assets),
        topic_ab=topic[0] if topic else None,
        topic_prior=topic[1] if topic else None,
        type_ab=ctype[0] if ctype else None,
        type_prior=ctype[1] if ctype else None,
        purpose=purpose,
    )
    return aud, kept.members


def merge_audiences(parts: list[Audience]) -> Audience:
    """A group's audience: summed member tag weights and the mean member vector."""
    weights: dict[str, float] = {}
    vecs = []
    recent: dict[str, float] = {}
    stages: dict[str, int] = {}
    for a in parts:
        for k, v in a.weights.items():
            weights[k] = weights.get(k, 0.0) + v
        if a.vector is not None:
            vecs.append(a.vector)
        for aid, w in a.recent_positive:
            recent[aid] = recent.get(aid, 0.0) + w
        if a.stage:
            stages[a.stage] = stages.get(a.stage, 0) + 1
    vector = None
    if vecs:
        v = np.mean(vecs, axis=0)
        n = float(np.linalg.norm(v))
        vector = v / n if n > 0 else None
    top_recent = sorted(recent.items(), key=lambda kv: -kv[1])[:50]
    stage = max(stages, key=lambda s: stages[s]) if stages else None
    return Audience(
        weights=weights,
        vector=vector,
        recent_positive=top_recent,
        stage=stage,
        topic_ab=_pooled([(a.topic_ab, a.topic_prior) for a in parts]),
        topic_prior=next((a.topic_prior for a in parts if a.topic_prior is not None), None),
        type_ab=_pooled([(a.type_ab, a.type_prior) for a in parts]),
        type_prior=next((a.type_prior for a in parts if a.type_prior is not None), None),
    )


Beta = tuple[np.ndarray, np.ndarray]


def _pooled(posteriors: list[tuple[Beta | None, Beta | None]]) -> Beta | None:
    """The members' rate posteriors pooled: their evidence (each α and β above its prior) summed on one
    prior — a group's engagement rate per topic, as if its members' deliveries were one audience's."""
    found = [(ab, prior) for ab, prior in posteriors if ab is not None and prior is not None]
    if not found:
        return None
    a0, b0 = found[0][1]
    a = sum((ab[0] - prior[0] for ab, prior in found), np.zeros_like(a0)) + a0
    b = sum((ab[1] - prior[1] for ab, prior in found), np.zeros_like(b0)) + b0
    return a, b
