"""Experiment lifecycle: create, edit, start, stop, delete — and the rules that keep results honest.

draft → running → stopped. Once an experiment has run, what decides a unit's variant (unit, change,
variants and weights, seed, layer range) is frozen: changing it would move units between arms
mid-flight and mix their data. Starting checks that no running experiment owns an overlapping slice
of the same layer, so experiments that share a layer never see the same unit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from contenthub.errors import ConflictError, InvalidError, NotFoundError
from contenthub.experiments.metrics import METRICS
from contenthub.experiments.models import (
    ANALYSIS_PLAN,
    LIVE_EDITABLE,
    PLAN_INPUTS,
    Experiment,
    ExperimentCreate,
    ExperimentUpdate,
    Exposure,
)
from contenthub.experiments.stats.planning import SamplePlan, plan_sample
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.recommend.strategies import get_strategy
from contenthub.timeutil import to_iso, utcnow
from contenthub.variants import runtime

COLLECTION = runtime.EXPERIMENTS
EXPOSURES = runtime.EXPOSURES


def _check_references(hub: Hub, exp: ExperimentCreate) -> None:
    """Payloads must name things that exist, or the experiment would fail at serving time."""
    for i, v in enumerate(exp.variants):
        if v.strategy is not None:
            try:
                get_strategy(hub, v.strategy)
            except InvalidError as err:
                raise InvalidError(
                    err.message, field=f"variants[{i}].strategy", value=v.strategy, allowed=err.allowed
                ) from None
        if v.substitutions:
            ids = sorted({*v.substitutions, *v.substitutions.values()})
            found = hub.store.get_assets(ids)
            missing = [a for a in ids if a not in found]
            if missing:
                raise InvalidError(
                    _("variants[{i}].substitutions: no asset {items}.").format(
                        i=i, items=", ".join(repr(m) for m in missing)
                    ),
                    field=f"variants[{i}].substitutions",
                    value=missing,
                )


def plan_for(exp: ExperimentCreate) -> SamplePlan | None:
    """The sample plan of an experiment from its own planning inputs; ``None`` without a baseline.
    Raises InvalidError naming the field when the inputs cannot make a plan."""
    if exp.baseline is None:
        return None
    metric = METRICS[exp.primary_metric]
    sd = None if metric.kind == "binomial" else exp.baseline_sd
    if metric.kind != "binomial" and sd is None:
        raise InvalidError(
            _(
                "baseline_sd: planning a {kind} metric ({en}) needs its per-unit standard deviation; give baseline_sd, or planned_units directly."
            ).format(kind=metric.kind, en=metric.en),
            field="baseline_sd",
        )
    try:
        return plan_sample(
            exp.baseline,
            exp.mde,
            alpha=exp.alpha,
            power=exp.power,
            weights=[v.weight for v in exp.variants if v.weight > 0] or [1.0],
            sd=sd,
            sequential=exp.sequential,
            units_per_day=exp.units_per_day,
        )
    except ValueError as err:
        field = str(err).split(" ", 1)[0].rstrip(":")
        known = {"baseline", "mde", "power", "alpha", "units_per_day"}
        raise InvalidError(str(err), field=field if field in known else None) from None


def _with_plan(exp: Experiment) -> Experiment:
    """Fill ``planned_units`` from the plan when the analyst gave a baseline but no sample size."""
    plan = plan_for(exp)
    return exp if plan is None else exp.model_copy(update={"planned_units": plan.total_units})


def get_experiment(hub: Hub, key: str) -> Experiment:
    doc = hub.store.get_doc(COLLECTION, key)
    if doc is None:
        raise NotFoundError(_("No experiment '{key}'.").format(key=key), field="key", value=key)
    return Experiment.model_validate(doc)


def list_experiments(hub: Hub, status: str | None = None) -> list[Experiment]:
    where = {"status": status} if status else None
    docs = hub.store.list_docs(COLLECTION, where=where, limit=10000)
    exps = [Experiment.model_validate(d) for d in docs]
    return sorted(exps, key=lambda e: e.created_at, reverse=True)


def create_experiment(hub: Hub, data: ExperimentCreate, actor: str = "") -> Experiment:
    _check_references(hub, data)
    now = to_iso(utcnow())
    exp = Experiment.model_validate(
        {
            **data.model_dump(),
            "seed": data.seed or data.key,
            "status": "draft",
            "created_at": now,
            "updated_at": now,
            "created_by": actor,
        }
    )
    if data.planned_units is None:
        exp = _with_plan(exp)
    else:
        plan_for(exp)  # the planning inputs must still make sense when given
    try:
        hub.store.put_doc(COLLECTION, exp.key, exp.store_doc(), expected_version=0)
    except ConflictError:
        raise ConflictError(
            _("Experiment '{key}' already exists; pick another key.").format(key=exp.key), field="key", value=exp.key
        ) from None
    return exp


def _save(hub: Hub, exp: Experiment, version: int) -> Experiment:
    try:
        hub.store.put_doc(COLLECTION, exp.key, exp.store_doc(), expected_version=version)
    except ConflictError:
        raise ConflictError(
            _("Experiment '{key}' was changed by someone else meanwhile; reload and retry.").format(key=exp.key),
            field="key",
            value=exp.key,
        ) from None
    runtime.invalidate(hub)
    return exp


def _load(hub: Hub, key: str) -> tuple[Experiment, int]:
    found = hub.store.get_doc_version(COLLECTION, key)
    if found is None:
        raise NotFoundError(_("No experiment '{key}'.").format(key=key), field="key", value=key)
    doc, version = found
    return Experiment.model_validate(doc), version


def update_experiment(hub: Hub, key: str, patch: ExperimentUpdate) -> Experiment:
    exp, version = _load(hub, key)
    changes = patch.model_dump(exclude_unset=True)
    if exp.status != "draft":
        locked = sorted(set(changes) - LIVE_EDITABLE)
        plan = sorted(set(locked) & ANALYSIS_PLAN)
        if plan:
            raise ConflictError(
                _(
                    "Experiment '{key}' is {status}: the analysis plan ({plan}) was fixed when it started; choosing it after seeing data would let the data choose its own test. The report's exploratory 'what if' view shows other analyses without changing the plan; or create a new experiment."
                ).format(key=key, status=exp.status, plan=", ".join(plan)),
                field=plan[0],
                allowed=sorted(LIVE_EDITABLE),
            )
        if locked:
            raise ConflictError(
                _(
                    "Experiment '{key}' is {status}: {locked} can no longer change (units would move between variants). Create a new experiment instead."
                ).format(key=key, status=exp.status, locked=", ".join(locked)),
                field=locked[0],
                allowed=sorted(LIVE_EDITABLE),
            )
        if "coverage" in changes and changes["coverage"] < exp.coverage:
            raise ConflictError(
                _(
                    "Experiment '{key}' is {status}: coverage may only grow (from {coverage:g}); lowering it would drop units that were already exposed."
                ).format(key=key, status=exp.status, coverage=exp.coverage),
                field="coverage",
                value=changes["coverage"],
            )
    merged: dict[str, Any] = {**exp.model_dump(), **changes, "updated_at": to_iso(utcnow())}
    try:
        updated = Experiment.model_validate(merged)
    except ValidationError as err:
        first = err.errors()[0]
        raise InvalidError(
            str(first.get("msg", "invalid experiment")).removeprefix("Value error, "),
            field=".".join(str(x) for x in first.get("loc", ())) or None,
        ) from None
    _check_references(hub, updated)
    if "planned_units" not in changes and set(changes) & PLAN_INPUTS and updated.baseline is not None:
        updated = _with_plan(updated)
    elif updated.baseline is not None:
        plan_for(updated)
    return _save(hub, updated, version)


def _overlap(a: Experiment, b: Experiment) -> bool:
    return a.layer is not None and a.layer == b.layer and a.layer_start < b.layer_end and b.layer_start < a.layer_end


def start_experiment(hub: Hub, key: str, now: datetime | None = None) -> Experiment:
    exp, version = _load(hub, key)
    if exp.status != "draft":
        raise ConflictError(
            _(
                "Experiment '{key}' is {status}; only a draft can start. Copy it under a new key to run it again."
            ).format(key=key, status=exp.status),
            field="status",
            value=exp.status,
        )
    for other in list_experiments(hub, status="running"):
        if other.key != key and _overlap(exp, other):
            raise ConflictError(
                _(
                    "Experiment '{key}' is running in layer '{layer}' on [{layer_start:g}, {layer_end:g}), which overlaps [{layer_start2:g}, {layer_end2:g}). Stop '{key}' or pick a range that does not overlap."
                ).format(
                    key=other.key,
                    layer=exp.layer,
                    layer_start=other.layer_start,
                    layer_end=other.layer_end,
                    layer_start2=exp.layer_start,
                    layer_end2=exp.layer_end,
                ),
                field="layer",
                value=exp.layer,
                extra={"experiment": other.key},
            )
    stamp = to_iso(now or utcnow())
    return _save(hub, exp.model_copy(update={"status": "running", "started_at": stamp, "updated_at": stamp}), version)


def stop_experiment(hub: Hub, key: str, now: datetime | None = None) -> Experiment:
    exp, version = _load(hub, key)
    if exp.status != "running":
        raise ConflictError(
            _("Experiment '{key}' is {status}; only a running experiment can stop.").format(key=key, status=exp.status),
            field="status",
            value=exp.status,
        )
    stamp = to_iso(now or utcnow())
    return _save(hub, exp.model_copy(update={"status": "stopped", "stopped_at": stamp, "updated_at": stamp}), version)


def delete_experiment(hub: Hub, key: str) -> int:
    """Delete a draft or stopped experiment and its exposures; returns how many exposures went."""
    exp, _version = _load(hub, key)
    if exp.status == "running":
        raise ConflictError(
            _("Experiment '{key}' is running; stop it before deleting.").format(key=key),
            field="status",
            value=exp.status,
        )
    removed = 0
    while True:
        batch = hub.store.list_docs(EXPOSURES, where={"experiment": key}, limit=1000)
        gone = sum(hub.store.delete_doc(EXPOSURES, f"{key}|{doc['unit_id']}") for doc in batch)
        removed += gone
        if not gone:  # nothing left, or docs not keyed the runtime's way: never loop forever
            break
    hub.store.delete_doc(COLLECTION, key)
    runtime.invalidate(hub)
    return removed


def exposure_count(hub: Hub, key: str) -> int:
    return hub.store.count_docs(EXPOSURES, where={"experiment": key})


def iter_exposures(hub: Hub, key: str, page: int = 5000) -> list[Exposure]:
    """Every exposure of one experiment (paged reads; the order is the store's)."""
    out: list[Exposure] = []
    offset = 0
    while True:
        docs = hub.store.list_docs(EXPOSURES, where={"experiment": key}, limit=page, offset=offset)
        out.extend(Exposure.model_validate(d) for d in docs)
        if len(docs) < page:
            return out
        offset += page
