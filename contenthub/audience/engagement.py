"""How much each event says about interest, and the decayed counters that make up a profile.

Decay without rewrites: an event at time t adds ``w · 2^((t − EPOCH)/H)``; reading divides by
``2^((now − EPOCH)/H)``. Additions commute, so late and out-of-order events land exactly where their
own time puts them, and a profile update is a pure increment the store applies atomically.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from contenthub.store.base import CounterDeltas
from contenthub.timeutil import from_iso

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

# What one event says about interest. An open is a glance (the title did it); a click, a favourite, a
# share and a conversion are decisions, so they count several times as much. A delivery is neutral here:
# what counts against a delivered asset that was not opened is its exposure (``e:`` fields below), which
# lowers the engagement rate of its topic and content type until engagement follows.
EVENT_WEIGHTS: dict[str, float] = {
    "served": 0.0,
    "delivered": 0.0,
    "open": 0.5,
    "click": 3.0,
    "favorite": 4.0,
    "comment": 3.0,
    "share": 5.0,
    "add_to_cart": 4.0,
    "convert": 6.0,
    "mute": -6.0,
    "unsubscribe": -8.0,
    "delete": -6.0,
}
RATE_WEIGHTS: dict[str, float] = {
    t: w if w >= EVENT_WEIGHTS["click"] or w < 0 else 0.0 for t, w in EVENT_WEIGHTS.items()
}
"""What one event adds to the engagement of its topic and content type (the ``g:`` fields, the successes of
the audience's rate posteriors, ``scoring.rate_posterior_rows``): a decision (click or stronger) or a
negative, never an open. Why not the open's weight: the rate is engaged per delivery and an open is the
funnel's step before a click, not engagement — counted as a sixth of a click it made a delivery that was
opened and not clicked (the user saw it and declined) count *less* against its topic than one never
opened, and cost ~2.5% of the clicks of the simulator's twin of this model (``bench/sim_explore.py``
``hub_counts_eb`` against ``hub_no_open_eb``, 100 seeds; bench/RESULTS.md, learn-18g). Opens still count in
the interest weights (``EVENT_WEIGHTS``)."""
_N_FIELDS = {t: f"n:{t}" for t in EVENT_WEIGHTS}  # the count field of each event type
POSITIVE = frozenset(t for t, w in EVENT_WEIGHTS.items() if w > 0)
NEGATIVE = frozenset(t for t, w in EVENT_WEIGHTS.items() if w < 0)
BLOCKING_TYPES = frozenset({"mute", "delete"})
"""Events that take their asset out of the audience's candidates for good."""
ENGAGED = POSITIVE  # what counts as activity for lifecycle stages

PROFILE = "profile"
GROUP_PREFIX = "group:"
"""A group's own profile key is ``group:<id>`` (its counters' key, and its profile's ``target``)."""
ASSET_STATS = "asset_stats"  # key "<asset id>|<channel>"
POPULARITY = "popularity"  # key "<channel>", field "<asset id>"
# The all-channel figures ("<asset id>|*" statistics, "*" popularity) are sums over the channels, added up
# where they are read (catalog.refresh_stats, performance.asset_performance); ingestion writes only the
# per-channel counters (each roll-up was one more upsert per event, ~15% of a batch's counter writes).
ALL_CHANNELS = "*"


def decay_scale(ts: datetime, half_life_days: float) -> float:
    return 2.0 ** ((ts - EPOCH).total_seconds() / 86400.0 / half_life_days)


def current_scale(now: datetime, half_life_days: float) -> float:
    return decay_scale(now, half_life_days)


# Specific beats generic: a shared free tag (护眼) says more about interest than a shared kind (article).
# ``o:`` is the topic the library's own clustering found (recommend/topics.py): an implicit tag, as
# telling as an editor's tag and present on every asset with a vector.
FEATURE_WEIGHTS = {"t:": 1.0, "o:": 1.0, "s:": 0.6, "c:": 0.4, "k:": 0.2}
TOPIC = "o:"
PROFILE_PREFIXES = ("t:", "o:", "s:", "c:", "k:")
"""The profile fields that are interest weights (decayed), as opposed to counts (``n:``)."""
RATE_PREFIXES = ("o:", "c:")
"""Features whose engagement *rate* a profile keeps (topic and content type): ``e:<feature>`` sums the
decayed deliveries of assets with the feature, ``g:<feature>`` the decayed engagement weight they got
(``RATE_WEIGHTS``: decisions and negatives, not opens)."""
DECAYED_PREFIXES = (*PROFILE_PREFIXES, "w:", "e:", "g:")


def asset_features(asset: dict[str, Any], topic: str | None = None) -> tuple[tuple[str, float], ...]:
    """The profile dimensions an asset contributes to, with their weights, L2-normalised per asset.
    ``topic``: the asset's discovered topic (else ``asset["topic"]`` when present)."""
    return _features(
        tuple(asset.get("tags") or ()),
        tuple(asset.get("scenes") or ()),
        asset.get("content_type") or None,
        asset.get("kind") or None,
        topic or asset.get("topic"),
    )


@lru_cache(maxsize=65536)
def _features(
    tags: tuple[str, ...], scenes: tuple[str, ...], content_type: str | None, kind: str | None, topic: str | None = None
) -> tuple[tuple[str, float], ...]:
    """asset_features of these tags, scenes, content type, kind and topic. Cached because ingestion asks
    for the features of ~6,000 assets per 10,000-event batch and they are a pure function of these
    fields (callers only read the list)."""
    feats = [f"t:{t}" for t in tags]
    if topic:
        feats.append(f"{TOPIC}{topic}")
    feats += [f"s:{s}" for s in scenes]
    if content_type:
        feats.append(f"c:{content_type}")
    if kind:
        feats.append(f"k:{kind}")
    weights = [FEATURE_WEIGHTS[f[:2]] for f in feats]
    norm = math.sqrt(sum(w * w for w in weights)) or 1.0
    return tuple((f, w / norm) for f, w in zip(feats, weights, strict=True))


def rate_features(feats: tuple[tuple[str, float], ...]) -> tuple[str, ...]:
    """The features of an asset whose engagement rate profiles keep (its topic and content type)."""
    return tuple(f for f, _ in feats if f[:2] in RATE_PREFIXES)


def counter_deltas(
    events: list[dict[str, Any]],
    assets: dict[str, dict[str, Any]],
    half_life_days: float,
    topics: dict[str, str] | None = None,
) -> CounterDeltas:
    """Counter increments for newly stored events (summed per counter, so a batch writes each once),
    grouped by (collection, key) in key order.

    Summing a batch first is exact with respect to the decay: each event's increment is fixed by its
    own time (``w · scale(ts) · feature weight``) and never by when it is applied, so the store adds
    the same terms whether they arrive one by one or pre-summed. Per counter the terms are added in
    event order, as a loop over single events would. An asset's features are computed once per call.

    Why grouped and sorted here: the store applies increments in key order (neighbouring upserts share
    B-tree pages); sorting the ~20,000 keys of a 10,000-event batch costs a fraction of sorting its
    ~95,000 increments as flat tuples.

    ``topics``: asset id → discovered topic (``topics.stored``). A delivery adds to the ``e:`` (exposure)
    fields of the asset's topic and content type, a decision or a negative event its ``RATE_WEIGHTS`` to
    their ``g:`` (engagement) fields: the profile's per-topic and per-type engagement rates, kept as
    increments like the rest.
    """
    profile: defaultdict[str, dict[str, float]] = defaultdict(dict)
    stats: defaultdict[str, dict[str, float]] = defaultdict(dict)
    popularity: defaultdict[str, dict[str, float]] = defaultdict(dict)
    features: dict[str, tuple[tuple[str, float], ...]] = {}
    rated: dict[str, tuple[tuple[str, str], ...]] = {}
    topic_of = (topics or {}).get
    weight_of, asset_of = EVENT_WEIGHTS.get, assets.get
    for ev in events:
        etype = ev["type"]
        w = weight_of(etype, 0.0)
        rated_w = RATE_WEIGHTS.get(etype, 0.0)
        asset = asset_of(ev.get("asset_id") or "")
        n_field = _N_FIELDS.get(etype) or f"n:{etype}"
        rev = float(ev["value"]) if etype == "convert" and ev.get("value") else None
        feats = None
        exposure: tuple[tuple[str, str], ...] | None = None
        if asset is not None and (w or etype == "delivered"):
            aid = asset["id"]
            feats = features.get(aid)
            if feats is None:
                feats = features[aid] = asset_features(asset, topic_of(aid))
                rated[aid] = tuple(("g:" + f, "e:" + f) for f in rate_features(feats))
            scale = decay_scale(from_iso(ev["ts"]), half_life_days)
            if not w:  # a delivery: exposure of the asset's topic and type, no interest weight
                exposure, feats = rated[aid], None
            else:
                ws, rws = w * scale, rated_w * scale
                pole, pole_add = ("w:pos" if w > 0 else "w:neg"), abs(w) * scale
        for owner in _owners(ev):
            fields = profile[owner]
            fields[n_field] = fields.get(n_field, 0.0) + 1
            if rev is not None:
                fields["rev"] = fields.get("rev", 0.0) + rev
            if feats is not None:
                for f, fw in feats:
                    fields[f] = fields.get(f, 0.0) + ws * fw
                fields[pole] = fields.get(pole, 0.0) + pole_add
                if rated_w:
                    for g, _ in rated[aid]:
                        fields[g] = fields.get(g, 0.0) + rws
            elif exposure is not None:
                for _, e in exposure:
                    fields[e] = fields.get(e, 0.0) + scale
        if asset is not None:
            aid = asset["id"]
            fields = stats[f"{aid}|{ev['channel']}"]
            fields[n_field] = fields.get(n_field, 0.0) + 1
            if rev is not None:
                fields["rev"] = fields.get("rev", 0.0) + rev
            if w > 0:
                fields = popularity[ev["channel"]]
                fields[aid] = fields.get(aid, 0.0) + ws
    return [
        (collection, key, sums[key])
        for collection, sums in sorted(((ASSET_STATS, stats), (POPULARITY, popularity), (PROFILE, profile)))
        for key in sorted(sums)
    ]


def _owners(ev: dict[str, Any]) -> tuple[str, ...]:
    """The profiles an event counts for: its user's and its group's (``group:<id>``)."""
    user_id, group_id = ev.get("user_id"), ev.get("group_id")
    if group_id:
        return (user_id, GROUP_PREFIX + group_id) if user_id else (GROUP_PREFIX + group_id,)
    return (user_id,) if user_id else ()


def read_decayed(counters: dict[str, float], now: datetime, half_life_days: float) -> dict[str, float]:
    """Profile weights as of ``now``: decayed fields divided by the current scale; counts as they are."""
    inv = 1.0 / current_scale(now, half_life_days)
    return {f: (v * inv if f[:2] in DECAYED_PREFIXES else v) for f, v in counters.items()}
