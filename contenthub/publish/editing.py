"""Editors steer a stored plan: lock, move, swap the asset, add, delete, change status, publish.

Every change is checked against the same hard rules the planner obeys (`check_slot_move`), so a calendar
edited by hand stays inside the platform caps; a change that would break one is refused with 409 naming
the cap. Each accepted change is written as the next plan version (see service.save_plan).
Publishing records a `delivered` event per audience member through the recommender's ingestion, with
ids derived from slot id + user id: publishing the same slot again stores nothing new.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contenthub.audience import caps, reservations
from contenthub.errors import ConflictError, InvalidError
from contenthub.hub import Hub
from contenthub.i18n import N_, _, current_language, fixed_parts
from contenthub.labels import label, rule_text
from contenthub.library import taxonomy
from contenthub.localtime import format_local, zone_label
from contenthub.occasions import raises_cadence
from contenthub.publish import audiences as audience_lookup
from contenthub.publish import service
from contenthub.publish.export import to_csv, to_ics
from contenthub.publish.picking import AUDIENCE_CACHE
from contenthub.publish.planner import (
    AlreadySent,
    Violation,
    check_slot_move,
    resolve_rule,
    slot_id,
    week_start_of,
)
from contenthub.publish.rules import (
    CHANNELS,
    CONTENT_TYPES,
    Audience,
    CadenceRule,
    Channel,
    ContentType,
    month_key,
)
from contenthub.publish.service import TRANSITIONS, Override, Plan, PlanSlot, SlotStatus
from contenthub.recommend import events
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso, utcnow

EVENT_ID_MAX = 128
PUBLISH_CHUNK = 500
CAP_LOOKBACK_DAYS = 32
"""Covers the longest cap period (a calendar month) before the publish time."""
CONTENT_TYPES_SET = frozenset(CONTENT_TYPES)


# ---- models at the edge ---------------------------------------------------------------------------------


class SlotPatch(BaseModel):
    """Changes to one slot; omitted fields stay. `version` is the plan version edited (409 if it moved on)."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=0)
    start: AwareDatetime | None = Field(default=None, description="New start with its UTC offset; same week.")
    asset_id: str | None = Field(default=None, min_length=1, max_length=64)
    locked: bool | None = None
    status: SlotStatus | None = None
    channel: Channel | None = Field(default=None, description="Move the slot to another channel (same time).")
    override_channel: bool = Field(
        default=False,
        description="Place the asset on a channel it is not tagged "
        "for anyway; needs override_reason and is recorded on the slot.",
    )
    override_reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _reason_with_override(self) -> SlotPatch:
        if self.override_channel and not (self.override_reason or "").strip():
            raise ValueError(_("override_reason: say why the asset goes to a channel it is not tagged for"))
        return self


class SlotIn(BaseModel):
    """A slot an editor adds by hand. Locked by default so re-planning keeps it."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=0)
    channel: Channel
    audience: str = "all"
    start: AwareDatetime
    asset_id: str = Field(min_length=1, max_length=64)
    content_type: ContentType | None = Field(default=None, description="Default: the asset's content type.")
    scene: str | None = None
    locked: bool = True
    override_channel: bool = False
    override_reason: str | None = Field(default=None, max_length=500)


class PublishResult(BaseModel):
    slot: PlanSlot
    plan_version: int
    first_publish: bool
    members: int = Field(description="Audience members when it was published.")
    accepted: int = Field(description="Delivered events newly stored.")
    duplicates: int = Field(description="Delivered events already stored (re-publishing changes nothing).")
    rejected: int = 0
    capped: int = Field(
        default=0,
        description="Members skipped because the channel's frequency cap was full "
        "(a journey, another slot or a bot used the period's sends).",
    )


class SlotChange(BaseModel):
    plan_version: int
    slot: PlanSlot | None = None
    deleted: bool = False
    warnings: list[str] = Field(default_factory=list)
    publish: PublishResult | None = None


class DueSlots(BaseModel):
    week_start: date
    plan_version: int | None
    before: datetime
    slots: list[PlanSlot]


class CapUse(BaseModel):
    rule: str
    limit: int
    used: int
    period: str = Field(description="'day', 'week' or a month 'YYYY-MM'.")
    scope: str = Field(description="The audience whose count is shown (the busiest), or '*' for a shared cap.")


# ---- shared checks --------------------------------------------------------------------------------------------


class _Context:
    """Rules, holidays and other weeks' posts a check of this plan needs (read once per request)."""

    def __init__(self, hub: Hub, plan: Plan, now: datetime) -> None:
        self.rules: list[CadenceRule] = service.rule_set(hub)
        self.index = service.rules_by_key(hub)
        self.sent = service.already_sent(hub, plan.week_start, self.rules)
        self.holidays = plan.holidays
        self.now = now

    def zone(self, slot: PlanSlot) -> ZoneInfo:
        rule = resolve_rule(self.index, slot.channel, slot.audience)
        return rule.zone if rule else ZoneInfo(slot.timezone)

    def violations(self, slots: Sequence[PlanSlot], moved: PlanSlot, start: datetime) -> list[Violation]:
        return check_slot_move(slots, moved.id, start, self.rules, self.sent, self.holidays, not_before=self.now)


def _refuse(what: str, found: Sequence[Violation]) -> ConflictError:
    first = found[0]
    text = "; ".join(f"{rule_text(v.rule)}: {v.message}" for v in found)
    return ConflictError(
        _("{what} breaks {rule} ({channel}/{audience}): {text}").format(
            what=what,
            rule=rule_text(first.rule),
            channel=label("channel", first.channel),
            audience=_("Everyone") if first.audience == "all" else first.audience,
            text=text,
        ),
        field=first.rule,
        extra={
            "cap": first.rule,
            "limit": first.limit,
            "actual": first.actual,
            "violations": [v.model_dump() for v in found],
        },
    )


def _past(slot: PlanSlot, now: datetime) -> ConflictError:
    zone = ZoneInfo(slot.timezone)
    return ConflictError(
        _(
            "Slot {id} was due {start:%a %Y-%m-%d %H:%M} {timezone}, before now ({astimezone:%a %Y-%m-%d %H:%M}): past days are read-only; plan a later time instead."
        ).format(id=slot.id, start=slot.start, timezone=zone_label(zone), astimezone=now.astimezone(zone)),
        field="start",
        value=slot.start.isoformat(),
        extra={"cap": "past"},
    )


def _in_week(plan: Plan, local: datetime, field: str) -> None:
    if not plan.week_start <= local.date() < plan.week_start + timedelta(days=7):
        end = plan.week_start + timedelta(days=6)
        raise InvalidError(
            _(
                "{isoformat} ({tzinfo}) is outside the week {isoformat2}…{isoformat3} of this plan; add the slot to that week's plan instead."
            ).format(
                isoformat=local.isoformat(),
                tzinfo=local.tzinfo,
                isoformat2=plan.week_start.isoformat(),
                isoformat3=end.isoformat(),
            ),
            field=field,
            value=local.isoformat(),
        )


def _asset(hub: Hub, asset_id: str) -> dict[str, Any]:
    doc = hub.store.get_asset(asset_id)
    if doc is None:
        raise InvalidError(_("No asset '{asset_id}'.").format(asset_id=asset_id), field="asset_id", value=asset_id)
    if doc.get("status") != "approved":
        raise InvalidError(
            _("Asset '{asset_id}' is {get}; only approved assets can be planned.").format(
                asset_id=asset_id, get=doc.get("status")
            ),
            field="asset_id",
            value=asset_id,
        )
    return doc


def _channel_check(
    hub: Hub,
    doc: dict[str, Any],
    channel: str,
    override: bool,
    reason: str | None,
    actor: str,
    now: datetime,
    lang: str,
) -> Override | None:
    """An asset goes only to channels it is tagged for; an editor may override, and that is recorded.

    Refused with 409 in the request's language, naming the channels the asset is tagged for.
    """
    tagged = list(doc.get("channels") or [])
    if channel in tagged:
        return None
    if not override:
        label = _facet_names(hub, "channels", lang)
        names = _(", ").join(label.get(c, c) for c in tagged)
        raise ConflictError(
            _(
                "Asset '{asset}' is not tagged for {channel} (tagged for: {tagged}). To place it anyway, override "
                "and give a reason; the override is recorded."
            ).format(
                asset=doc.get("title") or doc["id"], channel=label.get(channel, channel), tagged=names or _("none")
            ),
            field="channel",
            value=channel,
            allowed=tagged,
            extra={"cap": "channel", "asset_id": doc["id"], "override": "override_channel + override_reason"},
        )
    return Override(by=actor, at=to_iso(now), reason=(reason or "").strip(), asset_id=doc["id"], channel=channel)


def _duplicate(plan: Plan, audience: Audience, asset_id: str, except_id: str | None) -> None:
    for other in plan.active():
        if other.id != except_id and other.audience == audience and other.asset_id == asset_id:
            raise ConflictError(
                _(
                    "Asset {asset_id} is already planned for {key} on {isoformat} ({channel}); pick another asset."
                ).format(asset_id=asset_id, key=audience.key, isoformat=other.start.isoformat(), channel=other.channel),
                field="asset_id",
                value=asset_id,
                extra={"slot_id": other.id},
            )


def _note(now: datetime, actor: str, text: str) -> str:
    return f"{to_iso(now)[:16].replace('T', ' ')}Z {actor}: {text}"


def _replace(plan: Plan, slot: PlanSlot | None, slot_id_: str, action: str, actor: str, now: datetime) -> Plan:
    slots = [s for s in plan.slots if s.id != slot_id_] + ([slot] if slot is not None else [])
    slots.sort(key=lambda s: (s.start.timestamp(), CHANNELS.index(s.channel), s.audience.key))
    return plan.model_copy(update={"slots": slots, "action": action, "created_by": actor, "created_at": to_iso(now)})


# ---- edits --------------------------------------------------------------------------------------------------------


def edit_slot(
    hub: Hub, week: date, slot_id_: str, patch: SlotPatch, actor: str, now: datetime | None = None, lang: str = "en"
) -> SlotChange:
    """Apply asset swap, channel change, move, lock and status change (in that order) as one new version.

    An asset goes to a channel it is not tagged for only with `override_channel` and a reason (recorded on
    the slot); otherwise 409 in `lang`.
    """
    now = now or utcnow()
    warnings: list[str] = []
    with service._lock(hub):
        plan = service.get_plan(hub, week)
        expected = plan.version if patch.version is None else patch.version
        slot = plan.slot(slot_id_)
        before = slot
        changes_content = patch.start is not None or patch.asset_id is not None or patch.channel is not None
        if changes_content and slot.status == "published":
            raise ConflictError(
                _("This slot is published: its time and asset are history now."), field="status", value=slot.status
            )
        if changes_content and slot.start < now:
            raise _past(slot, now)
        if changes_content and slot.status == "skipped" and patch.status != "draft":
            raise ConflictError(
                _("This slot is skipped; set its status to draft to edit it."), field="status", value=slot.status
            )
        ctx = _Context(hub, plan, now)
        done: list[str] = []
        if patch.status == "draft" and slot.status == "skipped":
            slot = _set_status(plan, slot, "draft", ctx)
            done.append(_("revived"))
        channel = patch.channel or slot.channel
        if patch.asset_id is not None and patch.asset_id != slot.asset_id:
            slot = _swap(hub, plan, slot, patch.asset_id, ctx)
            done.append(_("asset {old} → {new}").format(old=before.asset_id, new=slot.asset_id))
        if channel != before.channel or slot.asset_id != before.asset_id:
            doc = _asset(hub, slot.asset_id)
            override = _channel_check(
                hub, doc, channel, patch.override_channel, patch.override_reason, actor, now, lang
            )
            if override is not None:
                slot = slot.model_copy(update={"overrides": [*slot.overrides, override]})
                done.append(_("channel override ({reason})").format(reason=override.reason))
                warnings.append(
                    _("asset {asset} is not tagged for channel {channel}: override recorded").format(
                        asset=doc["id"], channel=_facet_names(hub, "channels", current_language()).get(channel, channel)
                    )
                )
        if channel != slot.channel:
            slot = slot.model_copy(update={"channel": channel})
            done.append(_("channel {old} → {new}").format(old=before.channel, new=channel))
        start = patch.start or (slot.start if channel != before.channel else None)
        if start is not None:
            zone = ctx.zone(slot)
            local = start.astimezone(zone)
            if local != before.start or channel != before.channel:
                _in_week(plan, local, "start")
                moved = slot.model_copy(update={"start": local, "timezone": zone.key})
                others = [s for s in plan.active() if s.id != slot.id] + [moved]
                found = ctx.violations(others, moved, local)
                if found:
                    raise _refuse(
                        _("Moving slot {slot} to {when} {zone}").format(
                            slot=slot.id, when=format_local(local, "EEE yyyy-MM-dd HH:mm"), zone=zone_label(zone)
                        ),
                        found,
                    )
                if local != before.start:
                    done.append(
                        _("moved {old} → {new}").format(
                            old=format_local(before.start, "EEE MM-dd HH:mm"),
                            new=format_local(local, "EEE MM-dd HH:mm"),
                        )
                    )
                slot = moved.model_copy(update={"rationale": _moved_rationale(moved, actor)})
        if patch.locked is not None and patch.locked != slot.locked:
            slot = slot.model_copy(update={"locked": patch.locked})
            done.append(_("locked") if patch.locked else _("unlocked"))
        publish = patch.status == "published" and slot.status != "published"
        if patch.status is not None and patch.status not in (slot.status, "published"):
            slot = _set_status(plan, slot, patch.status, ctx)
            done.append(
                _("status {old} → {new}").format(old=label("status", before.status), new=label("status", patch.status))
            )
        if publish and slot.status != "approved":
            raise _transition_error(slot.status, "published")
        if done:
            slot = slot.model_copy(update={"edits": [*slot.edits, _note(now, actor, _(", ").join(done))]})
            plan = _replace(
                plan,
                slot,
                slot.id,
                _("edit {slot}: {changes}").format(slot=slot.id, changes=_(", ").join(done)),
                actor,
                now,
            )
            plan = service.save_plan(hub, plan, expected)
        elif patch.version is not None and patch.version != plan.version:
            raise ConflictError(
                _("The plan changed (now version {version}).").format(version=plan.version),
                field="version",
                extra={"current_version": plan.version},
            )
        change = SlotChange(plan_version=plan.version, slot=slot, warnings=warnings)
        if publish:
            change.publish = publish_slot(hub, plan.week_start, slot.id, actor, now)
            change.plan_version, change.slot = change.publish.plan_version, change.publish.slot
        return change


TIME_REASONS = (
    N_("{when} {zone}: best-time score {score:.4f}, rank {rank} of {n} open hours"),  # planner._make_slot
    N_("spread: {n} post(s) already on {weekday}"),
    N_("time set by hand by {who}: {when} {zone}"),
)
"""Rationale lines about a slot's time, dropped when it is moved (in whichever language the plan was made)."""
"""Marks the planner's rationale line about the slot's time: a move replaces it, so exports say the current why."""


def _moved_rationale(slot: PlanSlot, actor: str) -> list[str]:
    marks = [m for msgid in TIME_REASONS for m in fixed_parts(msgid)]
    kept = [r for r in slot.rationale if not any(m in r for m in marks)]
    return [
        *kept,
        _(TIME_REASONS[2]).format(
            who=actor, when=format_local(slot.start, "EEE MM-dd HH:mm"), zone=zone_label(ZoneInfo(slot.timezone))
        ),
    ]


def _swap(hub: Hub, plan: Plan, slot: PlanSlot, asset_id: str, ctx: _Context) -> PlanSlot:
    doc = _asset(hub, asset_id)
    _duplicate(plan, slot.audience, asset_id, slot.id)
    kind = doc.get("content_type") or slot.content_type
    if kind not in CONTENT_TYPES_SET:
        kind = slot.content_type
    swapped = slot.model_copy(
        update={
            "asset_id": asset_id,
            "asset_title": doc.get("title"),
            "content_type": kind,
            "rationale": [
                *[r for r in slot.rationale if not r.startswith(("asset ", "asset swapped"))],
                f"asset swapped by hand: {slot.asset_id} → {asset_id}",
            ],
        }
    )
    if kind != slot.content_type:
        others = [swapped if s.id == slot.id else s for s in plan.active()]
        found = [v for v in ctx.violations(others, swapped, swapped.start) if v.rule.startswith("mix")]
        if found:
            raise _refuse(f"Swapping in {asset_id} ({kind})", found)
    return swapped


class SwapIn(BaseModel):
    """Exchange the places (time and channel) of two slots of one plan; each asset takes the other's place."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=0)
    other: str = Field(min_length=1, max_length=64, description="Id of the slot to trade places with.")
    override_channel: bool = False
    override_reason: str | None = Field(default=None, max_length=500)


def swap_slots(
    hub: Hub, week: date, slot_id_: str, data: SwapIn, actor: str, now: datetime | None = None, lang: str = "en"
) -> list[PlanSlot]:
    """Trade the places of two slots in one version; refused (409) when either lands in the past, on a
    channel its asset is not tagged for (unless overridden with a reason, which is recorded) or over a cap."""
    now = now or utcnow()
    if data.override_channel and not (data.override_reason or "").strip():
        raise InvalidError(
            _("override_reason: say why an asset goes to a channel it is not tagged for"), field="override_reason"
        )
    with service._lock(hub):
        plan = service.get_plan(hub, week)
        expected = plan.version if data.version is None else data.version
        a, b = plan.slot(slot_id_), plan.slot(data.other)
        if a.id == b.id:
            raise InvalidError(_("A slot cannot trade places with itself."), field="other", value=data.other)
        for slot in (a, b):
            if slot.status in ("published", "skipped"):
                raise ConflictError(
                    _("Slot {id} is {status}; only planned slots trade places.").format(id=slot.id, status=slot.status),
                    field="status",
                    value=slot.status,
                )
            if slot.start < now:
                raise _past(slot, now)
        ctx = _Context(hub, plan, now)
        moved: list[PlanSlot] = []
        for mine, theirs in ((a, b), (b, a)):
            doc = _asset(hub, mine.asset_id)
            override = None
            if theirs.channel != mine.channel:
                override = _channel_check(
                    hub, doc, theirs.channel, data.override_channel, data.override_reason, actor, now, lang
                )
            zone = ctx.zone(theirs)
            placed = mine.model_copy(
                update={
                    "channel": theirs.channel,
                    "start": theirs.start.astimezone(zone),
                    "timezone": zone.key,
                    "overrides": [*mine.overrides, *([override] if override else [])],
                }
            )
            placed = placed.model_copy(
                update={
                    "rationale": _moved_rationale(placed, actor),
                    "edits": [
                        *mine.edits,
                        _note(
                            now,
                            actor,
                            f"traded places with {theirs.id}"
                            + (f", channel override ({override.reason})" if override else ""),
                        ),
                    ],
                }
            )
            moved.append(placed)
        others = [s for s in plan.active() if s.id not in (a.id, b.id)] + moved
        for slot in moved:
            found = ctx.violations(others, slot, slot.start)
            if found:
                raise _refuse(f"Trading places of {a.id} and {b.id}", found)
        for slot in moved:
            plan = _replace(plan, slot, slot.id, _("swap {a} ⇄ {b}").format(a=a.id, b=b.id), actor, now)
        service.save_plan(hub, plan, expected)
        return moved


class ApproveAllIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=0)
    channel: Channel | None = Field(default=None, description="Only this channel; default every channel.")


def approve_all(hub: Hub, week: date, data: ApproveAllIn, actor: str, now: datetime | None = None) -> SlotChange:
    """Approve every draft slot of the week (or of one channel) that is still ahead, as one version."""
    now = now or utcnow()
    with service._lock(hub):
        plan = service.get_plan(hub, week)
        expected = plan.version if data.version is None else data.version
        chosen = [
            s
            for s in plan.slots
            if s.status == "draft" and s.start >= now and (data.channel is None or s.channel == data.channel)
        ]
        if not chosen:
            return SlotChange(plan_version=plan.version, warnings=[_("no draft slot ahead to approve")])
        for slot in chosen:
            done = slot.model_copy(
                update={
                    "status": "approved",
                    "edits": [*slot.edits, _note(now, actor, _("status draft → approved (all)"))],
                }
            )
            plan = _replace(
                plan,
                done,
                slot.id,
                _("approve {n} ({channel})").format(n=len(chosen), channel=data.channel or _("every channel")),
                actor,
                now,
            )
        plan = service.save_plan(hub, plan, expected)
        return SlotChange(plan_version=plan.version, warnings=[_("{n} approved").format(n=len(chosen))])


def _transition_error(current: str, wanted: str) -> ConflictError:
    allowed = list(TRANSITIONS[current])
    hint = " Approve it first." if wanted == "published" and current == "draft" else ""
    return ConflictError(
        _("A {current} slot cannot become {wanted}; from {current} it may become: {allowed}.{hint}").format(
            current=current, wanted=wanted, allowed=", ".join(allowed) or "nothing", hint=hint
        ),
        field="status",
        value=wanted,
        allowed=allowed,
    )


def _set_status(plan: Plan, slot: PlanSlot, status: str, ctx: _Context) -> PlanSlot:
    if status not in TRANSITIONS[slot.status]:
        raise _transition_error(slot.status, status)
    if slot.status == "skipped":  # a revived slot counts toward caps again
        others = [*plan.active(), slot]
        found = ctx.violations(others, slot, slot.start)
        if found:
            raise _refuse(f"Reviving slot {slot.id}", found)
    return slot.model_copy(update={"status": status})


def add_slot(
    hub: Hub, week: date, data: SlotIn, actor: str, now: datetime | None = None, lang: str = "en"
) -> SlotChange:
    now = now or utcnow()
    if data.override_channel and not (data.override_reason or "").strip():
        raise InvalidError(
            _("override_reason: say why the asset goes to a channel it is not tagged for"), field="override_reason"
        )
    audience = audience_lookup.parse_audience(data.audience)
    audience_lookup.check_exists(hub, audience)
    with service._lock(hub):
        plan = service.get_plan(hub, week)
        expected = plan.version if data.version is None else data.version
        doc = _asset(hub, data.asset_id)
        kind = data.content_type or doc.get("content_type")
        if kind not in CONTENT_TYPES_SET:
            raise InvalidError(
                _("Asset {asset_id} has no content type; send content_type.").format(asset_id=data.asset_id),
                field="content_type",
                allowed=sorted(CONTENT_TYPES_SET),
            )
        _duplicate(plan, audience, data.asset_id, None)
        override = _channel_check(hub, doc, data.channel, data.override_channel, data.override_reason, actor, now, lang)
        ctx = _Context(hub, plan, now)
        rule = resolve_rule(ctx.index, data.channel, audience)
        zone = rule.zone if rule else ZoneInfo(hub.settings.timezone)
        local = data.start.astimezone(zone)
        _in_week(plan, local, "start")
        new = PlanSlot(
            id=slot_id(data.channel, audience, local, kind),
            channel=data.channel,
            audience=audience,
            start=local,
            content_type=kind,
            scene=data.scene or ((doc.get("scenes") or [None])[0]),
            asset_id=data.asset_id,
            asset_title=doc.get("title"),
            locked=data.locked,
            timezone=zone.key,
            rationale=[f"added by hand by {actor}"],
            overrides=[override] if override else [],
            edits=[_note(now, actor, "added" + (f", channel override ({override.reason})" if override else ""))],
        )
        if any(s.id == new.id for s in plan.slots):
            raise ConflictError(
                _("A {kind} slot for {key} on {channel} at {isoformat} exists.").format(
                    kind=kind, key=audience.key, channel=data.channel, isoformat=local.isoformat()
                ),
                field="start",
                extra={"slot_id": new.id},
            )
        found = ctx.violations([*plan.active(), new], new, local)
        if found:
            raise _refuse(f"Adding a {kind} slot on {data.channel} at {local:%a %Y-%m-%d %H:%M} {zone.key}", found)
        plan = _replace(plan, new, new.id, _("add {slot}").format(slot=new.id), actor, now)
        plan = service.save_plan(hub, plan, expected)
        return SlotChange(plan_version=plan.version, slot=new)


def delete_slot(
    hub: Hub, week: date, slot_id_: str, actor: str, version: int | None = None, now: datetime | None = None
) -> SlotChange:
    now = now or utcnow()
    with service._lock(hub):
        plan = service.get_plan(hub, week)
        slot = plan.slot(slot_id_)
        if slot.status == "published":
            raise ConflictError(
                _("A published slot cannot be deleted: it went out."), field="status", value="published"
            )
        if slot.start < now:
            raise _past(slot, now)
        plan = _replace(plan, None, slot.id, _("delete {slot}").format(slot=slot.id), actor, now)
        plan = service.save_plan(hub, plan, plan.version if version is None else version)
        return SlotChange(plan_version=plan.version, deleted=True)


# ---- publishing and bots ------------------------------------------------------------------------------------------


def delivered_event_id(slot_id_: str, user_id: str) -> str:
    """Same slot + same user → same event id, so re-publishing is a no-op; hashed only when too long."""
    raw = f"pub:{slot_id_}:{user_id}"
    if len(raw) <= EVENT_ID_MAX:
        return raw
    return f"pub:{slot_id_}:h{hashlib.sha256(user_id.encode()).hexdigest()[:40]}"


@dataclass
class _Delivery:
    members: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    capped: int = 0


def _cap_allows(
    hub: Hub, rule: caps.CapRule, target: str, sends: list[dict[str, Any]], event_id: str, when: datetime
) -> bool:
    """May this publish deliver to `target` without passing the channel's cap?

    Why both checks: the delivered events (and reserved sends) say what was already sent; the cap slot,
    taken atomically like the recommender's ``reserve=true`` does, stops a journey step or a bot that is
    deciding at this very moment from also using the last send of the period.
    """
    capped = caps.cap_status(hub, rule, caps.send_times(sends, rule.channel), when)[0]
    if capped:
        return False
    full = reservations.take_cap_slot(hub, target, rule, when, event_id)[1]
    return full is None


def _member_sends(hub: Hub, user_ids: list[str], channel: str, when: datetime) -> dict[str, list[dict[str, Any]]]:
    """Each member's deliveries and reserved sends on the channel since the oldest cap period began."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    q = EventQuery(
        user_ids=tuple(user_ids),
        channels=(channel,),
        types=("delivered", "served"),
        since=when - timedelta(days=CAP_LOOKBACK_DAYS),
        limit=len(user_ids) * 200,
    )
    for e in hub.store.query_events(q):
        found[e.get("user_id") or ""].append(e)
    return found


def _chunks(ids: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(islice(ids, size)):
        yield chunk


def _record_delivered(hub: Hub, slot: PlanSlot, at: str) -> _Delivery:
    """Ingest a delivered event per member whose cap allows it; members already published to count as duplicates.

    A slot's audience can overlap a journey or another plan slot on the same channel, so the channel's cap
    is checked per member at publish time, not only when the plan was made: a member who has used the
    period's sends is skipped (counted in ``capped``) rather than sent one more.
    """
    base = {
        "type": "delivered",
        "asset_id": slot.asset_id,
        "channel": slot.channel,
        "ts": at,
        "attributes": {"slot_id": slot.id},
    }
    when = from_iso(at)
    rule = caps.get_rule(hub, slot.channel)
    per_member = slot.audience.kind != "group" and caps.has_limits(rule)
    out = _Delivery()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            result = events.ingest(hub, batch)
            out.accepted += result.accepted
            out.duplicates += result.duplicates
            out.rejected += len(result.rejected)
            batch.clear()

    if slot.audience.kind == "group":
        # one group-level event: the group's own caps count sends to the group, not per member
        batch.append(
            {**base, "id": delivered_event_id(slot.id, f"group:{slot.audience.id}"), "group_id": slot.audience.id}
        )
    for chunk in _chunks(audience_lookup.iter_members(hub, slot.audience), PUBLISH_CHUNK):
        out.members += len(chunk)
        sends = _member_sends(hub, chunk, slot.channel, when) if per_member else {}
        for uid in chunk:
            event_id = delivered_event_id(slot.id, uid)
            mine = sends.get(uid, [])
            if (
                per_member
                and not any(e["id"] == event_id for e in mine)
                and not _cap_allows(hub, rule, uid, mine, event_id, when)
            ):
                out.capped += 1
                continue
            batch.append({**base, "id": event_id, "user_id": uid})
            if len(batch) >= events.MAX_BATCH:
                flush()
    flush()
    return out


def publish_slot(hub: Hub, week: date, slot_id_: str, actor: str, now: datetime | None = None) -> PublishResult:
    """Mark an approved slot published and record delivered events; again on a published slot: no change."""
    now = now or utcnow()
    with service._lock(hub):
        plan = service.get_plan(hub, week)
        slot = plan.slot(slot_id_)
        if slot.status not in ("approved", "published"):
            raise _transition_error(slot.status, "published")
        first = slot.status == "approved"
        at = slot.published_at or to_iso(now)
        d = _record_delivered(hub, slot, at)
        hub.cache.pop(AUDIENCE_CACHE, None)  # the next plan must see these deliveries
        if first:
            note = f"published to {d.members - d.capped} members" + (
                f" ({d.capped} skipped: {slot.channel} cap reached)" if d.capped else ""
            )
            slot = slot.model_copy(
                update={
                    "status": "published",
                    "published_at": at,
                    "delivered": d.members - d.capped,
                    "edits": [*slot.edits, _note(now, actor, note)],
                }
            )
            plan = service.save_plan(
                hub, _replace(plan, slot, slot.id, _("publish {slot}").format(slot=slot.id), actor, now), plan.version
            )
        return PublishResult(
            slot=slot,
            plan_version=plan.version,
            first_publish=first,
            members=d.members,
            accepted=d.accepted,
            duplicates=d.duplicates,
            rejected=d.rejected,
            capped=d.capped,
        )


def due_slots(
    hub: Hub, week: date, channel: str | None = None, before: datetime | None = None, now: datetime | None = None
) -> DueSlots:
    """Approved, unpublished slots starting at or before `before` (default now): what a bot should send."""
    if channel is not None and channel not in CHANNELS:
        raise InvalidError(
            _("Unknown channel '{channel}'.").format(channel=channel),
            field="channel",
            value=channel,
            allowed=list(CHANNELS),
        )
    if before is not None and (before.tzinfo is None or before.utcoffset() is None):
        raise InvalidError(
            _("before needs a UTC offset, e.g. 2026-06-08T20:00:00+08:00."), field="before", value=before.isoformat()
        )
    before = before or now or utcnow()
    week = week_start_of(week)
    plan = service.find_plan(hub, week)
    slots = (
        []
        if plan is None
        else [
            s
            for s in plan.slots
            if s.status == "approved" and s.start <= before and (channel is None or s.channel == channel)
        ]
    )
    return DueSlots(week_start=week, plan_version=plan.version if plan else None, before=before, slots=slots)


def _facet_names(hub: Hub, facet: str, lang: str) -> dict[str, str]:
    return {e.id: (e.zh if lang == "zh" else e.en) for e in taxonomy.entries(hub.store, facet)}


def export_ics(hub: Hub, week: date, lang: str = "zh") -> bytes:
    """Slots with channel and content-type names and their current reasons, plus the week's holiday marks
    (read now, so an estimated schedule is replaced once the official one is known)."""
    plan = service.get_plan(hub, week)
    return to_ics(
        plan.active(),
        calendar_name=f"ContentHub {plan.week_start.isoformat()} v{plan.version}",
        channel_names=_facet_names(hub, "channels", lang),
        type_names=_facet_names(hub, "content_types", lang),
        holidays=service.holidays_of(hub, plan.week_start),
        lang=lang,
    )


def export_csv(hub: Hub, week: date, lang: str = "zh") -> str:
    return to_csv(
        service.get_plan(hub, week).slots, _facet_names(hub, "channels", lang), _facet_names(hub, "content_types", lang)
    )


# ---- cap usage for the calendar -----------------------------------------------------------------------------------


def cap_usage(hub: Hub, plan: Plan) -> dict[str, list[CapUse]]:
    """Per channel, each hard cap with its busiest scope's use; month caps include other weeks' posts."""
    rules = service.rule_set(hub)
    index = service.rules_by_key(hub)
    sent = service.already_sent(hub, plan.week_start, rules)
    holiday_week = any(raises_cadence(m) for m in plan.holidays)
    keys = {Audience.from_key(k) for k in plan.audiences} | {s.audience for s in plan.slots}
    out: dict[str, list[CapUse]] = {}
    for channel in CHANNELS:
        scopes: dict[str, tuple[CadenceRule, set[str]]] = {}
        for audience in keys:
            rule = resolve_rule(index, channel, audience)
            if rule is None:
                continue
            scope = "*" if rule.cap_scope == "channel" else audience.key
            scopes.setdefault(scope, (rule, set()))[1].add(audience.key)
        uses: dict[str, CapUse] = {}
        for scope, (rule, members) in scopes.items():
            mine = [s for s in plan.active() if s.channel == channel and s.audience.key in members]
            zone = rule.zone
            days = Counter(s.start.astimezone(zone).date() for s in mine)
            months = Counter(month_key(s.start.astimezone(zone).date()) for s in mine)
            for key in members:
                for mk, n in sent.get((channel, key), AlreadySent()).months.items():
                    months[mk] += n
            found = []
            if rule.max_per_day is not None:
                busiest = max(days.values(), default=0)
                found.append(
                    CapUse(rule="max_per_day", limit=rule.max_per_day, used=busiest, period="day", scope=scope)
                )
            cap = rule.week_cap(holiday_week)
            if cap is not None:
                found.append(CapUse(rule="max_per_week", limit=cap, used=len(mine), period="week", scope=scope))
            for mk in sorted({month_key(plan.week_start + timedelta(days=d)) for d in range(7)}):
                year, month = map(int, mk.split("-"))
                limit = rule.month_cap(year, month)
                if limit is not None:
                    found.append(CapUse(rule="max_per_month", limit=limit, used=months[mk], period=mk, scope=scope))
            for use in found:
                key = f"{use.rule}:{use.period}"
                if key not in uses or use.used / max(use.limit, 1) > uses[key].used / max(uses[key].limit, 1):
                    uses[key] = use
        if uses:
            out[channel] = list(uses.values())
    return out


def target_by_channel(hub: Hub, plan: Plan) -> dict[str, int]:
    """Weekly posts the rules aim for per channel, summed over the plan's audiences."""
    index = service.rules_by_key(hub)
    holiday_week = any(raises_cadence(m) for m in plan.holidays)
    totals: dict[str, int] = defaultdict(int)
    for key in plan.audiences:
        audience = Audience.from_key(key)
        for channel in plan.channels:
            rule = resolve_rule(index, channel, audience)
            if rule is not None:
                totals[channel] += rule.week_target(holiday_week)
    return dict(totals)
