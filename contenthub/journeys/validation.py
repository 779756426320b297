"""Whole-definition checks: step graph (targets exist, no cycle that never waits) and vocabulary.

Why a cycle 'that never waits' is the thing to reject: the engine processes zero-wait steps in one
go, so such a cycle would spin for ever inside one scheduler pass (and spam the user). A cycle with
at least one real wait is a legitimate loop ('every Monday until converted').
"""

from __future__ import annotations

from contenthub.errors import InvalidError, unknown_value
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.journeys.models import EXIT, Condition, JourneyIn, Step
from contenthub.library import taxonomy


def successors(steps: list[Step], i: int) -> list[int]:
    """Where a user can go after step ``i``: the next step, and every branch target."""
    index = {s.id: k for k, s in enumerate(steps)}
    out = [i + 1] if i + 1 < len(steps) else []
    out += [index[b.goto] for b in steps[i].branches if b.goto != EXIT and b.goto in index]
    return out


def find_zero_wait_cycle(steps: list[Step]) -> list[str] | None:
    """A cycle through steps whose waits are all zero, as step ids (first repeated at the end), or None."""
    color = [0] * len(steps)  # 0 new, 1 on stack, 2 done
    stack: list[int] = []

    def visit(i: int) -> list[str] | None:
        color[i] = 1
        stack.append(i)
        for j in successors(steps, i):
            if steps[j].wait.waits:
                continue  # entering j takes time: no instant loop through this edge
            if color[j] == 1:
                cyc = stack[stack.index(j) :] + [j]
                return [steps[k].id for k in cyc]
            if color[j] == 0 and (found := visit(j)):
                return found
        stack.pop()
        color[i] = 2
        return None

    for i in range(len(steps)):
        if color[i] == 0 and (found := visit(i)):
            return found
    return None


def check_structure(data: JourneyIn) -> None:
    seen: set[str] = set()
    for i, s in enumerate(data.steps):
        if s.id == EXIT:
            raise InvalidError(
                _("steps.{i}.id: '{EXIT}' is reserved for branches that leave the journey.").format(i=i, EXIT=EXIT),
                field=f"steps.{i}.id",
                value=s.id,
            )
        if s.id in seen:
            raise InvalidError(
                _("steps.{i}.id: step id '{id}' is used twice; step ids must be unique.").format(i=i, id=s.id),
                field=f"steps.{i}.id",
                value=s.id,
            )
        seen.add(s.id)
    for i, s in enumerate(data.steps):
        for k, b in enumerate(s.branches):
            if b.goto != EXIT and b.goto not in seen:
                raise InvalidError(
                    _("steps.{i}.branches.{k}.goto: no step '{goto}'.").format(i=i, k=k, goto=b.goto),
                    field=f"steps.{i}.branches.{k}.goto",
                    value=b.goto,
                    allowed=[*seen, EXIT],
                )
    cycle = find_zero_wait_cycle(data.steps)
    if cycle:
        path = " → ".join(cycle)
        raise InvalidError(
            _(
                "steps: {path} is a cycle that never waits, so a user would loop through it instantly for ever. Give one of these steps a wait (days, hours, minutes or weekday)."
            ).format(path=path),
            field="steps",
            value=cycle,
        )


def _check_condition(hub: Hub, c: Condition, field: str) -> None:
    if c.kind == "stage":
        for st in c.stages:
            if st not in taxonomy.ids(hub.store, "stages"):
                raise unknown_value(f"{field}.stages", st, taxonomy.ids(hub.store, "stages"))


def check_vocabulary(hub: Hub, data: JourneyIn) -> None:
    """Channels, scenes, content types, stages and fixed assets must exist (422 naming the field)."""
    channels = taxonomy.ids(hub.store, "channels")
    scenes = taxonomy.ids(hub.store, "scenes")
    ctypes = taxonomy.ids(hub.store, "content_types")
    stages = taxonomy.ids(hub.store, "stages")
    for i, s in enumerate(data.steps):
        f = f"steps.{i}"
        if s.channel is not None and s.channel not in channels:
            raise unknown_value(f"{f}.channel", s.channel, channels)
        if s.scene is not None and s.scene not in scenes:
            raise unknown_value(f"{f}.scene", s.scene, scenes)
        if s.content_type is not None and s.content_type not in ctypes:
            raise unknown_value(f"{f}.content_type", s.content_type, ctypes)
        if s.asset_id is not None and hub.store.get_asset(s.asset_id) is None:
            raise InvalidError(
                _("{f}.asset_id: no asset '{asset_id}'.").format(f=f, asset_id=s.asset_id),
                field=f"{f}.asset_id",
                value=s.asset_id,
            )
        if s.condition is not None:
            _check_condition(hub, s.condition, f"{f}.condition")
        for k, b in enumerate(s.branches):
            _check_condition(hub, b.when, f"{f}.branches.{k}.when")
    for k, c in enumerate(data.exit):
        _check_condition(hub, c, f"exit.{k}")
    t = data.trigger
    if t.stage is not None and t.stage not in stages:
        raise unknown_value("trigger.stage", t.stage, stages)
    if t.channel is not None and t.channel not in channels:  # source_channel is free text on users: not checked
        raise unknown_value("trigger.channel", t.channel, channels)
    for k, c in enumerate(t.only_if):
        _check_condition(hub, c, f"trigger.only_if.{k}")


ONE_TO_ONE_CHANNELS = frozenset({"wecom_1v1"})
"""Channels that reach one person (a WeCom customer in a private chat)."""
GROUP_CHANNELS = frozenset({"wecom_group"})
"""Channels whose send reaches a whole group: in a 1:1 journey it would reach everyone in the group."""


def check_channels(data: JourneyIn) -> None:
    """A 1:1 journey (a step on a 1:1 channel, or entered when a WeCom customer is added) sends to one
    person at a time; a step on a group channel would post to every member of a group instead — refused,
    naming the step, so a step moved to a group channel is never saved without a word."""
    one_to_one = [s for s in data.steps if s.channel in ONE_TO_ONE_CHANNELS]
    added_on_wecom = data.trigger.kind == "identity_added" and data.trigger.identity_type == "external_userid"
    if not one_to_one and not added_on_wecom:
        return
    for i, s in enumerate(data.steps):
        if s.channel in GROUP_CHANNELS:
            raise InvalidError(
                _(
                    "Step '{step}' sends on a group channel, but this is a 1:1 journey (it talks to each customer "
                    "privately{because}): a group send would reach everyone in the group, not this customer. Pick a "
                    "1:1 channel, or build a separate journey for the group."
                ).format(
                    step=s.name or s.id,
                    because=_(", entered when a WeCom customer is added")
                    if added_on_wecom
                    else _(", as step '{other}' does").format(other=one_to_one[0].name or one_to_one[0].id),
                ),
                field=f"steps.{i}.channel",
                value=s.channel,
            )


def check(hub: Hub, data: JourneyIn) -> None:
    check_structure(data)
    check_vocabulary(hub, data)
    check_channels(data)
