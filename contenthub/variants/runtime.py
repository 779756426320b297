"""What the recommender, the planner and journeys ask of experiments while serving: 'is this unit in a
running experiment that changes what I do, and which variant?' — plus exposure logging once per unit.

It sits on the hot path of every next-content request, so running experiments are read from the store
at most every ``CACHE_TTL`` seconds (or right after this process started/stopped one) and indexed by
what they change; a request that no experiment touches costs a couple of dict look-ups.

Four change kinds, one question each:

==========  ==========================================  =====================================================
change      asked by                                    answer
==========  ==========================================  =====================================================
strategy    recommender, per request                    :func:`strategy_override` → ranking strategy to use
cadence     planner, per audience ('group:g1')          :func:`cadence_override` → cadence rule set, or None
asset       recommender, per pick                       :func:`asset_substitution` → asset id to serve instead
journey     journeys, when a user enters one            :func:`journey_variant` → journey id to run instead
==========  ==========================================  =====================================================

Exposure means "the experiment decided something that was actually served" — for *every* arm,
control included, or the arms would not be comparable. Callers that get an :class:`Override` log it
with :func:`log_exposure` once they served something; :func:`asset_substitution` logs by itself
because it returns only an asset id. The first exposure time is what metrics count from.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contenthub.errors import ConflictError
from contenthub.hub import Hub
from contenthub.timeutil import to_iso, utcnow
from contenthub.variants.assignment import assign_variant, in_layer_range, layer_bucket

EXPERIMENTS = "experiments"
EXPOSURES = "exposures"
CACHE_TTL = 5.0
ASSIGNMENT_CACHE = 200_000
"""(experiment, unit) assignments memoised per process; hashing is cheap, but not free in Python."""
SEEN_LIMIT = 1_000_000
"""Exposure keys remembered in memory; past this the set starts afresh (the store still dedupes)."""


@dataclass(frozen=True)
class Override:
    """One unit's variant of one running experiment, and what that variant changes."""

    experiment: str
    variant: str
    variant_index: int
    strategy: str
    unit_kind: str
    unit_id: str = ""
    change: str = "strategy"
    rules: tuple[dict[str, Any], ...] | None = None
    """Cadence rule set of the variant; ``None`` means 'keep the planner's own rules' (control)."""
    journey: str | None = None

    @property
    def label(self) -> str:
        return f"{self.experiment}:{self.variant}"


@dataclass
class _Index:
    loaded_at: float
    docs: list[dict[str, Any]]
    by_change: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    assets: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    journeys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _build_index(docs: list[dict[str, Any]]) -> _Index:
    # Oldest first so every replica resolves two experiments on the same unit the same way.
    docs = sorted(docs, key=lambda d: (d.get("started_at") or "", d.get("key", "")))
    idx = _Index(loaded_at=time.monotonic(), docs=docs)
    by_change: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    assets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    journeys: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for exp in docs:
        exp["_assignment"] = _assignment_params(exp)  # precomputed once per cache refresh
        change = exp.get("change", "strategy")
        by_change[(change, exp.get("unit", "user"))].append(exp)
        if change == "asset":
            domain = {a for v in exp["variants"] for a in (v.get("substitutions") or {})}
            for asset_id in domain:
                assets[(exp.get("unit", "user"), asset_id)].append(exp)
        elif change == "journey":
            for journey_id in {j for v in exp["variants"] for j in (v.get("journeys") or {})}:
                journeys[journey_id].append(exp)
    idx.by_change, idx.assets, idx.journeys = dict(by_change), dict(assets), dict(journeys)
    return idx


def _index(hub: Hub) -> _Index:
    idx: _Index | None = hub.cache.get("experiments_index")
    if idx is None or time.monotonic() - idx.loaded_at > CACHE_TTL or hub.cache.get("experiments_dirty"):
        hub.cache["experiments_dirty"] = False
        idx = _build_index(hub.store.list_docs(EXPERIMENTS, where={"status": "running"}, limit=10000))
        hub.cache["experiments_index"] = idx
    return idx


def invalidate(hub: Hub) -> None:
    """Call after starting, stopping or editing an experiment: this process re-reads at once
    (other processes within ``CACHE_TTL`` seconds)."""
    hub.cache["experiments_dirty"] = True


def running(hub: Hub) -> list[dict[str, Any]]:
    """Every running experiment, oldest start first (cached)."""
    return _index(hub).docs


@functools.lru_cache(maxsize=ASSIGNMENT_CACHE)
def _assign(
    seed: str, layer: str | None, start: float, end: float, weights: tuple[float, ...], coverage: float, unit_id: str
) -> int | None:
    if layer and not in_layer_range(layer_bucket(layer, unit_id), start, end):
        return None
    return assign_variant(seed, unit_id, list(weights), coverage=coverage)


def assignment(exp: dict[str, Any], unit_id: str) -> int | None:
    """Variant index of ``unit_id`` in ``exp``, or None when the unit is outside its layer range or coverage.

    Memoised on everything that decides it (seed, layer range, weights, coverage), so a bot asking
    for the same user all day hashes once, and an edit of any of these can never serve a stale answer.
    """
    params = exp.get("_assignment") or _assignment_params(exp)
    return _assign(*params, unit_id)


def _assignment_params(exp: dict[str, Any]) -> tuple[Any, ...]:
    return (
        exp["seed"],
        exp.get("layer"),
        exp.get("layer_start", 0.0),
        exp.get("layer_end", 1.0),
        tuple(v["weight"] for v in exp["variants"]),
        exp.get("coverage", 1.0),
    )


def _override(exp: dict[str, Any], i: int, unit_kind: str, unit_id: str, requested: str = "") -> Override:
    v = exp["variants"][i]
    rules = v.get("rules")
    return Override(
        experiment=exp["key"],
        variant=v["name"],
        variant_index=i,
        strategy=v.get("strategy") or requested,
        unit_kind=unit_kind,
        unit_id=unit_id,
        change=exp.get("change", "strategy"),
        rules=tuple(rules) if rules else None,
    )


def _first(hub: Hub, change: str, unit_kind: str, unit_id: str, requested: str = "") -> Override | None:
    for exp in _index(hub).by_change.get((change, unit_kind), ()):
        i = assignment(exp, unit_id)
        if i is not None:
            return _override(exp, i, unit_kind, unit_id, requested)
    return None


def strategy_override(hub: Hub, unit_kind: str, unit_id: str, *, requested: str) -> Override | None:
    """The first running ranking experiment on this unit kind that assigns the unit a variant.

    ``Override.strategy`` is the variant's strategy, or ``requested`` for a variant that keeps it.
    """
    return _first(hub, "strategy", unit_kind, unit_id, requested)


def cadence_override(hub: Hub, audience_key: str) -> Override | None:
    """For the planner: the cadence variant of the audience ``'group:g1'`` (or ``'user:u1'``).

    ``Override.rules`` is the variant's rule set (cadence rules as dicts, to validate with
    ``publish.rules.CadenceRule``; their ``audience`` is the asking audience) or ``None`` for a
    variant that keeps the planner's own rules. 'all' and segments are not randomisation units, so
    they never get an override. Log the exposure (``log_exposure(hub, ov, ov.unit_id, now)``) when
    the plan for this audience holds at least one slot.
    """
    kind, _, unit_id = audience_key.partition(":")
    if kind not in ("group", "user") or not unit_id:
        return None
    return _first(hub, "cadence", kind, unit_id)


def asset_override(hub: Hub, unit_kind: str, unit_id: str, asset_id: str) -> tuple[Override, str] | None:
    exps = _index(hub).assets.get((unit_kind, asset_id))
    if not exps:
        return None
    for exp in exps:
        i = assignment(exp, unit_id)
        if i is not None:
            substitute = (exp["variants"][i].get("substitutions") or {}).get(asset_id, asset_id)
            return _override(exp, i, unit_kind, unit_id), substitute
    return None


def asset_substitution(hub: Hub, unit_kind: str, unit_id: str, asset_id: str, *, now: datetime | None = None) -> str:
    """The asset to serve in place of the picked ``asset_id`` (itself when no experiment swaps it).

    Logs the exposure — for control too, which serves the original — because the pick is exactly
    where the arms differ. Call it only for picks that are actually returned.
    """
    found = asset_override(hub, unit_kind, unit_id, asset_id)
    if found is None:
        return asset_id
    ov, substitute = found
    log_exposure(hub, ov, unit_id, now or utcnow())
    return substitute


def journey_variant(hub: Hub, user_id: str, journey_id: str) -> Override | None:
    """For journeys: the variant of a user about to enter ``journey_id``; ``Override.journey`` is the
    journey to run instead (``journey_id`` itself for control). Log the exposure on enrolment."""
    for exp in _index(hub).journeys.get(journey_id, ()):
        if exp.get("unit", "user") != "user":
            continue
        i = assignment(exp, user_id)
        if i is not None:
            ov = _override(exp, i, "user", user_id)
            target = (exp["variants"][i].get("journeys") or {}).get(journey_id, journey_id)
            return Override(**{**ov.__dict__, "journey": target})
    return None


def _record_other_variant(hub: Hub, key: str, variant: str) -> None:
    """A unit seen in a second variant (weights changed mid-run, merged identities): keep the first
    exposure, remember the other variant so the report can flag and exclude the unit."""
    for _ in range(3):
        found = hub.store.get_doc_version(EXPOSURES, key)
        if found is None:
            return
        doc, version = found
        seen = list(doc.get("variants") or [doc["variant"]])
        if variant in seen:
            return
        try:
            hub.store.put_doc(EXPOSURES, key, {**doc, "variants": [*seen, variant]}, expected_version=version)
            return
        except ConflictError:
            continue


def log_exposure(hub: Hub, ov: Override, unit_id: str, now: datetime) -> None:
    """Once per unit and experiment: the first exposure time is what metrics count from."""
    key = f"{ov.experiment}|{unit_id}"
    seen: dict[str, str] = hub.cache.setdefault("exposures_seen", {})
    previous = seen.get(key)
    if previous == ov.variant:
        return
    if previous is not None:
        _record_other_variant(hub, key, ov.variant)
    else:
        try:
            hub.store.put_doc(
                EXPOSURES,
                key,
                {
                    "experiment": ov.experiment,
                    "unit_id": unit_id,
                    "unit": ov.unit_kind,
                    "variant": ov.variant,
                    "variant_index": ov.variant_index,
                    "first_exposed_at": to_iso(now),
                },
                expected_version=0,
            )
        except ConflictError:
            # Already exposed (another process, or before a restart): the first time stands.
            doc = hub.store.get_doc(EXPOSURES, key)
            if doc is not None and doc.get("variant") != ov.variant:
                _record_other_variant(hub, key, ov.variant)
    if len(seen) >= SEEN_LIMIT:
        seen.clear()
    seen[key] = ov.variant
