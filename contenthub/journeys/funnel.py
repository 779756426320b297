"""Per-step funnel from additive counters: entered, sent, opened, clicked, converted, exited, drop-off.

Why counters and not a query over states or events: a funnel over a million users must read in
milliseconds on both backends, and the engine and the event hook already know the moment each thing
happens. Counters are keyed per journey version (``{journey}@{version}``) with fields
``{step}:{metric}``; journey-level totals use the step ``_``. Reading sums the versions asked for.
Sent/opened/clicked/converted count users (once per send), not events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from contenthub.hub import Hub
from contenthub.journeys import service
from contenthub.journeys.models import Funnel, StepFunnel
from contenthub.journeys.waits import describe

FUNNEL = "journey_funnel"
JOURNEY = "_"
STEP_METRICS = (
    "waiting",
    "entered",
    "queued",
    "sent",
    "opened",
    "clicked",
    "converted",
    "exited",
    "skipped",
    "branched",
    "expired",
    "capped",
    "unconfirmed",
    "no_asset",
)


def key(journey_id: str, version: int) -> str:
    return f"{journey_id}@{version}"


def bump(hub: Hub, counts: Iterable[tuple[str, str]] | Counter[tuple[str, str]]) -> None:
    """Add 1 per (counter key, field) — or the Counter's value — in one store call."""
    c = counts if isinstance(counts, Counter) else Counter(counts)
    if c:
        hub.store.add_to_counters(FUNNEL, [(k, f, float(v)) for (k, f), v in c.items()])


def _read(hub: Hub, journey_id: str, versions: list[int]) -> dict[str, float]:
    total: dict[str, float] = {}
    for v in versions:
        for f, x in hub.store.get_counters(FUNNEL, key(journey_id, v)).items():
            total[f] = total.get(f, 0.0) + x
    return total


def totals(hub: Hub, journey_id: str, head_version: int) -> dict[str, int]:
    c = _read(hub, journey_id, list(range(1, head_version + 1)))
    entered = int(c.get(f"{JOURNEY}:entered", 0))
    completed = int(c.get(f"{JOURNEY}:completed", 0))
    exited = int(c.get(f"{JOURNEY}:exited", 0))
    return {
        "entered": entered,
        "completed": completed,
        "exited": exited,
        "active": max(entered - completed - exited, 0),
    }


def build(hub: Hub, journey_id: str, version: int | None = None) -> Funnel:
    """The funnel of one version, or of all versions summed (steps as the newest version lists them,
    then steps that only older versions had)."""
    head = service.get(hub, journey_id)
    versions = [version] if version else list(range(1, head.version + 1))
    shape = service.get(hub, journey_id, version) if version else head
    c = _read(hub, journey_id, versions)
    steps = list(shape.steps)
    if version is None:
        known = {s.id for s in steps}
        for v in range(head.version - 1, 0, -1):
            for s in service.definition(hub, journey_id, v).steps:
                if s.id not in known:
                    steps.append(s)
                    known.add(s.id)
    rows = []
    for i, s in enumerate(steps):

        def n(metric: str, sid: str = s.id) -> int:
            return int(c.get(f"{sid}:{metric}", 0))

        entered = n("entered")
        nxt = n("entered", steps[i + 1].id) + n("waiting", steps[i + 1].id) if i + 1 < len(steps) else None
        drop = None if nxt is None or entered == 0 else round(max(entered - nxt, 0) / entered, 4)
        rows.append(
            StepFunnel(
                step=s.id,
                name=s.name,
                channel=s.channel,
                scene=s.scene,
                wait=describe(s.wait),
                waiting=n("waiting"),
                entered=entered,
                sent=n("sent"),
                opened=n("opened"),
                clicked=n("clicked"),
                converted=n("converted"),
                exited=n("exited"),
                skipped=n("skipped"),
                branched=n("branched"),
                expired=n("expired") + n("capped") + n("unconfirmed"),
                no_asset=n("no_asset"),
                drop_off=drop,
            )
        )
    t = {m: int(c.get(f"{JOURNEY}:{m}", 0)) for m in ("entered", "completed", "exited")}
    return Funnel(
        journey=journey_id,
        versions=versions,
        entered=t["entered"],
        completed=t["completed"],
        exited=t["exited"],
        active=max(t["entered"] - t["completed"] - t["exited"], 0),
        steps=rows,
    )
