"""Weekly publish plan: which content type goes to which channel and audience at what local time.

Pure and deterministic: rules, best-time scores, holiday marks, locked slots and already-sent counts come
in; slots and explanations go out. Storage and HTTP are the caller's business.

How a week is planned (greedy, one post per channel/audience per round so audiences that share a cap —
`cap_scope='channel'` — take turns instead of the first one taking everything):
1. Candidate times are the rule's open hours on allowed, non-blackout local days of the week. They are built
   from local wall-clock times, so DST weeks keep windows local; hours that do not exist (spring forward)
   are skipped and an ambiguous hour (fall back) is its first occurrence.
2. The next content type is the one furthest below its mix minimum; after the minima the weekly target
   is filled with types that still have room under their mix maximum.
3. The time is the open, cap-respecting candidate with the best best-time score, damped for days that
   already have a post (spread) and lifted on a holiday and its eve.
4. The picker chooses the asset. None means no eligible asset: no slot, and that type is not asked again.
Hard limits (caps incl. locked slots and already-sent posts, windows, weekdays, blackouts, gap, mix maxima)
are never broken; minima and targets that could not be reached are listed in `unmet` with reasons.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contenthub.i18n import _, current_language
from contenthub.labels import label
from contenthub.localtime import format_local, zone_label
from contenthub.occasions import HolidayMark, raises_cadence

from .besttime import prior_curve
from .rules import (
    CHANNELS,
    CONTENT_TYPES,
    HOLIDAY_SCENE,
    Audience,
    CadenceRule,
    Channel,
    ContentType,
    month_key,
)

SPREAD = 0.35
"""Score multiplier per post the same channel/audience already has on that day: spreads posts over the week."""
HOLIDAY_DAY_BONUS = 1.5
"""Score multiplier on a holiday/marketing date and its eve in a holiday week."""

_HOLIDAY_FILL_ORDER: tuple[ContentType, ...] = (
    "promotional",
    "interactive",
    "brand_story",
    "entertainment",
    "educational",
    "practical",
)


# ---- models at the edge ---------------------------------------------------------------------------------


class Slot(BaseModel):
    """One planned post. `start` is aware and in the rule's time zone; `locked` slots are never re-planned."""

    id: str
    channel: Channel
    audience: Audience
    start: AwareDatetime
    content_type: ContentType
    scene: str | None = None
    asset_id: str
    asset_title: str | None = None
    locked: bool = False
    rationale: list[str] = Field(default_factory=list)


class PickRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    channel: Channel
    audience: Audience
    content_type: ContentType
    scene: str | None
    start: AwareDatetime
    exclude_asset_ids: frozenset[str]


class Pick(BaseModel):
    asset_id: str
    title: str | None = None
    scene: str | None = None
    reason: str | None = None


class AlreadySent(BaseModel):
    """Posts already published (not in existing_slots) for one channel+audience.

    `week` counts the plan's week, `days` those of its days that have posts, `months` whole calendar months
    ('YYYY-MM'), `last_sent_at` the latest send (for the gap). `week_types` gives the content types of this
    week's posts when known: they then count toward the mix and the weekly minimum/target as well.
    """

    week: int = Field(default=0, ge=0)
    days: dict[date, int] = Field(default_factory=dict)
    months: dict[str, int] = Field(default_factory=dict)
    last_sent_at: AwareDatetime | None = None
    week_types: dict[ContentType, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _types_within_week(self) -> AlreadySent:
        if sum(self.week_types.values()) > self.week:
            raise ValueError(f"week_types add up to {sum(self.week_types.values())} > week ({self.week})")
        return self


class Unmet(BaseModel):
    """A minimum or target the week does not reach, with reasons a person can act on."""

    channel: Channel
    audience: str
    rule: str
    wanted: int
    planned: int
    reasons: list[str]


class Violation(BaseModel):
    """A hard rule a slot would break; `rule` names the rule field (e.g. 'max_per_day', 'mix.promotional.max')."""

    channel: Channel
    audience: str
    rule: str
    limit: int | str | None = None
    actual: int | str | None = None
    message: str
    slot_id: str | None = None


class PlanResult(BaseModel):
    week_start: date
    slots: list[Slot]
    unmet: list[Unmet]
    conflicts: list[Violation] = Field(default_factory=list)
    """Locked slots that break a rule (kept anyway: locked means the operator decided)."""


Picker = Callable[[PickRequest], Pick | None]
BestTime = Mapping[tuple[str, str], np.ndarray]


# ---- small helpers ------------------------------------------------------------------------------------------


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _epoch(moment: datetime) -> int:
    # aware subtraction with one shared tzinfo ignores DST offset changes, so compare epochs instead
    return int(moment.timestamp())


def slot_id(channel: str, audience: Audience, start: datetime, content_type: str) -> str:
    """Stable id: same channel, audience, instant and type → same id (ICS UIDs rely on it)."""
    raw = f"{channel}|{audience.key}|{_epoch(start)}|{content_type}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def index_rules(rules: Iterable[CadenceRule]) -> dict[tuple[str, str], CadenceRule]:
    index: dict[tuple[str, str], CadenceRule] = {}
    for rule in rules:
        key = (rule.channel, rule.audience.key)
        if key in index:
            raise ValueError(f"two cadence rules for channel {key[0]} and audience {key[1]}; keep one")
        index[key] = rule
    return index


def resolve_rule(index: Mapping[tuple[str, str], CadenceRule], channel: str, audience: Audience) -> CadenceRule | None:
    """The audience's own rule, else the channel's rule for audience 'all', else None (no limits)."""
    return index.get((channel, audience.key)) or index.get((channel, "all"))


def _scope_key(rule: CadenceRule, channel: str, audience: Audience) -> tuple[str, str]:
    return (channel, "*") if rule.cap_scope == "channel" else (channel, audience.key)


def _holiday_dates(holidays: Sequence[HolidayMark], week_start: date) -> dict[date, list[str]]:
    days = {week_start + timedelta(days=i) for i in range(7)}
    found: dict[date, list[str]] = {}
    for mark in holidays:
        if raises_cadence(mark) and mark.date in days:
            found.setdefault(mark.date, []).append(mark.label(current_language()))
    return found


def _holiday_names(holiday_days: Mapping[date, list[str]]) -> str:
    """'国庆节 10-01…10-04, 双11 11-11' (or 'National Day 10-01…10-04' in English): one entry per name with its
    first and last day."""
    spans: dict[str, list[date]] = {}
    for day in sorted(holiday_days):
        for name in holiday_days[day]:
            spans.setdefault(name, []).append(day)
    parts = []
    for name, days in spans.items():
        first, last = days[0], days[-1]
        parts.append(f"{name} {first:%m-%d}" + (f"…{last:%m-%d}" if last != first else ""))
    return _(", ").join(parts)


# ---- planner state ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    start: datetime
    epoch: int
    day: date
    month: str
    weekday: int
    hour: int


@dataclass
class _Scope:
    """Counts shared by everything a cap applies to (one audience, or a whole channel)."""

    zone: ZoneInfo
    timezone: str
    epochs: list[int] = field(default_factory=list)
    per_day: Counter[date] = field(default_factory=Counter)
    per_month: Counter[str] = field(default_factory=Counter)
    week: int = 0

    def add(self, start: datetime, in_week: bool) -> None:
        """Count a post; posts outside the plan's week still count for their month and the gap."""
        bisect.insort(self.epochs, _epoch(start))
        local = start.astimezone(self.zone)
        self.per_day[local.date()] += 1
        self.per_month[month_key(local.date())] += 1
        self.week += int(in_week)


@dataclass
class _Pair:
    channel: Channel
    audience: Audience
    rule: CadenceRule
    scope: _Scope
    candidates: list[_Candidate]
    base: np.ndarray
    static_notes: list[str]
    holiday_week: bool
    target: int
    cap_week: int | None
    types: Counter[str] = field(default_factory=Counter)
    day_counts: Counter[date] = field(default_factory=Counter)
    total: int = 0
    no_asset: set[str] = field(default_factory=set)
    blocked: list[str] = field(default_factory=list)
    month_caps: dict[str, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.month_caps = {c.month: self.rule.month_cap(c.day.year, c.day.month) for c in self.candidates}


def _candidates(rule: CadenceRule, week_start: date) -> tuple[list[_Candidate], list[str]]:
    zone, notes = rule.zone, []
    blackout = set(rule.blackout_dates)
    found: list[_Candidate] = []
    for offset in range(7):
        day = week_start + timedelta(days=offset)
        if day.weekday() not in rule.allowed_weekdays:
            continue
        if day in blackout:
            notes.append(_("{rule}: {day} closed").format(rule=label("rule", "blackout_dates"), day=day.isoformat()))
            continue
        for hour in rule.open_hours:
            start = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
            back = start.astimezone(UTC).astimezone(zone)
            if back.replace(tzinfo=None) != start.replace(tzinfo=None):
                notes.append(
                    _("{day} {hour:02d}:00 does not exist in {zone} (DST)").format(
                        day=day.isoformat(), hour=hour, zone=zone_label(rule.zone)
                    )
                )
                continue
            found.append(_Candidate(start, _epoch(start), day, month_key(day), day.weekday(), hour))
    return found, notes


def _future(
    found: list[_Candidate], notes: list[str], rule: CadenceRule, not_before: datetime | None
) -> tuple[list[_Candidate], list[str]]:
    """Candidates at or after `not_before`; the ones dropped are named in a note (the week has begun)."""
    if not_before is None:
        return found, notes
    cut = _epoch(not_before)
    future = [c for c in found if c.epoch >= cut]
    if len(future) < len(found):
        local = not_before.astimezone(rule.zone)
        past = _("{n} open hours are already past (now {now} {zone}); the past is not planned").format(
            n=len(found) - len(future), now=format_local(local, "EEE MM-dd HH:mm"), zone=zone_label(rule.zone)
        )
        notes = [*notes, past]
    return future, notes


def _block_reason(pair: _Pair, cand: _Candidate) -> str | None:
    """Which hard limit stops a post at this candidate time, or None if it fits."""
    rule, scope = pair.rule, pair.scope
    if rule.max_per_day is not None and scope.per_day[cand.day] >= rule.max_per_day:
        return "max_per_day"
    if pair.cap_week is not None and scope.week >= pair.cap_week:
        return "max_per_week"
    month_cap = pair.month_caps[cand.month]
    if month_cap is not None and scope.per_month[cand.month] >= month_cap:
        return "max_per_month"
    epochs, gap = scope.epochs, rule.min_gap_minutes * 60
    i = bisect.bisect_left(epochs, cand.epoch)
    for j in (i - 1, i):
        if 0 <= j < len(epochs):
            distance = abs(epochs[j] - cand.epoch)
            if distance == 0:
                return "taken"
            if distance < gap:
                return "min_gap_minutes"
    return None


def _explain_block(pair: _Pair) -> list[str]:
    rule = pair.rule
    shared = (
        _(", shared by every audience of {channel}").format(channel=label("channel", pair.channel))
        if (rule.cap_scope == "channel")
        else ""
    )
    if not pair.candidates:
        return [
            _("no open hour this week: {weekdays}, {windows} and {blackout} leave no time").format(
                weekdays=label("rule", "allowed_weekdays"),
                windows=label("rule", "windows"),
                blackout=label("rule", "blackout_dates"),
            ),
            *pair.static_notes,
        ]
    counts = Counter(_block_reason(pair, c) for c in pair.candidates)
    if counts.get("max_per_week"):
        return [
            _("{rule} reached: {used} of {limit}{shared}").format(
                rule=label("rule", "max_per_week"), used=pair.scope.week, limit=pair.cap_week, shared=shared
            )
        ]
    limits = {
        "max_per_day": _("{rule} ({limit} per day{shared})").format(
            rule=label("rule", "max_per_day"), limit=rule.max_per_day, shared=shared
        ),
        "max_per_month": _("{rule} ({limit}{shared}; counts already-sent posts)").format(
            rule=label("rule", "max_per_month"), limit=rule.max_per_month, shared=shared
        ),
        "min_gap_minutes": _("{rule} ({limit}{shared})").format(
            rule=label("rule", "min_gap_minutes"), limit=rule.min_gap_minutes, shared=shared
        ),
        "taken": _("another post at the same time"),
    }
    parts = [
        _("{n} by {limit}").format(n=n, limit=limits[k])
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        if k
    ]
    return [
        _("all {n} open hours are blocked: {parts}").format(n=len(pair.candidates), parts=_(", ").join(parts)),
        *pair.static_notes,
    ]


def _next_type(pair: _Pair) -> tuple[ContentType, str] | None:
    mix = pair.rule.mix
    order = _HOLIDAY_FILL_ORDER if pair.holiday_week else CONTENT_TYPES
    live = [t for t in order if t in mix and t not in pair.no_asset and pair.types[t] < mix[t][1]]
    below = [t for t in live if pair.types[t] < mix[t][0]]
    if below:
        kind = max(below, key=lambda t: (mix[t][0] - pair.types[t], -order.index(t)))
        return kind, _("{type}: mix minimum {minimum}/week ({planned} planned before)").format(
            type=label("content_type", kind), minimum=mix[kind][0], planned=pair.types[kind]
        )
    if pair.total >= pair.target or not live:
        return None
    kind = min(live, key=lambda t: (pair.types[t] / mix[t][1], order.index(t)))
    why = _("holiday week target") if pair.holiday_week else _("weekly target")
    return kind, _("{type}: {target_name} {target}/week ({planned} planned before)").format(
        type=label("content_type", kind), target_name=why, target=pair.target, planned=pair.total
    )


def _minimum_left(pair: _Pair, kind: str) -> int:
    """Posts still needed for the minima after one more `kind` post (types without assets excluded)."""
    types = pair.types.copy()
    types[kind] += 1
    deficit = sum(max(0, low - types[t]) for t, (low, _ignored) in pair.rule.mix.items() if t not in pair.no_asset)
    return max(pair.rule.min_per_week - pair.total - 1, deficit)


def _room_after(pair: _Pair, chosen: _Candidate, need: int) -> bool:
    """Can `need` more posts still fit once `chosen` is taken? Earliest-first placement is optimal for
    "at least gap apart, at most k per day/week/month", so one chronological pass answers it exactly
    (for this channel/audience on its own; audiences sharing a cap may still take the room first)."""
    if need <= 0:
        return True
    rule, scope = pair.rule, pair.scope
    gap = rule.min_gap_minutes * 60
    days, months = Counter({chosen.day: 1}), Counter({chosen.month: 1})
    taken = [chosen.epoch]  # chronological list of the points this pass adds
    week = scope.week + 1
    found = 0
    for cand in pair.candidates:
        if pair.cap_week is not None and week >= pair.cap_week:
            return False
        if rule.max_per_day is not None and scope.per_day[cand.day] + days[cand.day] >= rule.max_per_day:
            continue
        month_cap = pair.month_caps[cand.month]
        if month_cap is not None and scope.per_month[cand.month] + months[cand.month] >= month_cap:
            continue
        if any(abs(cand.epoch - t) < max(gap, 1) for t in taken):
            continue
        i = bisect.bisect_left(scope.epochs, cand.epoch)
        if any(0 <= j < len(scope.epochs) and abs(scope.epochs[j] - cand.epoch) < max(gap, 1) for j in (i - 1, i)):
            continue
        bisect.insort(taken, cand.epoch)
        days[cand.day] += 1
        months[cand.month] += 1
        week += 1
        found += 1
        if found >= need:
            return True
    return False


def _step(
    pair: _Pair,
    picker: Picker,
    used_assets: dict[str, set[str]],
    holiday_days: dict[date, list[str]],
    slots: list[Slot],
) -> bool:
    """Place at most one post for the pair; False when the pair can take no more."""
    nxt = _next_type(pair)
    if nxt is None:
        return False
    kind, why_type = nxt
    ranked: list[tuple[float, int]] = []
    for index, cand in enumerate(pair.candidates):
        if _block_reason(pair, cand) is not None:
            continue
        score = float(pair.base[index]) * SPREAD ** pair.day_counts[cand.day]
        if pair.holiday_week and (cand.day in holiday_days or cand.day + timedelta(days=1) in holiday_days):
            score *= HOLIDAY_DAY_BONUS
        ranked.append((-score, index))
    if not ranked:
        pair.blocked = _explain_block(pair)
        return False
    ranked.sort()
    need = _minimum_left(pair, kind)
    # the best-scoring time that still leaves room for the remaining minima; else simply the best one
    best_index = next((i for _ignored, i in ranked if _room_after(pair, pair.candidates[i], need)), ranked[0][1])
    best = pair.candidates[best_index]
    scene = HOLIDAY_SCENE if pair.holiday_week else None
    exclude = used_assets.setdefault(pair.audience.key, set())
    request = PickRequest(
        channel=pair.channel,
        audience=pair.audience,
        content_type=kind,
        scene=scene,
        start=best.start,
        exclude_asset_ids=frozenset(exclude),
    )
    pick = picker(request)
    if pick is None:
        pair.no_asset.add(kind)
        return True
    if pick.asset_id in exclude:
        raise ValueError(f"picker returned excluded asset {pick.asset_id} for {pair.channel}/{pair.audience.key}")
    slots.append(_make_slot(pair, best, best_index, kind, why_type, pick, scene, holiday_days))
    exclude.add(pick.asset_id)
    pair.scope.add(best.start, in_week=True)
    pair.types[kind] += 1
    pair.day_counts[best.day] += 1
    pair.total += 1
    return True


def _make_slot(
    pair: _Pair,
    cand: _Candidate,
    index: int,
    kind: str,
    why_type: str,
    pick: Pick,
    scene: str | None,
    holiday_days: dict[date, list[str]],
) -> Slot:
    base = float(pair.base[index])
    rank = int((pair.base > base).sum()) + 1
    rationale = [
        why_type,
        _("{when} {zone}: best-time score {score:.4f}, rank {rank} of {n} open hours").format(
            when=format_local(cand.start, "EEE HH:mm"),
            zone=zone_label(pair.rule.zone),
            score=base,
            rank=rank,
            n=len(pair.candidates),
        ),
    ]
    if pair.day_counts[cand.day]:
        rationale.append(
            _("spread: {n} post(s) already on {weekday}").format(
                n=pair.day_counts[cand.day], weekday=format_local(cand.start, "EEE")
            )
        )
    if pair.holiday_week:
        rationale.append(
            _("holiday week ({holidays}): preferred scene {scene}").format(
                holidays=_holiday_names(holiday_days), scene=label("scene", HOLIDAY_SCENE)
            )
        )
    rationale.append(
        _("asset {asset}: {reason}").format(asset=pick.asset_id, reason=pick.reason)
        if pick.reason
        else _("asset {asset}").format(asset=pick.asset_id)
    )
    return Slot(
        id=slot_id(pair.channel, pair.audience, cand.start, kind),
        channel=pair.channel,
        audience=pair.audience,
        start=cand.start,
        content_type=kind,
        scene=pick.scene or scene,
        asset_id=pick.asset_id,
        asset_title=pick.title,
        rationale=rationale,
    )


def _no_asset(channel: str, kind: str) -> str:
    return _("no eligible asset for channel {channel} content type {type}").format(
        channel=label("channel", channel), type=label("content_type", kind)
    )


def _unmet(pair: _Pair) -> list[Unmet]:
    rule, found = pair.rule, []

    def entry(name: str, wanted: int, reasons: list[str]) -> Unmet:
        planned = pair.types[name.split(".")[1]] if name.startswith("mix.") else pair.total
        return Unmet(
            channel=pair.channel,
            audience=pair.audience.key,
            rule=name,
            wanted=wanted,
            planned=planned,
            reasons=reasons or [_("stopped before reaching it")],
        )

    no_asset = [_no_asset(pair.channel, t) for t in sorted(pair.no_asset)]
    at_max = all(pair.types[t] >= high for t, (_ignored, high) in rule.mix.items() if t not in pair.no_asset)
    overall = pair.blocked + no_asset + ([_("every other content type is at its mix maximum")] if at_max else [])
    for kind, (low, _high) in rule.mix.items():
        if pair.types[kind] < low:
            why = [_no_asset(pair.channel, kind)] if kind in pair.no_asset else []
            found.append(entry(f"mix.{kind}.min", low, why + pair.blocked))
    if pair.total < rule.min_per_week:
        found.append(entry("min_per_week", rule.min_per_week, overall))
    if pair.total < pair.target and pair.target > rule.effective_min_per_week:
        found.append(entry("holiday_boost" if pair.holiday_week else "target_per_week", pair.target, overall))
    return found


# ---- hard-rule check shared by conflicts and moves -------------------------------------------------------------


def _sum_sent(sent: Iterable[AlreadySent]) -> AlreadySent:
    total = AlreadySent()
    for item in sent:
        total.week += item.week
        for d, n in item.days.items():
            total.days[d] = total.days.get(d, 0) + n
        for m, n in item.months.items():
            total.months[m] = total.months.get(m, 0) + n
        if item.last_sent_at and (total.last_sent_at is None or item.last_sent_at > total.last_sent_at):
            total.last_sent_at = item.last_sent_at
    return total


def slot_violations(
    slot: Slot,
    start: datetime,
    rule: CadenceRule,
    others: Sequence[Slot],
    sent: AlreadySent,
    holiday_dates: Iterable[date],
    sent_week: date | None,
    sent_types: Mapping[ContentType, int] | None = None,
) -> list[Violation]:
    """Hard rules `slot` would break at `start`, given the other slots in its cap scope.

    `sent` counts posts already published in the scope; its `week` (and `sent_types`, the already-published
    content types of the slot's own channel/audience) apply to `sent_week` only.
    """
    zone = rule.zone
    local = start.astimezone(zone)
    day, week = local.date(), week_start_of(local.date())
    found: list[Violation] = []

    def add(name: str, limit: int | str | None, actual: int | str | None, message: str) -> None:
        found.append(
            Violation(
                channel=slot.channel,
                audience=slot.audience.key,
                rule=name,
                limit=limit,
                actual=actual,
                message=message,
                slot_id=slot.id,
            )
        )

    if local.weekday() not in rule.allowed_weekdays:
        add(
            "allowed_weekdays",
            str(rule.allowed_weekdays),
            local.weekday(),
            _("{weekday} is not an allowed weekday").format(weekday=format_local(local, "EEEE")),
        )
    if local.hour not in rule.open_hours:
        add(
            "windows",
            str(rule.windows),
            f"{local:%H:%M}",
            _("{time} {zone} is outside the windows").format(time=f"{local:%H:%M}", zone=zone_label(rule.zone)),
        )
    if day in rule.blackout_dates:
        add(
            "blackout_dates",
            day.isoformat(),
            day.isoformat(),
            _("{day} is a blackout date").format(day=day.isoformat()),
        )
    local_others = [(o, o.start.astimezone(zone)) for o in others]
    if rule.max_per_day is not None:
        count = sum(1 for _ignored, t in local_others if t.date() == day) + sent.days.get(day, 0) + 1
        if count > rule.max_per_day:
            add(
                "max_per_day",
                rule.max_per_day,
                count,
                _("{count} posts on {day} > {rule} {limit}").format(
                    count=count, day=day.isoformat(), rule=label("rule", "max_per_day"), limit=rule.max_per_day
                ),
            )
    holiday = any(week <= d < week + timedelta(days=7) for d in holiday_dates)
    week_cap = rule.week_cap(holiday)
    in_week = [(o, t) for o, t in local_others if week_start_of(t.date()) == week]
    if week_cap is not None:
        count = len(in_week) + (sent.week if week == sent_week else 0) + 1
        if count > week_cap:
            add(
                "max_per_week",
                week_cap,
                count,
                _("{count} posts in week of {week} > {rule} {limit}").format(
                    count=count, week=week.isoformat(), rule=label("rule", "max_per_week"), limit=week_cap
                ),
            )
    month_cap = rule.month_cap(day.year, day.month)
    if month_cap is not None:
        mk = month_key(day)
        count = sum(1 for _ignored, t in local_others if month_key(t.date()) == mk) + sent.months.get(mk, 0) + 1
        if count > month_cap:
            add(
                "max_per_month",
                month_cap,
                count,
                _("{count} posts in {month} > {rule} {limit}").format(
                    count=count, month=mk, rule=label("rule", "max_per_month"), limit=month_cap
                ),
            )
    if rule.min_gap_minutes:
        times = [_epoch(o.start) for o in others] + ([_epoch(sent.last_sent_at)] if sent.last_sent_at else [])
        close = [abs(t - _epoch(start)) // 60 for t in times if abs(t - _epoch(start)) < rule.min_gap_minutes * 60]
        if close:
            add(
                "min_gap_minutes",
                rule.min_gap_minutes,
                min(close),
                _("{minutes} minutes from another post < {rule} {limit}").format(
                    minutes=min(close), rule=label("rule", "min_gap_minutes"), limit=rule.min_gap_minutes
                ),
            )
    if slot.content_type not in rule.mix:
        add(
            "mix",
            ", ".join(rule.mix),
            slot.content_type,
            _("content type {type} is not in the mix").format(type=label("content_type", slot.content_type)),
        )
    else:
        high = rule.mix[slot.content_type][1]
        same = (
            sum(1 for o, _ignored in in_week if o.audience == slot.audience and o.content_type == slot.content_type) + 1
        )
        if week == sent_week and sent_types:
            same += sent_types.get(slot.content_type, 0)
        if same > high:
            add(
                f"mix.{slot.content_type}.max",
                high,
                same,
                _("{count} {type} posts in week of {week} > mix maximum {limit}").format(
                    count=same, type=label("content_type", slot.content_type), week=week.isoformat(), limit=high
                ),
            )
    return found


_SHARED_FIELDS = ("timezone", "max_per_day", "max_per_week", "max_per_month", "min_gap_minutes", "holiday_boost")


def _check_shared_scopes(rules: Iterable[CadenceRule]) -> None:
    """Rules sharing a channel-wide cap must agree on it, or one audience's looser cap would break another's."""
    first: dict[str, CadenceRule] = {}
    for rule in rules:
        if rule.cap_scope != "channel":
            continue
        other = first.setdefault(rule.channel, rule)
        differing = [f for f in _SHARED_FIELDS if getattr(rule, f) != getattr(other, f)]
        if differing:
            raise ValueError(
                f"rules of {rule.channel} with cap_scope 'channel' ({other.audience.key}, {rule.audience.key}) "
                f"differ in {', '.join(differing)}; a shared cap needs one value"
            )


def validate_rule_set(rules: Iterable[CadenceRule]) -> dict[tuple[str, str], CadenceRule]:
    """Check a whole rule set before it is stored: one rule per channel/audience, and rules that share a
    channel-wide cap agree on it. Returns the index; raises ValueError naming the clash."""
    rules = list(rules)
    index = index_rules(rules)
    _check_shared_scopes(rules)
    return index


def _scope_members(
    slots: Iterable[Slot], slot: Slot, rule: CadenceRule, index: Mapping[tuple[str, str], CadenceRule]
) -> list[Slot]:
    """Other slots counted against the same caps as `slot` (same channel, and same audience unless shared)."""
    key = _scope_key(rule, slot.channel, slot.audience)
    members = []
    for other in slots:
        if other.id == slot.id or other.channel != slot.channel:
            continue
        other_rule = resolve_rule(index, other.channel, other.audience)
        if other_rule is not None and _scope_key(other_rule, other.channel, other.audience) == key:
            members.append(other)
    return members


def _scope_sent(
    already_sent: Mapping[tuple[str, str], AlreadySent],
    slot: Slot,
    rule: CadenceRule,
    index: Mapping[tuple[str, str], CadenceRule],
) -> AlreadySent:
    key = _scope_key(rule, slot.channel, slot.audience)
    chosen = []
    for (channel, audience_key), counts in sorted(already_sent.items()):
        audience = Audience.from_key(audience_key)
        other_rule = resolve_rule(index, channel, audience)
        if other_rule is not None and _scope_key(other_rule, channel, audience) == key:
            chosen.append(counts)
    return _sum_sent(chosen)


def check_slot_move(
    plan_slots: Sequence[Slot],
    slot_id: str,
    new_start: datetime,
    rules: Sequence[CadenceRule],
    already_sent: Mapping[tuple[str, str], AlreadySent] | None = None,
    holidays: Sequence[HolidayMark] = (),
    not_before: datetime | None = None,
) -> list[Violation]:
    """Hard rules broken if slot `slot_id` moved to `new_start`; empty means the move is allowed.
    A `new_start` before `not_before` (now) breaks rule 'past': nothing is planned into the past.

    Raises KeyError for an unknown slot id and ValueError for a naive `new_start`.
    `already_sent` describes the week the slot is in now (and any months), as for `plan_week`.
    """
    if new_start.tzinfo is None or new_start.utcoffset() is None:
        raise ValueError("new_start needs a time zone")
    slot = next((s for s in plan_slots if s.id == slot_id), None)
    if slot is None:
        raise KeyError(slot_id)
    _check_shared_scopes(rules)
    index = index_rules(rules)
    rule = resolve_rule(index, slot.channel, slot.audience)
    past = []
    if not_before is not None and _epoch(new_start) < _epoch(not_before):
        zone = rule.zone if rule is not None else new_start.tzinfo
        past = [
            Violation(
                channel=slot.channel,
                audience=slot.audience.key,
                rule="past",
                limit=not_before.isoformat(),
                actual=new_start.isoformat(),
                slot_id=slot.id,
                message=_("{when} is in the past (now {now})").format(
                    when=format_local(new_start.astimezone(zone), "EEE yyyy-MM-dd HH:mm"),
                    now=format_local(not_before.astimezone(zone), "EEE yyyy-MM-dd HH:mm"),
                ),
            )
        ]
    if rule is None:
        return past
    sent = _scope_sent(already_sent or {}, slot, rule, index)
    current_week = week_start_of(slot.start.astimezone(rule.zone).date())
    dates = [m.date for m in holidays if raises_cadence(m)]
    moved = slot.model_copy(update={"start": new_start})
    members = _scope_members(plan_slots, slot, rule, index)
    own = (already_sent or {}).get((slot.channel, slot.audience.key))
    return past + slot_violations(
        moved, new_start, rule, members, sent, dates, current_week, own.week_types if own else None
    )


# ---- the planner -------------------------------------------------------------------------------------------------


def plan_week(
    week_start: date,
    rules: Sequence[CadenceRule],
    audiences: Sequence[Audience] | None,
    best_time: BestTime | None,
    holidays: Sequence[HolidayMark],
    existing_slots: Sequence[Slot],
    picker: Picker,
    already_sent: Mapping[tuple[str, str], AlreadySent] | None = None,
    not_before: datetime | None = None,
) -> PlanResult:
    """Plan one local week (Monday `week_start` 00:00 to next Monday, in each rule's time zone).

    `audiences` None plans each rule's own audience; otherwise every audience gets every channel whose rule
    resolves for it (its own rule, else the channel's 'all' rule). `best_time` is keyed (channel, audience
    key) with a (channel, 'all') and then the channel prior as fallbacks. Unlocked `existing_slots` are
    replaced; locked ones are kept and count toward every cap. `already_sent` is keyed (channel, audience key).
    `not_before` (aware; usually "now") drops every candidate time before it: a plan never creates a slot in
    the past, and the current week is planned from the next allowed send time on.
    """
    if not_before is not None and (not_before.tzinfo is None or not_before.utcoffset() is None):
        raise ValueError("not_before needs a time zone")
    if week_start.weekday() != 0:
        raise ValueError(f"week_start {week_start.isoformat()} is a {week_start:%A}; weeks start on Monday")
    index = index_rules(rules)
    _check_shared_scopes(rules)
    sent = dict(already_sent or {})
    best_time = best_time or {}
    holiday_days = _holiday_dates(holidays, week_start)
    week_end = week_start + timedelta(days=7)

    scopes: dict[tuple[str, str], _Scope] = {}

    def scope_for(rule: CadenceRule, channel: str, audience: Audience) -> _Scope:
        key = _scope_key(rule, channel, audience)
        scope = scopes.get(key)
        if scope is None:
            scope = scopes[key] = _Scope(rule.zone, rule.timezone)
        return scope

    pair_types: dict[tuple[str, str], Counter[str]] = {}
    # posts already published count toward caps and the gap
    for (channel, audience_key), counts in sorted(sent.items()):
        audience = Audience.from_key(audience_key)
        rule = resolve_rule(index, channel, audience)
        if rule is None:
            continue
        scope = scope_for(rule, channel, audience)
        in_week = sum(n for d, n in counts.days.items() if week_start <= d < week_end)
        scope.week += max(counts.week, in_week)
        scope.per_day.update(counts.days)
        scope.per_month.update(counts.months)
        if counts.last_sent_at is not None:
            bisect.insort(scope.epochs, _epoch(counts.last_sent_at))
        if counts.week_types:
            pair_types.setdefault((channel, audience_key), Counter()).update(counts.week_types)

    # locked slots are kept as they are and count like any other post
    kept: list[Slot] = []
    used_assets: dict[str, set[str]] = {}
    pair_days: dict[tuple[str, str], Counter[date]] = {}
    for slot in sorted((s for s in existing_slots if s.locked), key=lambda s: (_epoch(s.start), s.id)):
        rule = resolve_rule(index, slot.channel, slot.audience)
        zone = rule.zone if rule else slot.start.tzinfo
        local_day = slot.start.astimezone(zone).date()
        in_week = week_start <= local_day < week_end
        if rule is not None:
            scope_for(rule, slot.channel, slot.audience).add(slot.start, in_week)
        if not in_week:
            continue
        kept.append(slot)
        key = (slot.channel, slot.audience.key)
        used_assets.setdefault(slot.audience.key, set()).add(slot.asset_id)
        pair_types.setdefault(key, Counter())[slot.content_type] += 1
        pair_days.setdefault(key, Counter())[local_day] += 1

    conflicts = _locked_conflicts(kept, index, sent, holiday_days, week_start)

    # channel/audience pairs in a stable order
    if audiences is None:
        wanted = [(r.channel, r.audience) for r in rules]
    else:
        wanted = [(c, a) for a in audiences for c in CHANNELS if resolve_rule(index, c, a) is not None]
    wanted = sorted(set(wanted), key=lambda ca: (CHANNELS.index(ca[0]), ca[1].key))

    cache: dict[int, tuple[list[_Candidate], list[str]]] = {}
    priors: dict[str, np.ndarray] = {}
    pairs: list[_Pair] = []
    for channel, audience in wanted:
        rule = resolve_rule(index, channel, audience)
        assert rule is not None
        if id(rule) not in cache:
            cache[id(rule)] = _future(*_candidates(rule, week_start), rule, not_before)
        candidates, notes = cache[id(rule)]
        scores = best_time.get((channel, audience.key))
        if scores is None:
            scores = best_time.get((channel, "all"))
        if scores is None:
            if channel not in priors:
                priors[channel] = prior_curve(channel)
            scores = priors[channel]
        scores = np.asarray(scores, dtype=float)
        if scores.shape != (7, 24):
            raise ValueError(f"best_time[{channel}, {audience.key}] has shape {scores.shape}; need (7, 24)")
        holiday_week = bool(holiday_days)
        key = (channel, audience.key)
        types = pair_types.get(key, Counter())
        pairs.append(
            _Pair(
                channel=channel,
                audience=audience,
                rule=rule,
                scope=scope_for(rule, channel, audience),
                candidates=candidates,
                base=np.array([scores[c.weekday, c.hour] for c in candidates]),
                static_notes=notes,
                holiday_week=holiday_week,
                target=rule.week_target(holiday_week),
                cap_week=rule.week_cap(holiday_week),
                types=Counter(types),
                day_counts=Counter(pair_days.get(key, Counter())),
                total=sum(types.values()),
            )
        )

    slots: list[Slot] = []
    active = pairs
    while active:
        active = [p for p in active if _step(p, picker, used_assets, holiday_days, slots)]

    every = kept + slots
    every.sort(key=lambda s: (_epoch(s.start), CHANNELS.index(s.channel), s.audience.key, s.id))
    unmet = [u for p in pairs for u in _unmet(p)]
    return PlanResult(week_start=week_start, slots=every, unmet=unmet, conflicts=conflicts)


def _locked_conflicts(
    kept: Sequence[Slot],
    index: Mapping[tuple[str, str], CadenceRule],
    sent: Mapping[tuple[str, str], AlreadySent],
    holiday_days: Mapping[date, list[str]],
    week_start: date,
) -> list[Violation]:
    conflicts: list[Violation] = []
    for position, slot in enumerate(kept):
        rule = resolve_rule(index, slot.channel, slot.audience)
        if rule is None:
            continue
        # a locked slot is checked against the locked slots before it, so a pair over a cap is reported once
        members = _scope_members(kept[:position], slot, rule, index)
        own = sent.get((slot.channel, slot.audience.key))
        conflicts += slot_violations(
            slot,
            slot.start,
            rule,
            members,
            _scope_sent(sent, slot, rule, index),
            list(holiday_days),
            week_start,
            own.week_types if own else None,
        )
    return conflicts
