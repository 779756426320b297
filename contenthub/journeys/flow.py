"""The journey as a flow for the console: the entry, each step in order with the arrows between them, the
share of users who went on from one step to the next (conversion) and the share lost there (drop-off), and
each branch's jump. Pure: built from a journey and its funnel, no store reads."""

from __future__ import annotations

from pydantic import BaseModel

from contenthub.journeys.models import EXIT, Funnel, Journey


class FlowNode(BaseModel):
    step: str
    name: str
    channel: str | None
    entered: int
    sent: int
    converted: int


class FlowEdge(BaseModel):
    source: str
    target: str
    kind: str  # "next" (in order) or "branch"
    reached: int | None = None  # users who entered (or wait for) the target, for "next" edges
    conversion: float | None = None  # reached / entered the source
    drop_off: float | None = None
    condition: object | None = None  # the branch's condition, for "branch" edges


class Flow(BaseModel):
    entered: int
    nodes: list[FlowNode]
    edges: list[FlowEdge]
    first_conversion: float | None  # entered the journey → reached the first step


def build(journey: Journey, funnel: Funnel) -> Flow:
    rows = {r.step: r for r in funnel.steps}
    nodes = []
    for s in journey.steps:
        r = rows.get(s.id)
        nodes.append(
            FlowNode(
                step=s.id,
                name=s.name or s.id,
                channel=s.channel,
                entered=r.entered if r else 0,
                sent=r.sent if r else 0,
                converted=r.converted if r else 0,
            )
        )
    edges: list[FlowEdge] = []
    for i, s in enumerate(journey.steps):
        r = rows.get(s.id)
        if i + 1 < len(journey.steps):
            nxt = rows.get(journey.steps[i + 1].id)
            reached = (nxt.entered + nxt.waiting) if nxt else 0
            entered = r.entered if r else 0
            edges.append(
                FlowEdge(
                    source=s.id,
                    target=journey.steps[i + 1].id,
                    kind="next",
                    reached=reached,
                    conversion=round(min(reached / entered, 1.0), 4) if entered else None,
                    drop_off=r.drop_off if r else None,
                )
            )
        for b in s.branches:
            edges.append(
                FlowEdge(source=s.id, target=b.goto if b.goto != EXIT else EXIT, kind="branch", condition=b.when)
            )
    first = rows.get(journey.steps[0].id) if journey.steps else None
    first_reached = (first.entered + first.waiting) if first else 0
    return Flow(
        entered=funnel.entered,
        nodes=nodes,
        edges=edges,
        first_conversion=round(min(first_reached / funnel.entered, 1.0), 4) if funnel.entered else None,
    )
