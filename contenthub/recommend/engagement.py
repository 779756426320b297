"""How much each event says about interest, and the decayed counters that make up a profile.

Decay without rewrites: an event at time t adds ``w · 2^((t − EPOCH)/H)``; reading divides by
``2^((now − EPOCH)/H)``. Additions commute, so late and out-of-order events land exactly where their
own time puts them, and a profile update is a pure increment the store applies atomically.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from contenthub.timeutil import from_iso

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

EVENT_WEIGHTS: dict[str, float] = {
    "served": 0.0,
    "delivered": 0.0,
    "open": 1.0,
    "click": 2.0,
    "favorite": 3.0,
    "comment": 3.0,
    "share": 4.0,
    "add_to_cart": 4.0,
    "convert": 6.0,
    "mute": -6.0,
    "unsubscribe": -8.0,
    "delete": -6.0,
}
POSITIVE = frozenset(t for t, w in EVENT_WEIGHTS.items() if w > 0)
NEGATIVE = frozenset(t for t, w in EVENT_WEIGHTS.items() if w < 0)
ENGAGED = POSITIVE  # what counts as activity for lifecycle stages

PROFILE = "profile"
ASSET_STATS = "asset_stats"
POPULARITY = "popularity"


def decay_scale(ts: datetime, half_life_days: float) -> float:
    return 2.0 ** ((ts - EPOCH).total_seconds() / 86400.0 / half_life_days)


def current_scale(now: datetime, half_life_days: float) -> float:
    return decay_scale(now, half_life_days)


# Specific beats generic: a shared free tag (护眼) says more about interest than a shared kind (article).
FEATURE_WEIGHTS = {"t:": 1.0, "s:": 0.6, "c:": 0.4, "k:": 0.2}


def asset_features(asset: dict[str, Any]) -> list[tuple[str, float]]:
    """The profile dimensions an asset contributes to, with their weights, L2-normalised per asset."""
    feats = [f"t:{t}" for t in asset.get("tags") or []]
    feats += [f"s:{s}" for s in asset.get("scenes") or []]
    if asset.get("content_type"):
        feats.append(f"c:{asset['content_type']}")
    if asset.get("kind"):
        feats.append(f"k:{asset['kind']}")
    weights = [FEATURE_WEIGHTS[f[:2]] for f in feats]
    norm = math.sqrt(sum(w * w for w in weights)) or 1.0
    return [(f, w / norm) for f, w in zip(feats, weights, strict=True)]


def counter_deltas(
    events: list[dict[str, Any]], assets: dict[str, dict[str, Any]], half_life_days: float
) -> list[tuple[str, str, str, float]]:
    """Counter increments for newly stored events (summed per counter, so a batch writes each once).

    Summing a batch first is exact with respect to the decay: each event's increment is fixed by its
    own time (``w · scale(ts) · feature weight``) and never by when it is applied, so the store adds
    the same terms whether they arrive one by one or pre-summed. Per counter the terms are added in
    event order, as a loop over single events would. An asset's features are computed once per call.
    """
    acc: dict[tuple[str, str, str], float] = defaultdict(float)
    features: dict[str, list[tuple[str, float]]] = {}
    for ev in events:
        etype = ev["type"]
        w = EVENT_WEIGHTS.get(etype, 0.0)
        asset = assets.get(ev.get("asset_id") or "")
        n_field = f"n:{etype}"
        rev = float(ev["value"]) if etype == "convert" and ev.get("value") else None
        weighted = bool(w) and asset is not None
        if w:
            scale = decay_scale(from_iso(ev["ts"]), half_life_days)
            ws = w * scale
        if weighted:
            aid = asset["id"]
            feats = features.get(aid)
            if feats is None:
                feats = features[aid] = asset_features(asset)
            pole = "w:pos" if w > 0 else "w:neg"
            pole_add = abs(w) * scale
        owners = []
        if ev.get("user_id"):
            owners.append(ev["user_id"])
        if ev.get("group_id"):
            owners.append(f"group:{ev['group_id']}")
        for owner in owners:
            acc[(PROFILE, owner, n_field)] += 1
            if rev is not None:
                acc[(PROFILE, owner, "rev")] += rev
            if weighted:
                for f, fw in feats:
                    acc[(PROFILE, owner, f)] += ws * fw
                acc[(PROFILE, owner, pole)] += pole_add
        if asset is not None:
            aid = asset["id"]
            for key in (f"{aid}|{ev['channel']}", f"{aid}|*"):
                acc[(ASSET_STATS, key, n_field)] += 1
                if rev is not None:
                    acc[(ASSET_STATS, key, "rev")] += rev
            if w > 0:
                for key in (ev["channel"], "*"):
                    acc[(POPULARITY, key, aid)] += ws
    return [(c, k, f, v) for (c, k, f), v in acc.items()]


def read_decayed(counters: dict[str, float], now: datetime, half_life_days: float) -> dict[str, float]:
    """Profile weights as of ``now``: decayed fields divided by the current scale; counts as they are."""
    inv = 1.0 / current_scale(now, half_life_days)
    return {f: (v * inv if f[:2] in ("t:", "s:", "c:", "k:", "w:") else v) for f, v in counters.items()}
