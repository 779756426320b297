"""What the recommender and planner ask of experiments while serving: 'is this unit in a running
experiment that changes what I do, and which variant?' — plus exposure logging once per unit.

Kept tiny and cached: it sits on the hot path of every next-content request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contenthub.experiments.assignment import assign_variant, in_layer_range, layer_bucket
from contenthub.errors import ConflictError
from contenthub.hub import Hub
from contenthub.timeutil import to_iso

EXPERIMENTS = "experiments"
EXPOSURES = "exposures"
CACHE_TTL = 5.0


@dataclass(frozen=True)
class Override:
    experiment: str
    variant: str
    variant_index: int
    strategy: str
    unit_kind: str

    @property
    def label(self) -> str:
        return f"{self.experiment}:{self.variant}"


def running(hub: Hub) -> list[dict[str, Any]]:
    cached = hub.cache.get("running_experiments")
    if cached is None or time.monotonic() - cached[0] > CACHE_TTL or hub.cache.get("experiments_dirty"):
        docs = hub.store.list_docs(EXPERIMENTS, where={"status": "running"})
        cached = (time.monotonic(), docs)
        hub.cache["running_experiments"] = cached
        hub.cache["experiments_dirty"] = False
    return cached[1]


def assignment(exp: dict[str, Any], unit_id: str) -> int | None:
    layer = exp.get("layer")
    if layer:
        b = layer_bucket(layer, unit_id)
        if not in_layer_range(b, exp.get("layer_start", 0.0), exp.get("layer_end", 1.0)):
            return None
    weights = [v["weight"] for v in exp["variants"]]
    return assign_variant(exp["seed"], unit_id, weights, coverage=exp.get("coverage", 1.0))


def strategy_override(hub: Hub, unit_kind: str, unit_id: str, *, requested: str) -> Override | None:
    """The first running ranking experiment on this unit kind that assigns the unit a variant."""
    for exp in running(hub):
        if exp.get("unit") != unit_kind or exp.get("change") != "strategy":
            continue
        i = assignment(exp, unit_id)
        if i is None:
            continue
        v = exp["variants"][i]
        return Override(experiment=exp["key"], variant=v["name"], variant_index=i,
                        strategy=v.get("strategy") or requested, unit_kind=unit_kind)
    return None


def log_exposure(hub: Hub, ov: Override, unit_id: str, now: datetime) -> None:
    """Once per unit and experiment: the first exposure time is what metrics count from."""
    key = f"{ov.experiment}|{unit_id}"
    seen: set[str] = hub.cache.setdefault("exposures_seen", set())
    if key in seen:
        return
    try:
        hub.store.put_doc(EXPOSURES, key, {
            "experiment": ov.experiment, "unit_id": unit_id, "unit": ov.unit_kind, "variant": ov.variant,
            "variant_index": ov.variant_index, "first_exposed_at": to_iso(now),
        }, expected_version=0)
    except ConflictError:
        pass  # already exposed (another process, or before a restart): the first time stands
    seen.add(key)
