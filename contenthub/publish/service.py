"""Publish planning backed by the store: cadence rules, marketing dates, best times and versioned plans.

The planner core (planner.py) is pure; this module feeds it from the store and keeps what it returns:
- cadence rules are documents per channel+audience; a channel without a stored 'all' rule uses
  `rules.default_rules` (the platform limits), so deleting a custom rule restores the default;
- a week's plan is one document holding every slot. Each (re)plan or edit writes the next version as the
  head document *and* a history copy in one `put_docs_atomic`, so a run killed half-way leaves the old
  version or the new one, never a mix of both;
- slots planned in other weeks of the same months count toward month caps and the gap (`AlreadySent`),
  so four weekly plans cannot together exceed a service account's 4 sends per month.
Editing and publishing live in `editing.py`; this module only plans, stores and reads.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from filelock import FileLock
from pydantic import BaseModel, Field, ValidationError, model_validator

from contenthub.errors import ConflictError, InvalidError, NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.labels import rule_text
from contenthub.occasions import (
    DEFAULT_MARKETING_DATES,
    HolidayMark,
    MarketingDate,
    dates_in_week,
    marks_between,
)
from contenthub.publish import audiences as audience_lookup
from contenthub.publish.besttime import best_time_scores
from contenthub.publish.picking import RecommenderPicker
from contenthub.publish.planner import (
    AlreadySent,
    Slot,
    Unmet,
    Violation,
    plan_week,
    resolve_rule,
    validate_rule_set,
    week_start_of,
)
from contenthub.publish.rules import (
    CHANNELS,
    Audience,
    CadenceRule,
    default_rules,
    month_key,
)
from contenthub.store.query import AssetFilter, EventQuery
from contenthub.timeutil import from_iso, to_iso, utcnow
from contenthub.variants import runtime as variants

RULES = "cadence_rules"
SETTINGS = "publish_settings"
PLANS = "plans"
MARKETING_DOC = "marketing_dates"
HISTORY_KEPT = 50
"""Versions of one week kept for audit and `?version=`; older ones are deleted with the next write."""
BEST_TIME_TTL = 600.0

SlotStatus = Literal["draft", "approved", "published", "skipped"]
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("approved", "skipped"),
    "approved": ("draft", "published", "skipped"),
    "skipped": ("draft",),
    "published": (),
}
"""draft → approved → published | skipped; an approval may be withdrawn and a skipped slot revived."""


# ---- models at the edge ---------------------------------------------------------------------------------


class RuleOut(CadenceRule):
    source: Literal["default", "custom"] = "custom"


class Override(BaseModel):
    """An editor's decision to place an asset on a channel it is not tagged for: who, when, why, what."""

    by: str
    at: str
    reason: str
    asset_id: str
    channel: str


class PlanSlot(Slot):
    """A slot as stored: the planner's slot plus its status and the IANA zone its start is shown in."""

    status: SlotStatus = "draft"
    timezone: str = "Asia/Shanghai"
    published_at: str | None = None
    delivered: int | None = Field(default=None, description="Members a delivered event was recorded for.")
    edits: list[str] = Field(default_factory=list, description="Who changed what, oldest first.")
    overrides: list[Override] = Field(default_factory=list, description="Channel-tag overrides, oldest first.")

    @model_validator(mode="after")
    def _zoned(self) -> PlanSlot:
        # JSON keeps only the offset; restore the zone so DST-aware exports and moves see the real zone
        zone = ZoneInfo(self.timezone)
        if getattr(self.start.tzinfo, "key", None) != self.timezone:
            object.__setattr__(self, "start", self.start.astimezone(zone))
        return self


class ChannelSummary(BaseModel):
    slots: int
    reasons: list[str] = Field(default_factory=list, description="Why the channel has fewer slots than wanted.")


class Plan(BaseModel):
    week_start: date
    version: int
    channels: list[str]
    audiences: list[str]
    slots: list[PlanSlot]
    unmet: list[Unmet] = Field(default_factory=list)
    conflicts: list[Violation] = Field(default_factory=list)
    channel_summary: dict[str, ChannelSummary] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    holidays: list[HolidayMark] = Field(default_factory=list)
    action: str = "plan"
    created_at: str
    created_by: str

    def slot(self, slot_id: str) -> PlanSlot:
        for s in self.slots:
            if s.id == slot_id:
                return s
        raise NotFoundError(
            _("No slot '{slot_id}' in the plan of week {isoformat}.").format(
                slot_id=slot_id, isoformat=self.week_start.isoformat()
            ),
            field="slot_id",
            value=slot_id,
        )

    def active(self) -> list[PlanSlot]:
        """Slots that will go out or went out: everything but skipped ones."""
        return [s for s in self.slots if s.status != "skipped"]


class VersionInfo(BaseModel):
    version: int
    action: str
    created_at: str
    created_by: str
    slots: int


class BestTime(BaseModel):
    channel: str
    audience: str
    timezone: str
    events: int = Field(description="Opens and clicks the scores learned from (0: the channel prior only).")
    scores: list[list[float]] = Field(description="7×24, rows Monday…Sunday, columns local hours; sums to 1.")
    top_hours: list[tuple[int, int]] = Field(description="Best (weekday, hour) cells, best first.")


# ---- cadence rules ----------------------------------------------------------------------------------------------

_FIELD_NAMES = sorted(CadenceRule.model_fields, key=len, reverse=True)


def _rule_id(channel: str, audience_key: str) -> str:
    return f"{channel}|{audience_key}"


def _fields_named(message: str) -> list[str]:
    """Rule field names a validation message mentions, in order of first mention (for `error.fields`)."""
    found: list[tuple[int, str]] = []
    for name in _FIELD_NAMES:
        for match in re.finditer(rf"(?<![\w.]){re.escape(name)}(?![\w])", message):
            found.append((match.start(), name))
            break
    for match in re.finditer(r"mix\.\w+", message):
        found.append((match.start(), match.group(0)))
    if "sum of mix" in message and not any(n == "mix" for _ignored, n in found):
        found.append((message.index("sum of mix"), "mix"))
    out: list[str] = []
    for _ignored, name in sorted(found):
        if name not in out:
            out.append(name)
    return out


def _invalid_rule(exc: ValidationError) -> InvalidError:
    details: list[dict[str, str | None]] = []
    fields: list[str] = []
    parts: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        named = [loc.split(".")[0]] if loc else _fields_named(message)
        fields += [f for f in named if f not in fields]
        field = loc or (named[0] if named else None)
        details.append({"field": field, "message": message})
        parts.append(f"{field}: {message}" if field and not message.startswith((field, "rule ")) else message)
    text = "; ".join(parts)
    return InvalidError(
        _("Cadence rule rejected: {text}").format(text=text),
        field=fields[0] if fields else None,
        extra={"fields": fields, "details": details},
    )


def default_rule_set(hub: Hub) -> list[CadenceRule]:
    return default_rules(hub.settings.timezone)


def stored_rules(hub: Hub) -> list[CadenceRule]:
    return [CadenceRule.model_validate(d["rule"]) for d in hub.store.list_docs(RULES, limit=100000)]


def effective_rules(hub: Hub) -> list[RuleOut]:
    """Stored rules plus the default 'all' rule of every channel that has no stored one."""
    stored = stored_rules(hub)
    keys = {(r.channel, r.audience.key) for r in stored}
    out = [RuleOut(**r.model_dump(), source="custom") for r in stored]
    out += [
        RuleOut(**r.model_dump(), source="default")
        for r in default_rule_set(hub)
        if (r.channel, r.audience.key) not in keys
    ]
    out.sort(key=lambda r: (CHANNELS.index(r.channel), r.audience.key != "all", r.audience.key))
    return out


def rule_set(hub: Hub) -> list[CadenceRule]:
    return [CadenceRule.model_validate(r.model_dump(exclude={"source"})) for r in effective_rules(hub)]


def get_rule(hub: Hub, channel: str, audience_key: str = "all") -> RuleOut:
    """The rule that applies: the audience's own, else the channel's 'all' rule."""
    _check_channel(channel)
    audience = audience_lookup.parse_audience(audience_key)
    for rule in effective_rules(hub):
        if rule.channel == channel and rule.audience == audience:
            return rule
    for rule in effective_rules(hub):
        if rule.channel == channel and rule.audience.key == "all":
            return rule
    raise NotFoundError(_("No cadence rule for {channel}.").format(channel=channel), field="channel", value=channel)


def put_rule(hub: Hub, channel: str, audience_key: str, body: dict[str, Any]) -> RuleOut:
    """Validate and store a rule; 422 names every contradicting field (`error.fields`)."""
    _check_channel(channel)
    audience = audience_lookup.parse_audience(audience_key)
    audience_lookup.check_exists(hub, audience)
    if not isinstance(body, dict):
        raise InvalidError(_("A cadence rule is a JSON object."), field="body")
    for name, value in (("channel", channel), ("audience", audience.model_dump())):
        if name in body and body[name] not in (value, audience_key):
            raise InvalidError(
                _("{name} in the body ({value!r}) differs from the URL ({value2!r}).").format(
                    name=name, value=body[name], value2=value
                ),
                field=name,
            )
    try:
        rule = CadenceRule.model_validate({**body, "channel": channel, "audience": audience.model_dump()})
    except ValidationError as exc:
        raise _invalid_rule(exc) from None
    others = [r for r in rule_set(hub) if (r.channel, r.audience.key) != (channel, audience.key)]
    try:
        validate_rule_set([*others, rule])
    except ValueError as exc:
        raise InvalidError(
            _("Cadence rule rejected: {exc}").format(exc=exc),
            field="cap_scope",
            extra={"fields": _fields_named(str(exc)) or ["cap_scope"]},
        ) from None
    hub.store.put_doc(
        RULES,
        _rule_id(channel, audience.key),
        {"channel": channel, "audience": audience.key, "rule": rule.model_dump(mode="json")},
    )
    return RuleOut(**rule.model_dump(), source="custom")


def delete_rule(hub: Hub, channel: str, audience_key: str) -> None:
    _check_channel(channel)
    audience = audience_lookup.parse_audience(audience_key)
    if not hub.store.delete_doc(RULES, _rule_id(channel, audience.key)):
        raise NotFoundError(
            _("No custom cadence rule for {channel} / {key}.").format(channel=channel, key=audience.key),
            field="audience",
            value=audience.key,
        )


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidError(
            _("Unknown channel '{channel}'.").format(channel=channel),
            field="channel",
            value=channel,
            allowed=list(CHANNELS),
        )


# ---- marketing dates and holidays ------------------------------------------------------------------------------


def marketing_dates(hub: Hub) -> list[MarketingDate]:
    doc = hub.store.get_doc(SETTINGS, MARKETING_DOC)
    if doc is None:
        return list(DEFAULT_MARKETING_DATES)
    return [MarketingDate.model_validate(d) for d in doc["dates"]]


def put_marketing_dates(hub: Hub, dates: Sequence[MarketingDate]) -> list[MarketingDate]:
    names = [d.name for d in dates]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidError(
            _("Marketing date names must be unique; repeated: {dupes}.").format(dupes=", ".join(dupes)), field="name"
        )
    hub.store.put_doc(SETTINGS, MARKETING_DOC, {"dates": [d.model_dump(mode="json") for d in dates]})
    return list(dates)


def holidays_of(hub: Hub, week: date) -> list[HolidayMark]:
    return dates_in_week(week_start_of(week), marketing_dates(hub))


def holidays_between(hub: Hub, start: date, end: date) -> list[HolidayMark]:
    return marks_between(start, end, marketing_dates(hub))


# ---- best time ------------------------------------------------------------------------------------------------------


def best_time(hub: Hub, channel: str, audience_key: str = "all", now: datetime | None = None) -> BestTime:
    """Hour-of-week scores learned from the audience's opens and clicks on the channel (cached briefly)."""
    _check_channel(channel)
    audience = audience_lookup.parse_audience(audience_key)
    audience_lookup.check_exists(hub, audience)
    tz = get_rule(hub, channel, audience.key).timezone
    scores, events = _scores(hub, channel, audience, tz, now or utcnow())
    flat = np.argsort(-scores, axis=None, kind="stable")[:5]
    return BestTime(
        channel=channel,
        audience=audience.key,
        timezone=tz,
        events=events,
        scores=np.round(scores, 6).tolist(),
        top_hours=[(int(i) // 24, int(i) % 24) for i in flat],
    )


def _scores(hub: Hub, channel: str, audience: Audience, tz: str, now: datetime) -> tuple[np.ndarray, int]:
    cache: dict[tuple[str, str, str], tuple[float, np.ndarray, int]] = hub.cache.setdefault("publish_best_time", {})
    key = (channel, audience.key, tz)
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < BEST_TIME_TTL:
        return hit[1], hit[2]
    times = audience_lookup.engagement_times(hub, channel, audience, now)
    scores = best_time_scores(times, tz, channel)
    cache[key] = (time.monotonic(), scores, len(times))
    return scores, len(times)


# ---- plan storage ---------------------------------------------------------------------------------------------------


@contextmanager
def _lock(hub: Hub) -> Iterator[None]:
    """One plan writer at a time: versions are read-check-write. A thread lock for this process and a file
    lock in the data folder for the other API worker processes and the CLI on this machine (re-entrant, so
    an edit can save through ``save_plan`` while holding it)."""
    lock = hub.cache.get("publish_lock")
    if lock is None:
        lock = hub.cache.setdefault("publish_lock", threading.RLock())
    with lock:
        file_lock = hub.cache.get("publish_file_lock")
        if file_lock is None:
            path = hub.settings.data_dir / "locks" / "publish.lock"
            path.parent.mkdir(parents=True, exist_ok=True)
            file_lock = hub.cache.setdefault("publish_file_lock", FileLock(path))
        with file_lock:
            yield


def _history_id(week: date, version: int) -> str:
    return f"{week.isoformat()}@v{version:05d}"


def _load(doc: dict[str, Any]) -> Plan:
    return Plan.model_validate(doc["plan"])


def find_plan(hub: Hub, week: date) -> Plan | None:
    doc = hub.store.get_doc(PLANS, week_start_of(week).isoformat())
    return _load(doc) if doc else None


def get_plan(hub: Hub, week: date, version: int | None = None) -> Plan:
    week = week_start_of(week)
    if version is not None:
        doc = hub.store.get_doc(PLANS, _history_id(week, version))
        if doc is None:
            raise NotFoundError(
                _(
                    "No version {version} of the plan of week {isoformat} (the last {HISTORY_KEPT} versions are kept)."
                ).format(version=version, isoformat=week.isoformat(), HISTORY_KEPT=HISTORY_KEPT),
                field="version",
                value=version,
            )
        return _load(doc)
    plan = find_plan(hub, week)
    if plan is None:
        raise NotFoundError(
            _("No plan for the week of {isoformat} yet; create one with POST /v1/plans.").format(
                isoformat=week.isoformat()
            ),
            field="week",
            value=week.isoformat(),
        )
    return plan


def list_versions(hub: Hub, week: date) -> list[VersionInfo]:
    week = week_start_of(week)
    docs = hub.store.list_docs(PLANS, where={"week": week.isoformat(), "kind": "version"}, limit=HISTORY_KEPT + 10)
    return sorted((VersionInfo(**d["info"]) for d in docs), key=lambda v: -v.version)


class PlanInfo(VersionInfo):
    week_start: date


def list_plans(hub: Hub, limit: int = 200) -> list[PlanInfo]:
    """The current version of every planned week, latest week first."""
    docs = hub.store.list_docs(PLANS, where={"kind": "head"}, limit=100000)
    docs.sort(key=lambda d: d["week"], reverse=True)
    return [PlanInfo(week_start=d["week"], **d["info"]) for d in docs[:limit]]


def save_plan(hub: Hub, plan: Plan, expected_version: int | None) -> Plan:
    """Write `plan` as the next version: head and history copy in one atomic write.

    `expected_version` is the version the caller edited (0: no plan yet); another writer in between → 409.
    """
    week = plan.week_start
    with _lock(hub):
        current = hub.store.get_doc(PLANS, week.isoformat())
        have = current["info"]["version"] if current else 0
        if expected_version is not None and expected_version != have:
            raise ConflictError(
                _(
                    "The plan of week {isoformat} changed (now version {have}, you edited {expected_version}). Reload it and apply your change again."
                ).format(isoformat=week.isoformat(), have=have, expected_version=expected_version),
                field="version",
                value=expected_version,
                extra={"current_version": have},
            )
        plan = plan.model_copy(update={"version": have + 1})
        body = plan.model_dump(mode="json")
        info = VersionInfo(
            version=plan.version,
            action=plan.action,
            created_at=plan.created_at,
            created_by=plan.created_by,
            slots=len(plan.active()),
        ).model_dump()
        docs = {
            week.isoformat(): {"kind": "head", "week": week.isoformat(), "info": info, "plan": body},
            _history_id(week, plan.version): {"kind": "version", "week": week.isoformat(), "info": info, "plan": body},
        }
        # each write retires the version that falls out of the window, so the history stays HISTORY_KEPT long
        old = [_history_id(week, plan.version - HISTORY_KEPT)] if plan.version > HISTORY_KEPT else []
        hub.store.put_docs_atomic(PLANS, docs, delete=old)
        return plan


# ---- planning ---------------------------------------------------------------------------------------------------------


def _month_weeks(week: date) -> list[date]:
    """Mondays of every other week that shares a calendar month with `week` (their posts share month caps)."""
    first = date(week.year, week.month, 1)
    end = week + timedelta(days=6)
    last = (date(end.year, end.month, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    monday = week_start_of(first - timedelta(days=6))
    out = []
    while monday <= last:
        if monday != week:
            out.append(monday)
        monday += timedelta(days=7)
    return out


def already_sent(hub: Hub, week: date, rules: Sequence[CadenceRule]) -> dict[tuple[str, str], AlreadySent]:
    """Slots of the other weeks sharing a month with `week`, as `AlreadySent` per channel/audience.

    Drafts and approved slots count like published ones: a plan must leave room for what other weeks
    already plan, or four weekly plans could together break a monthly cap.
    """
    index = validate_rule_set(rules)
    months = {month_key(week + timedelta(days=d)) for d in range(7)}
    heads = hub.store.get_docs(PLANS, [w.isoformat() for w in _month_weeks(week)])
    found: dict[tuple[str, str], AlreadySent] = {}
    for doc in heads.values():
        for slot in _load(doc).active():
            rule = resolve_rule(index, slot.channel, slot.audience)
            zone = rule.zone if rule else ZoneInfo(slot.timezone)
            local = slot.start.astimezone(zone)
            entry = found.setdefault((slot.channel, slot.audience.key), AlreadySent())
            mk = month_key(local.date())
            if mk in months:
                entry.months[mk] = entry.months.get(mk, 0) + 1
                entry.days[local.date()] = entry.days.get(local.date(), 0) + 1
            week_begins = datetime(week.year, week.month, week.day, tzinfo=zone)
            if local < week_begins and (entry.last_sent_at is None or local > entry.last_sent_at):
                entry.last_sent_at = local
    return found


def _channel_summary(
    plan_slots: Sequence[PlanSlot],
    unmet: Sequence[Unmet],
    channels: Sequence[str],
    planned_pairs: set[str],
    audience_names: Mapping[str, str],
) -> dict[str, ChannelSummary]:
    reasons: dict[str, list[str]] = defaultdict(list)
    for u in unmet:
        for why in u.reasons:
            text = _("{audience} · {rule} (wanted {wanted}, planned {planned}): {why}").format(
                audience=audience_names.get(u.audience, u.audience),
                rule=rule_text(u.rule),
                wanted=u.wanted,
                planned=u.planned,
                why=why,
            )
            if text not in reasons[u.channel]:
                reasons[u.channel].append(text)
    out = {}
    for channel in channels:
        n = sum(1 for s in plan_slots if s.channel == channel and s.status != "skipped")
        channel_reasons = reasons.get(channel, [])
        if channel not in planned_pairs:
            channel_reasons = [*channel_reasons, _("no cadence rule resolves for the selected audiences")]
        out[channel] = ChannelSummary(slots=n, reasons=channel_reasons)
    return out


def generate(
    hub: Hub,
    week: date,
    channels: Sequence[str] | None,
    audience_keys: Sequence[str] | None,
    actor: str,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
    action: str = "plan",
) -> Plan:
    """Plan (or re-plan) a week for channels × audiences and store it as the next version.

    Locked, published and skipped slots of the current version are kept (published ones count toward every
    cap; skipped ones count toward nothing), and so is every slot before `now` (past days are history);
    every other slot is planned afresh, from `now` on.
    """
    now = now or utcnow()
    week = week_start_of(week)
    channels = list(dict.fromkeys(channels or CHANNELS))
    for channel in channels:
        _check_channel(channel)
    keys = list(dict.fromkeys(audience_keys or ["all"]))
    audience_list = []
    for key in keys:
        audience = audience_lookup.parse_audience(key)
        audience_lookup.check_exists(hub, audience, field="audiences")
        audience_list.append(audience)
    all_rules = rule_set(hub)
    overrides = {}
    for audience in audience_list:  # a cadence experiment may give this audience its variant's rules
        ov = variants.cadence_override(hub, audience.key)
        if ov is None:
            continue
        overrides[audience.key] = ov
        if ov.rules is not None:
            all_rules = [r for r in all_rules if r.audience.key != audience.key] + [
                CadenceRule.model_validate({**r, "audience": audience.model_dump()}) for r in ov.rules
            ]
    rules = [r for r in all_rules if r.channel in channels]
    holidays = holidays_of(hub, week)
    current = find_plan(hub, week)
    # past slots are history (read-only): kept as they are; only published ones count toward caps
    kept = (
        [s for s in current.slots if s.locked or s.status in ("published", "skipped") or s.start < now]
        if current
        else []
    )
    forced = {s.id for s in kept if not s.locked}
    counted = [
        s.model_copy(update={"locked": True})
        for s in kept
        if s.status == "published" or (s.status != "skipped" and s.start >= now)
    ]
    missed = [s for s in kept if s.start < now and s.status not in ("published", "skipped")]
    index = validate_rule_set(all_rules)

    best: dict[tuple[str, str], np.ndarray] = {}
    planned_pairs: set[str] = set()
    for audience in audience_list:
        for channel in channels:
            rule = resolve_rule(index, channel, audience)
            if rule is not None:
                best[(channel, audience.key)] = _scores(hub, channel, audience, rule.timezone, now)[0]
                planned_pairs.add(channel)
    # one scoring time for the whole week (see picking.py): its Monday noon in the brand's zone
    picker = RecommenderPicker(
        hub, now, at=datetime(week.year, week.month, week.day, 12, tzinfo=ZoneInfo(hub.settings.timezone))
    )
    result = plan_week(
        week, rules, audience_list, best, holidays, counted, picker, already_sent(hub, week, all_rules), not_before=now
    )

    slots: list[PlanSlot] = []
    for slot in result.slots:
        if isinstance(slot, PlanSlot):
            slots.append(slot.model_copy(update={"locked": slot.id not in forced}))
        else:
            zone = getattr(slot.start.tzinfo, "key", hub.settings.timezone)
            slots.append(PlanSlot(**slot.model_dump(), timezone=zone))
    placed = {x.id for x in slots}
    skipped = [s for s in kept if (s.status == "skipped" or s in missed) and s.id not in placed]
    slots = sorted(slots + skipped, key=lambda s: (s.start.timestamp(), CHANNELS.index(s.channel), s.audience.key))
    notes = []
    if hub.store.count_assets(AssetFilter(statuses=("approved",))) == 0:
        notes.append(_("the library has no approved assets: approve assets to fill the plan"))
    plan = Plan(
        week_start=week,
        version=0,
        channels=channels,
        audiences=keys,
        slots=slots,
        unmet=result.unmet,
        conflicts=result.conflicts,
        channel_summary=_channel_summary(
            slots,
            result.unmet,
            channels,
            planned_pairs,
            {
                k: audience_lookup.label(hub, audience_lookup.parse_audience(k))
                for k in {u.audience for u in result.unmet}
            },
        ),
        notes=notes,
        holidays=holidays,
        action=action,
        created_at=to_iso(now),
        created_by=actor,
    )
    saved = save_plan(
        hub, plan, expected_version if expected_version is not None else (current.version if current else 0)
    )
    for key, ov in overrides.items():
        if any(slot.audience.key == key for slot in saved.slots):
            variants.log_exposure(hub, ov, ov.unit_id, now)
    return saved


def replan(
    hub: Hub, week: date, actor: str, *, expected_version: int | None = None, now: datetime | None = None
) -> Plan:
    """Plan the week again with the same channels and audiences, keeping locked and published slots."""
    plan = get_plan(hub, week)
    return generate(
        hub,
        plan.week_start,
        plan.channels,
        plan.audiences,
        actor,
        expected_version=plan.version if expected_version is None else expected_version,
        now=now,
        action="replan",
    )


class SentPost(BaseModel):
    """What actually went out on a past day: delivered events grouped by local day, channel and asset."""

    day: date
    channel: str
    asset_id: str
    asset_title: str | None = None
    deliveries: int
    first_at: str
    slot_id: str | None = None


SENT_EVENTS_READ = 50000
"""Delivered events read for one week's history (a publish to a large audience writes one per member)."""


def sent_in_week(hub: Hub, week: date, now: datetime) -> list[SentPost]:
    """Delivered events of the week's days before `now`, in the hub's time zone: the past days' truth.

    Planned slots say what was meant to go out; delivered events (from publishing, bots and journeys) say
    what did, so the calendar shows these for days that are over.
    """
    zone = ZoneInfo(hub.settings.timezone)
    week = week_start_of(week)
    begin = datetime(week.year, week.month, week.day, tzinfo=zone)
    if begin > now:
        return []
    until = min(begin + timedelta(days=7), now.astimezone(zone))
    if until <= begin:
        return []
    q = EventQuery(types=("delivered",), since=begin, until=until, limit=SENT_EVENTS_READ, newest_first=False)
    groups_: dict[tuple[date, str, str], dict[str, Any]] = {}
    for event in hub.store.query_events(q):
        local = from_iso(event["ts"]).astimezone(zone)
        key = (local.date(), event.get("channel") or "", event.get("asset_id") or "")
        entry = groups_.setdefault(
            key, {"n": 0, "first": event["ts"], "slot": (event.get("attributes") or {}).get("slot_id")}
        )
        entry["n"] += 1
    docs = hub.store.get_assets(sorted({k[2] for k in groups_ if k[2]}))
    return [
        SentPost(
            day=day,
            channel=channel,
            asset_id=asset,
            asset_title=(docs.get(asset) or {}).get("title"),
            deliveries=e["n"],
            first_at=e["first"],
            slot_id=e["slot"],
        )
        for (day, channel, asset), e in sorted(groups_.items(), key=lambda kv: (kv[0], kv[1]["first"]))
    ]


def rules_by_key(hub: Hub) -> dict[tuple[str, str], CadenceRule]:
    return validate_rule_set(rule_set(hub))
