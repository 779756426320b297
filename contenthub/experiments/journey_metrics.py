"""What a journey experiment's units did inside the journey their variant ran: completion (a per-unit
fact the report compares like any 0/1 metric) and the step funnel per variant (share of units that
reached each step). Read from the journey engine's per-user states, which record the variant label
(``experiment:variant``) that put the user there.

Variants may run different journeys with different steps, so the funnels are shown side by side per
variant, not tested step by step; completion is the comparable outcome.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from contenthub.errors import NotFoundError
from contenthub.experiments.metrics import AnalysisUnits, UnitFact
from contenthub.experiments.models import Experiment
from contenthub.hub import Hub
from contenthub.journeys import service as journeys
from contenthub.journeys.engine import STATES, state_key

STATE_PAGE = 2000


class StepReach(BaseModel):
    step: str
    name: str
    reached: int
    share: float = Field(description="Of the variant's analysed units.")


class VariantFunnel(BaseModel):
    variant: str
    journey: str | None = Field(description="The journey most of the variant's units ran.")
    units: int
    entered: int = Field(description="Units with a journey state from this experiment.")
    completed: int
    steps: list[StepReach]


def _journeys(exp: Experiment) -> list[str]:
    """Every journey a unit of this experiment can run: the entered ones and their replacements."""
    out: set[str] = set()
    for v in exp.variants:
        out.update(v.journeys)
        out.update(v.journeys.values())
    return sorted(out)


def unit_states(hub: Hub, exp: Experiment, units: AnalysisUnits) -> dict[str, dict[str, Any]]:
    """Unit id → its journey state from this experiment (the one labelled with the unit's variant)."""
    label = {i: f"{exp.key}:{v.name}" for i, v in enumerate(exp.variants)}
    ids = list(units.units)
    candidates = _journeys(exp)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), STATE_PAGE):
        chunk = ids[start : start + STATE_PAGE]
        keys = [state_key(j, u) for u in chunk for j in candidates]
        docs = hub.store.get_docs(STATES, keys) if keys else {}
        for doc in docs.values():
            uid = doc.get("user_id")
            if uid in units.units and doc.get("variant") == label[units.units[uid][0]]:
                found[uid] = doc
    return found


def _done_at(state: dict[str, Any]) -> str | None:
    if state.get("status") != "done":
        return None
    ends = [h["at"] for h in state.get("history") or [] if h.get("outcome") == "done"]
    return ends[-1] if ends else state.get("updated_at")


def journey_facts(states: dict[str, dict[str, Any]]) -> list[UnitFact]:
    """A ``journey_done`` fact at the moment each unit finished its journey."""
    return [
        UnitFact(unit_id=u, counter="journey_done", ts=at) for u, s in states.items() if (at := _done_at(s)) is not None
    ]


def _reached_index(state: dict[str, Any], step_ids: list[str]) -> int:
    """How far into the journey the unit got: the furthest step it is at or has passed (all when done)."""
    if state.get("status") == "done":
        return len(step_ids) - 1
    seen = [state.get("step")] + [h.get("step") for h in state.get("history") or []]
    return max((step_ids.index(s) for s in seen if s in step_ids), default=-1)


def funnels(hub: Hub, exp: Experiment, units: AnalysisUnits, states: dict[str, dict[str, Any]]) -> list[VariantFunnel]:
    """The step funnel of each variant's journey."""
    out = []
    for i, variant in enumerate(exp.variants):
        members = [u for u, (v, _) in units.units.items() if v == i]
        mine = [states[u] for u in members if u in states]
        runs = Counter((s["journey"], int(s.get("version", 1))) for s in mine)
        if not runs:
            out.append(
                VariantFunnel(variant=variant.name, journey=None, units=len(members), entered=0, completed=0, steps=[])
            )
            continue
        (jid, version), _ = runs.most_common(1)[0]
        try:
            steps = journeys.definition(hub, jid, version).steps
        except NotFoundError:
            steps = []
        step_ids = [s.id for s in steps]
        reach = Counter(_reached_index(s, step_ids) for s in mine if s["journey"] == jid)
        rows = []
        for k, step in enumerate(steps):
            reached = sum(n for idx, n in reach.items() if idx >= k)
            rows.append(
                StepReach(
                    step=step.id, name=step.name, reached=reached, share=reached / len(members) if members else 0.0
                )
            )
        out.append(
            VariantFunnel(
                variant=variant.name,
                journey=jid,
                units=len(members),
                entered=len(mine),
                completed=sum(1 for s in mine if s.get("status") == "done"),
                steps=rows,
            )
        )
    return out
