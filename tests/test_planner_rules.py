"""Publish planner: cadence rule validation, holidays, best-time scores, weekly plans and exports.

The plan property test checks every hard rule with its own counting code (not the planner's), so a
planner bug cannot hide behind a shared helper.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import icalendar
import numpy as np
import pytest
from pydantic import ValidationError

from contenthub.i18n import use_language
from contenthub.occasions import (
    DEFAULT_MARKETING_DATES,
    HolidayMark,
    MarketingDate,
    dates_in_week,
    raises_cadence,
    statutory_years,
)
from contenthub.publish.besttime import best_time_scores, prior_curve
from contenthub.publish.export import to_csv, to_ics
from contenthub.publish.planner import (
    AlreadySent,
    Pick,
    PickRequest,
    PlanResult,
    Slot,
    check_slot_move,
    plan_week,
    slot_id,
)
from contenthub.publish.rules import (
    CHANNELS,
    CONTENT_TYPES,
    Audience,
    CadenceRule,
    default_rules,
)

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
ALL = Audience()
G1 = Audience(kind="group", id="g1")


def counting_picker(refuse: set[str] = frozenset(), pool: int = 1000):  # type: ignore[assignment]
    """Gives asset '<type>-<n>' (first not excluded) and records requests; refuses the listed content types."""
    requests: list[PickRequest] = []

    def pick(request: PickRequest) -> Pick | None:
        requests.append(request)
        if request.content_type in refuse:
            return None
        for n in range(pool):
            asset = f"{request.content_type}-{n}"
            if asset not in request.exclude_asset_ids:
                return Pick(asset_id=asset, title=f"Title {asset}", scene=request.scene)
        return None

    pick.requests = requests  # type: ignore[attr-defined]
    return pick


# ---- rule validation ---------------------------------------------------------------------------------------

CONTRADICTIONS = [
    (dict(min_per_week=5, max_per_week=3, mix={"educational": (0, 7)}), ["min_per_week (5)", "max_per_week (3)"]),
    (
        dict(max_per_week=3, mix={"educational": (2, 3), "practical": (2, 3)}),
        ["sum of mix minima (4)", "max_per_week (3)"],
    ),
    (
        dict(max_per_day=1, allowed_weekdays=[0, 2], min_per_week=3, mix={"educational": (0, 5)}),
        ["max_per_day (1)", "allowed_weekdays (2)", "min_per_week (3)"],
    ),
    (
        dict(min_per_week=4, mix={"educational": (0, 2), "practical": (0, 1)}),
        ["min_per_week (4)", "sum of mix maxima (3)"],
    ),
    (
        dict(windows=[(20, 21)], min_gap_minutes=3000, mix={"educational": (4, 4)}),
        ["min_gap_minutes (3000)", "fit only 3"],
    ),
    (dict(max_per_month=2, mix={"educational": (3, 3)}), ["max_per_month (2)", "sum of mix minima (3)"]),
    (dict(target_per_week=5, max_per_week=4, mix={"educational": (0, 9)}), ["target_per_week (5)", "max_per_week (4)"]),
    (dict(target_per_week=1, mix={"educational": (2, 3)}), ["target_per_week (1)", "sum of mix minima (2)"]),
    (dict(windows=[]), ["windows", "at least one"]),
    (dict(windows=[(20, 18)]), ["windows[0]", "[20, 18)"]),
    (dict(windows=[(22, 25)]), ["windows[0]"]),
    (dict(allowed_weekdays=[]), ["allowed_weekdays"]),
    (dict(allowed_weekdays=[7]), ["allowed_weekdays", "[7]"]),
    (dict(mix={"educational": (3, 2)}), ["mix.educational", "min 3", "max 2"]),
]


@pytest.mark.parametrize(("settings", "named"), CONTRADICTIONS)
def test_contradictory_rule_is_refused_naming_the_fields(settings: dict, named: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        CadenceRule(channel="sms", **settings)
    message = str(caught.value)
    for fragment in named:
        assert fragment in message


def test_unknown_timezone_names_field_and_example() -> None:
    with pytest.raises(ValidationError) as caught:
        CadenceRule(channel="sms", timezone="Mars/Olympus_Mons")
    error = caught.value.errors()[0]
    assert error["loc"] == ("timezone",)
    assert "Mars/Olympus_Mons" in error["msg"] and "Asia/Shanghai" in error["msg"]


def test_consistent_rule_is_accepted_and_audience_ids_are_checked() -> None:
    rule = CadenceRule(
        channel="moments",
        max_per_day=2,
        max_per_week=6,
        min_per_week=4,
        mix={"educational": (2, 3), "practical": (2, 3)},
        timezone="Europe/London",
    )
    assert rule.effective_min_per_week == 4
    with pytest.raises(ValidationError, match="audience.id is required"):
        Audience(kind="group")
    with pytest.raises(ValidationError, match="must be empty"):
        Audience(kind="all", id="x")
    assert Audience.from_key(G1.key) == G1


def test_default_rules_follow_platform_limits() -> None:
    rules = {r.channel: r for r in default_rules()}
    assert set(rules) == set(CHANNELS)
    assert rules["mp_subscription"].max_per_day == 1 and rules["mp_subscription"].cap_scope == "channel"
    assert rules["mp_service"].max_per_month == 4
    for channel in ("wecom_1v1", "wecom_group"):
        assert rules[channel].month_cap(2026, 2) == 28 and rules[channel].month_cap(2026, 1) == 31
    for channel in ("moments", "channels", "xiaohongshu", "douyin", "miniprogram", "app_push", "sms"):
        rule = rules[channel]
        assert rule.max_per_day is None and rule.max_per_week is None and rule.max_per_month is None
        assert rule.mix["educational"] == (2, 3) and rule.mix["practical"] == (2, 3)
        assert rule.mix["entertainment"] == (1, 2) and rule.mix["interactive"] == (1, 2)
    assert all(r.timezone == "Asia/Shanghai" for r in rules.values())


# ---- holidays ----------------------------------------------------------------------------------------------


def test_statutory_holiday_and_adjusted_working_day() -> None:
    marks = dates_in_week(date(2026, 2, 9))  # Mon 9 Feb 2026: Spring Festival starts Sunday 15th
    by_kind = defaultdict(set)
    for mark in marks:
        by_kind[mark.kind].add(mark.date)
    assert date(2026, 2, 15) in by_kind["statutory"]
    assert date(2026, 2, 14) in by_kind["workday_adjusted"]  # Saturday worked (调休)
    assert date(2026, 2, 14) in by_kind["marketing"]  # 情人节
    national_day = dates_in_week(date(2025, 9, 29))
    mark = next(m for m in national_day if m.date == date(2025, 10, 1) and m.kind == "statutory")
    assert (mark.name, mark.name_en, mark.estimated) == ("国庆节", "National Day", False)
    assert mark.label("zh") == "国庆节" and mark.label("en") == "National Day"
    assert not [m for m in dates_in_week(date(2025, 3, 17)) if m.kind == "statutory"]


def test_years_outside_the_library_get_marketing_dates_and_an_estimated_schedule() -> None:
    last = statutory_years()[1]
    week = date(last + 5, 11, 11) - timedelta(days=date(last + 5, 11, 11).weekday())
    assert [m.name for m in dates_in_week(week)] == ["双11"]
    spring = [m for m in dates_in_week(date(2027, 2, 1)) if m.kind == "statutory"]  # 春节 2027-02-06
    assert {m.date for m in spring} == {date(2027, 2, 5), date(2027, 2, 6), date(2027, 2, 7)}
    assert all(m.name == "春节" and m.estimated and m.label("zh") == "春节（预计）" for m in spring)
    assert spring[0].label("en") == "Spring Festival (estimated)"
    mid_autumn_2028 = dates_in_week(date(2028, 10, 2))  # 中秋 2028-10-03 falls in 国庆: one more day off
    assert {m.name for m in mid_autumn_2028 if m.date == date(2028, 10, 3)} == {"中秋节", "国庆节"}
    assert max(m.date for m in mid_autumn_2028 if m.name == "国庆节") == date(2028, 10, 8)
    assert all(not m.estimated for m in dates_in_week(date(2026, 9, 21)))  # published years are official
    assert [m.name for m in dates_in_week(date(2035, 6, 4)) if m.kind == "statutory"] == ["端午节"]


def test_lunar_festivals_and_solar_terms_in_any_year() -> None:
    kinds = {(m.name, m.kind) for m in dates_in_week(date(2031, 12, 22))}
    assert ("冬至", "solar_term") in kinds
    lantern = [m for m in dates_in_week(date(2027, 2, 15)) if m.name == "元宵节"]
    assert lantern and lantern[0].date == date(2027, 2, 20) and lantern[0].kind == "festival"
    solstice = next(m for m in dates_in_week(date(2027, 6, 21)) if m.name == "夏至")
    assert not raises_cadence(solstice)


def test_marketing_dates_are_editable() -> None:
    qixi = MarketingDate(name="七夕节", on=date(2026, 8, 19))
    marks = dates_in_week(date(2026, 8, 17), (*DEFAULT_MARKETING_DATES, qixi))
    assert [(m.date, m.name) for m in marks] == [(date(2026, 8, 19), "七夕"), (date(2026, 8, 19), "七夕节")]
    assert dates_in_week(date(2026, 8, 17), ()) == []
    assert [m.date for m in dates_in_week(date(2029, 8, 13)) if m.name == "七夕"] == [date(2029, 8, 16)]
    with pytest.raises(ValidationError, match="lunar_day"):
        MarketingDate(name="half", lunar_month=7)
    with pytest.raises(ValidationError):
        MarketingDate(name="bad", month=2, day=30)
    with pytest.raises(ValidationError, match="exactly one"):
        MarketingDate(name="both", month=1, day=1, on=date(2026, 1, 1))


# ---- best time ---------------------------------------------------------------------------------------------


def test_best_time_without_data_is_the_channel_prior() -> None:
    scores = best_time_scores([], "Asia/Shanghai", "douyin", prior_strength=20)
    assert scores.shape == (7, 24) and np.isclose(scores.sum(), 1.0)
    assert np.allclose(scores, prior_curve("douyin"))
    day, hour = np.unravel_index(scores.argmax(), scores.shape)
    assert 11 <= hour <= 23  # lunch or evening, never the night
    assert scores[:, 3].max() < scores[:, 21].min()


def test_best_time_follows_data_once_there_is_enough() -> None:
    # Wednesday 15:00 in Shanghai is 07:00 UTC; the prior peaks in the evening
    wed_15 = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
    thin = best_time_scores([wed_15] * 2, "Asia/Shanghai", "moments", prior_strength=100)
    rich = best_time_scores([wed_15 + timedelta(weeks=k) for k in range(400)], "Asia/Shanghai", "moments", 100)
    prior_peak = np.unravel_index(prior_curve("moments").argmax(), (7, 24))
    assert np.unravel_index(thin.argmax(), (7, 24)) == prior_peak
    assert np.unravel_index(rich.argmax(), (7, 24)) == (2, 15)
    assert thin[2, 15] > prior_curve("moments")[2, 15]  # thin data still moves the score a little
    with pytest.raises(ValueError, match="time zone"):
        best_time_scores([datetime(2026, 3, 4, 7)], "Asia/Shanghai", "moments", 10)


# ---- planner: random rule sets against an independent checker ---------------------------------------------

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "UTC"]
WEEKS = [
    date(2025, 9, 29),
    date(2026, 2, 9),
    date(2026, 3, 2),
    date(2026, 3, 30),
    date(2026, 6, 15),
    date(2026, 10, 26),
    date(2026, 11, 9),
    date(2027, 5, 3),
    date(2026, 7, 27),
]


def random_rule_settings(rng: random.Random, week: date) -> dict:
    types = rng.sample(CONTENT_TYPES, rng.randint(1, 6))
    mix = {}
    for kind in types:
        low = rng.choice([0, 0, 1, 1, 2, 3])
        mix[kind] = (low, low + rng.choice([0, 1, 2]))
    hours = sorted(rng.sample(range(25), 2 * rng.randint(1, 3)))
    windows = [(hours[i], hours[i + 1]) for i in range(0, len(hours), 2)]
    return dict(
        allowed_weekdays=rng.sample(range(7), rng.randint(3, 7)),
        windows=windows,
        max_per_day=rng.choice([None, 1, 1, 2, 3]),
        max_per_week=rng.choice([None, None, 3, 5, 8, 12]),
        max_per_month=rng.choice([None, None, 4, 10, "days_in_month"]),
        min_per_week=rng.choice([0, 0, 2, 4]),
        min_gap_minutes=rng.choice([0, 0, 60, 180, 600, 1500]),
        mix=mix,
        blackout_dates=[week + timedelta(days=d) for d in rng.sample(range(7), rng.choice([0, 0, 1, 2]))],
        timezone=rng.choice(ZONES),
        holiday_boost=rng.choice([0, 1, 2]),
    )


def random_case(rng: random.Random) -> dict:
    week = rng.choice(WEEKS)
    channels = rng.sample(CHANNELS, rng.randint(1, 3))
    audiences = [ALL, G1, Audience(kind="segment", id="s1")][: rng.randint(1, 3)]
    rules: list[CadenceRule] = []
    for channel in channels:
        scope = rng.choice(["audience", "audience", "channel"])
        while True:
            try:
                base = random_rule_settings(rng, week)
                rules.append(CadenceRule(channel=channel, cap_scope=scope, **base))
                break
            except ValidationError:
                continue
        if rng.random() < 0.4:  # an audience-specific rule; a shared cap keeps the shared fields
            while True:
                own = random_rule_settings(rng, week)
                if scope == "channel":
                    own.update(
                        {
                            k: base[k]
                            for k in (
                                "timezone",
                                "max_per_day",
                                "max_per_week",
                                "max_per_month",
                                "min_gap_minutes",
                                "holiday_boost",
                            )
                        }
                    )
                try:
                    rules.append(CadenceRule(channel=channel, audience=G1, cap_scope=scope, **own))
                    break
                except ValidationError:
                    continue
    sent: dict[tuple[str, str], AlreadySent] = {}
    locked: list[Slot] = []
    for channel in channels:
        for audience in audiences:
            if rng.random() < 0.4:
                day = week + timedelta(days=rng.randrange(7))
                days = {day: rng.randint(0, 1)}
                week_count = sum(days.values()) + rng.randint(0, 2)
                sent[(channel, audience.key)] = AlreadySent(
                    week=week_count,
                    week_types=dict(Counter(rng.choice(CONTENT_TYPES) for _ in range(rng.randint(0, week_count)))),
                    days=days,
                    months={f"{day.year:04d}-{day.month:02d}": rng.randint(0, 6)},
                    last_sent_at=datetime(week.year, week.month, week.day, 9, tzinfo=UTC)
                    - timedelta(hours=rng.randint(1, 30)),
                )
            for _ in range(rng.choice([0, 0, 1, 2])):
                start = datetime.combine(
                    week + timedelta(days=rng.randrange(-1, 8)), datetime.min.time(), tzinfo=ZoneInfo(rng.choice(ZONES))
                )
                start += timedelta(minutes=rng.randrange(0, 24 * 60, 15))
                kind = rng.choice(CONTENT_TYPES)
                locked.append(
                    Slot(
                        id=f"L{len(locked)}",
                        channel=channel,
                        audience=audience,
                        start=start,
                        content_type=kind,
                        asset_id=f"locked-{len(locked)}",
                        locked=True,
                    )
                )
    refuse = set(rng.sample(CONTENT_TYPES, rng.choice([0, 0, 1, 2])))
    return dict(
        week=week,
        rules=rules,
        audiences=audiences,
        sent=sent,
        locked=locked,
        refuse=refuse,
        pool=rng.choice([1, 2, 50]),
    )


def own_rule(rules: list[CadenceRule], channel: str, audience: Audience) -> CadenceRule | None:
    by_key = {(r.channel, r.audience.key): r for r in rules}
    return by_key.get((channel, audience.key)) or by_key.get((channel, "all"))


def assert_plan_obeys_rules(case: dict, result: PlanResult, holidays: list[HolidayMark], picker) -> None:
    week, rules, sent = case["week"], case["rules"], case["sent"]
    holiday_week = any(m.kind != "workday_adjusted" and week <= m.date < week + timedelta(days=7) for m in holidays)
    new = [s for s in result.slots if not s.locked]
    rule_of = {s.id: own_rule(rules, s.channel, s.audience) for s in result.slots + case["locked"]}
    for slot in case["locked"]:  # locked slots of the week come back unchanged, others stay out
        zone = ZoneInfo(rule_of[slot.id].timezone) if rule_of[slot.id] else slot.start.tzinfo
        in_week = week <= slot.start.astimezone(zone).date() < week + timedelta(days=7)
        assert (slot in result.slots) == in_week

    def scope(slot: Slot) -> tuple[str, str] | None:
        rule = rule_of[slot.id]
        if rule is None:
            return None
        return (slot.channel, "*") if rule.cap_scope == "channel" else (slot.channel, slot.audience.key)

    everything = {s.id: s for s in case["locked"] + result.slots}.values()
    members: dict[tuple[str, str] | None, list[Slot]] = defaultdict(list)
    for slot in everything:
        members[scope(slot)].append(slot)
    sent_by_scope: dict[tuple[str, str], list[AlreadySent]] = defaultdict(list)
    for (channel, key), counts in sent.items():
        audience = Audience.from_key(key)
        rule = own_rule(rules, channel, audience)
        if rule:
            sent_by_scope[(channel, "*") if rule.cap_scope == "channel" else (channel, key)].append(counts)

    per_audience_assets: dict[str, Counter[str]] = defaultdict(Counter)
    for slot in result.slots:
        zone = ZoneInfo(rule_of[slot.id].timezone) if rule_of[slot.id] else slot.start.tzinfo
        if week <= slot.start.astimezone(zone).date() < week + timedelta(days=7):
            per_audience_assets[slot.audience.key][slot.asset_id] += 1
    assert all(n == 1 for c in per_audience_assets.values() for n in c.values()), "asset repeated for an audience"

    for slot in new:
        rule = rule_of[slot.id]
        assert rule is not None
        zone = ZoneInfo(rule.timezone)
        local = slot.start.astimezone(zone)
        day = local.date()
        assert week <= day < week + timedelta(days=7)
        assert local.weekday() in rule.allowed_weekdays
        assert any(a <= local.hour < b for a, b in rule.windows) and local.minute == 0
        assert day not in rule.blackout_dates
        assert slot.content_type in rule.mix and slot.content_type not in case["refuse"]
        peers = [o for o in members[scope(slot)]]
        peer_local = [o.start.astimezone(zone) for o in peers]
        past = sent_by_scope[scope(slot)]
        if rule.max_per_day is not None:
            count = sum(t.date() == day for t in peer_local) + sum(p.days.get(day, 0) for p in past)
            assert count <= rule.max_per_day, ("max_per_day", slot)
        cap = rule.week_cap(holiday_week)
        if cap is not None:
            count = sum(week <= t.date() < week + timedelta(days=7) for t in peer_local) + sum(p.week for p in past)
            assert count <= cap, ("max_per_week", slot)
        month_cap = rule.month_cap(day.year, day.month)
        if month_cap is not None:
            mk = f"{day.year:04d}-{day.month:02d}"
            count = sum((t.year, t.month) == (day.year, day.month) for t in peer_local)
            count += sum(p.months.get(mk, 0) for p in past)
            assert count <= month_cap, ("max_per_month", slot)
        others = [o.start.timestamp() for o in peers if o.id != slot.id]
        others += [p.last_sent_at.timestamp() for p in past if p.last_sent_at]
        for other in others:
            distance = abs(other - slot.start.timestamp())
            assert distance > 0 and distance >= rule.min_gap_minutes * 60, ("min_gap_minutes", slot)
        same_type = [
            o
            for o, t in zip(peers, peer_local, strict=True)
            if o.audience == slot.audience
            and o.content_type == slot.content_type
            and week <= t.date() < week + timedelta(days=7)
        ]
        already = sent.get((slot.channel, slot.audience.key), AlreadySent()).week_types.get(slot.content_type, 0)
        assert len(same_type) + already <= rule.mix[slot.content_type][1], ("mix max", slot)

    # minima not reached are reported with reasons, and only those
    unmet = {(u.channel, u.audience, u.rule): u for u in result.unmet}
    for audience in case["audiences"]:
        for channel in CHANNELS:
            rule = own_rule(rules, channel, audience)
            if rule is None:
                continue
            zone = ZoneInfo(rule.timezone)
            mine = [
                s
                for s in result.slots
                if s.channel == channel
                and s.audience == audience
                and week <= s.start.astimezone(zone).date() < week + timedelta(days=7)
            ]
            types = Counter(s.content_type for s in mine)
            types.update(sent.get((channel, audience.key), AlreadySent()).week_types)
            for kind, (low, _) in rule.mix.items():
                entry = unmet.get((channel, audience.key, f"mix.{kind}.min"))
                assert (types[kind] < low) == (entry is not None), (channel, audience, kind)
                if entry:
                    assert entry.reasons and entry.planned == types[kind]
                    asked = any(
                        r.channel == channel and r.audience == audience and r.content_type == kind
                        for r in picker.requests
                    )
                    if kind in case["refuse"] and asked:
                        assert f"no eligible asset for channel {channel} content type {kind}" in entry.reasons
            entry = unmet.get((channel, audience.key, "min_per_week"))
            assert (types.total() < rule.min_per_week) == (entry is not None)
            if entry:
                assert entry.reasons


def test_random_rule_sets_never_break_a_hard_rule() -> None:
    rng = random.Random(20260305)
    shortfalls = 0
    for _ in range(200):
        case = random_case(rng)
        holidays = dates_in_week(case["week"])
        picker = counting_picker(case["refuse"], case["pool"])
        result = plan_week(
            case["week"], case["rules"], case["audiences"], None, holidays, case["locked"], picker, case["sent"]
        )
        assert_plan_obeys_rules(case, result, holidays, picker)
        shortfalls += bool(result.unmet)
    assert 0 < shortfalls < 200  # the generator exercises both full and short weeks


def test_default_rules_reach_every_minimum_and_holiday_target() -> None:
    for week in (date(2026, 6, 8), date(2026, 9, 28)):  # an ordinary week, the National Day week
        holidays = dates_in_week(week)
        result = plan_week(week, default_rules(), [ALL], None, holidays, [], counting_picker())
        assert result.unmet == [], result.unmet
        per_channel = Counter(s.channel for s in result.slots)
        assert per_channel["mp_subscription"] == (7 if holidays else 6)
        assert per_channel["mp_service"] == 1


def test_plan_is_deterministic_and_week_must_start_on_monday() -> None:
    week = date(2026, 6, 8)
    runs = [plan_week(week, default_rules(), [ALL, G1], None, [], [], counting_picker()).model_dump() for _ in range(2)]
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="Monday"):
        plan_week(date(2026, 6, 9), default_rules(), [ALL], None, [], [], counting_picker())


def test_slot_times_prefer_best_time_scores() -> None:
    rule = CadenceRule(channel="xiaohongshu", windows=[(8, 23)], mix={"educational": (1, 1)})
    scores = np.full((7, 24), 0.001)
    scores[3, 16] = 0.5  # Thursday 16:00
    result = plan_week(date(2026, 6, 8), [rule], [ALL], {("xiaohongshu", "all"): scores}, [], [], counting_picker())
    (slot,) = result.slots
    assert slot.start == datetime(2026, 6, 11, 16, tzinfo=SH)
    assert any("rank 1 of" in line for line in slot.rationale)


def test_best_times_give_way_when_they_would_block_a_minimum() -> None:
    # a 25 h gap fits 7 posts only by moving an hour later each day; always taking the 17:00 peak fits 4
    rule = CadenceRule(channel="wecom_1v1", windows=[(8, 18)], min_gap_minutes=1500, mix={"educational": (7, 7)})
    assert rule.week_capacity() == 7
    scores = np.tile(np.where(np.arange(24) == 17, 1.0, 0.01), (7, 1))
    result = plan_week(date(2026, 6, 8), [rule], [ALL], {("wecom_1v1", "all"): scores}, [], [], counting_picker())
    assert len(result.slots) == 7 and result.unmet == []


def test_locked_slots_are_kept_and_count_toward_caps() -> None:
    week = date(2026, 6, 8)
    rule = CadenceRule(
        channel="wecom_group",
        max_per_day=1,
        max_per_week=3,
        target_per_week=3,
        windows=[(19, 22)],
        mix={"educational": (1, 3), "practical": (0, 3)},
    )
    locked = [
        Slot(
            id=f"keep{d}",
            channel="wecom_group",
            audience=ALL,
            locked=True,
            content_type="educational",
            start=datetime(2026, 6, 8 + d, 20, 17, tzinfo=SH),
            asset_id=f"edu-{d}",
        )
        for d in (0, 1)
    ]
    loose = Slot(
        id="old",
        channel="wecom_group",
        audience=ALL,
        start=datetime(2026, 6, 12, 20, tzinfo=SH),
        content_type="practical",
        asset_id="p-old",
    )
    picker = counting_picker()
    result = plan_week(week, [rule], [ALL], None, [], locked + [loose], picker)
    assert [s for s in result.slots if s.locked] == locked  # kept exactly as they were
    assert "old" not in {s.id for s in result.slots}  # unlocked slots are re-planned
    assert len(result.slots) == 3  # max_per_week counts the locked ones
    new_days = {s.start.date() for s in result.slots if not s.locked}
    assert not new_days & {date(2026, 6, 8), date(2026, 6, 9)}  # max_per_day counts them too
    assert all({"edu-0", "edu-1"} <= req.exclude_asset_ids for req in picker.requests)


def test_already_sent_posts_count_toward_the_month_cap() -> None:
    week = date(2026, 6, 29)  # Mon 29 Jun – Sun 5 Jul: two months
    rule = CadenceRule(channel="mp_service", max_per_month=4, target_per_week=3, mix={"promotional": (0, 3)})
    sent = {("mp_service", "all"): AlreadySent(months={"2026-06": 4, "2026-07": 2})}
    result = plan_week(week, [rule], [ALL], None, [], [], counting_picker(), sent)
    assert len(result.slots) == 2 and all(s.start.month == 7 for s in result.slots)
    (short,) = result.unmet
    assert short.rule == "target_per_week" and "max_per_month" in short.reasons[0]


def test_picker_without_assets_gives_an_empty_plan_with_reasons() -> None:
    picker = counting_picker(refuse=set(CONTENT_TYPES))
    rule = CadenceRule(channel="sms", mix={"educational": (2, 3), "promotional": (0, 1)}, min_per_week=3)
    result = plan_week(date(2026, 6, 8), [rule], [ALL], None, [], [], picker)
    assert result.slots == []
    reasons = {u.rule: u.reasons for u in result.unmet}
    assert reasons["mix.educational.min"] == ["no eligible asset for channel sms content type educational"]
    assert "no eligible asset for channel sms content type promotional" in reasons["min_per_week"]
    assert len(picker.requests) == 2  # each content type is asked once, not once per hour


def test_holiday_week_prefers_holiday_scene_and_boosts_cadence() -> None:
    rule = CadenceRule(channel="douyin", mix={"educational": (1, 2), "promotional": (0, 2)}, holiday_boost=1)
    week = date(2026, 11, 9)  # 双11 on Wednesday
    picker = counting_picker()
    result = plan_week(week, [rule], [ALL], None, dates_in_week(week), [], picker)
    assert len(result.slots) == 2 and {r.scene for r in picker.requests} == {"holiday"}
    assert all(s.scene == "holiday" for s in result.slots)
    assert any("Singles' Day 11.11" in line for s in result.slots for line in s.rationale)  # English here
    with use_language("zh"):
        zh = plan_week(week, [rule], [ALL], None, dates_in_week(week), [], counting_picker())
    assert any("双11" in line for s in zh.slots for line in s.rationale)
    ordinary = plan_week(date(2026, 11, 16), [rule], [ALL], None, dates_in_week(date(2026, 11, 16)), [], picker)
    assert len(ordinary.slots) == 1 and ordinary.slots[0].scene is None


def test_channel_wide_cap_is_shared_by_audiences() -> None:
    rule = CadenceRule(channel="mp_subscription", max_per_day=1, cap_scope="channel", mix={"educational": (3, 3)})
    result = plan_week(
        date(2026, 6, 8), [rule], [ALL, G1, Audience(kind="segment", id="s1")], None, [], [], counting_picker()
    )
    assert len(result.slots) == 7
    assert len({s.start.date() for s in result.slots}) == 7
    assert Counter(s.audience.key for s in result.slots) == {"all": 3, "group:g1": 2, "segment:s1": 2}
    assert {(u.audience, u.rule) for u in result.unmet} == {
        ("group:g1", "mix.educational.min"),
        ("segment:s1", "mix.educational.min"),
    }
    assert "shared by every audience" in result.unmet[0].reasons[0]


@pytest.mark.parametrize("week", [date(2026, 3, 2), date(2026, 10, 26)])  # DST starts / ends on the Sunday
def test_dst_week_keeps_slots_in_local_week_and_windows(week: date) -> None:
    rule = CadenceRule(
        channel="app_push",
        timezone="America/New_York",
        windows=[(0, 4), (21, 24)],
        min_gap_minutes=60,
        mix={k: (2, 3) for k in CONTENT_TYPES},
    )
    scores = np.full((7, 24), 0.01)
    scores[6, 1:3] = 1.0  # Sunday 01:00–02:59 is the best time: exactly where the clocks change
    result = plan_week(week, [rule], [ALL], {("app_push", "all"): scores}, [], [], counting_picker())
    assert len(result.slots) >= 12
    for slot in result.slots:
        local = slot.start.astimezone(NY)
        assert week <= local.date() <= week + timedelta(days=6)
        assert local.hour < 4 or local.hour >= 21
        assert (local.hour, local.minute) == (slot.start.hour, slot.start.minute)  # wall time is real
    epochs = sorted(s.start.timestamp() for s in result.slots)
    assert min(b - a for a, b in pairwise(epochs)) >= 3600
    sunday = [s.start for s in result.slots if s.start.date() == week + timedelta(days=6)]
    assert sunday
    if week.month == 3:
        assert all(s.hour != 2 for s in sunday)  # 02:00 does not exist that night
    local_first = datetime.combine(week, datetime.min.time(), tzinfo=NY).timestamp()
    local_end = datetime.combine(week + timedelta(days=7), datetime.min.time(), tzinfo=NY).timestamp()
    assert all(local_first <= s.start.timestamp() < local_end for s in result.slots)


# ---- moves -------------------------------------------------------------------------------------------------


def test_check_slot_move_refuses_a_move_that_breaks_a_cap() -> None:
    rule = CadenceRule(
        channel="moments",
        max_per_day=1,
        windows=[(12, 14), (19, 22)],
        min_gap_minutes=120,
        blackout_dates=[date(2026, 6, 13)],
        mix={"educational": (3, 3), "practical": (0, 1)},
    )
    result = plan_week(date(2026, 6, 8), [rule], [ALL], None, [], [], counting_picker())
    first, second = result.slots[0], result.slots[1]
    free_days = {date(2026, 6, 8) + timedelta(days=d) for d in range(7)} - {s.start.date() for s in result.slots}
    free = sorted(d for d in free_days if d != date(2026, 6, 13))[0]

    onto_busy_day = second.start.replace(hour=12)
    assert {v.rule for v in check_slot_move(result.slots, first.id, onto_busy_day, [rule])} >= {"max_per_day"}
    out_of_window = datetime(free.year, free.month, free.day, 3, tzinfo=SH)
    assert [v.rule for v in check_slot_move(result.slots, first.id, out_of_window, [rule])] == ["windows"]
    blackout = datetime(2026, 6, 13, 20, tzinfo=SH)
    assert [v.rule for v in check_slot_move(result.slots, first.id, blackout, [rule])] == ["blackout_dates"]
    fine = datetime(free.year, free.month, free.day, 20, tzinfo=SH)
    assert check_slot_move(result.slots, first.id, fine, [rule]) == []
    sent = {("moments", "all"): AlreadySent(days={free: 1})}
    (violation,) = check_slot_move(result.slots, first.id, fine, [rule], sent)
    assert (violation.rule, violation.limit, violation.actual) == ("max_per_day", 1, 2)
    with pytest.raises(KeyError):
        check_slot_move(result.slots, "nope", fine, [rule])


def test_check_slot_move_to_another_week_checks_mix_maximum() -> None:
    rule = CadenceRule(channel="douyin", mix={"educational": (1, 1)})
    week1 = plan_week(date(2026, 6, 8), [rule], [ALL], None, [], [], counting_picker()).slots
    week2 = plan_week(date(2026, 6, 15), [rule], [ALL], None, [], [], counting_picker(pool=2)).slots
    moved = week1[0]
    target = week2[0].start + timedelta(days=1)
    violations = check_slot_move(week1 + week2, moved.id, target, [rule])
    assert [v.rule for v in violations] == ["mix.educational.max"]


# ---- exports -----------------------------------------------------------------------------------------------


def test_ics_parses_back_with_one_event_per_slot() -> None:
    week = date(2026, 3, 2)
    rules = [r.model_copy(update={"timezone": "America/New_York"}) for r in default_rules()][:3]
    result = plan_week(week, rules + [default_rules()[5]], [ALL], None, [], [], counting_picker())
    stamp = datetime(2026, 3, 1, tzinfo=UTC)
    raw = to_ics(result.slots, generated_at=stamp)
    assert raw == to_ics(result.slots, generated_at=stamp)
    events = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    assert len(events) == len(result.slots) > 0
    by_uid = {str(e["UID"]): e for e in events}
    assert set(by_uid) == {f"{s.id}@contenthub" for s in result.slots}
    for slot in result.slots:
        event = by_uid[f"{slot.id}@contenthub"]
        start = event["DTSTART"].dt
        assert start == slot.start and str(start.tzinfo) == str(slot.start.tzinfo)
        assert event["DTSTART"].params["TZID"] == str(slot.start.tzinfo)
        summary = str(event["SUMMARY"])
        assert slot.channel in summary and slot.content_type in summary and slot.asset_title in summary
        assert str(event["DESCRIPTION"]) == "\n".join(slot.rationale)
    zones = {str(z["TZID"]) for z in icalendar.Calendar.from_ical(raw).walk("VTIMEZONE")}
    assert zones == {"America/New_York", "Asia/Shanghai"}


def test_csv_has_a_row_per_slot_and_defuses_formulas() -> None:
    start = datetime(2026, 6, 8, 20, tzinfo=SH)
    slot = Slot(
        id=slot_id("sms", ALL, start, "promotional"),
        channel="sms",
        audience=ALL,
        start=start,
        content_type="promotional",
        asset_id="a1",
        asset_title='=HYPERLINK("x")',
        rationale=["why"],
    )
    lines = to_csv([slot, slot.model_copy(update={"id": "b"})]).splitlines()
    assert len(lines) == 3 and lines[0].startswith("slot_id,channel,audience,start")
    assert "2026-06-08T20:00:00+08:00,Asia/Shanghai,2026-06-08,20:00" in lines[1]
    assert "'=HYPERLINK" in lines[1]


# ---- time: never the past (issue 21) ---------------------------------------------------------------------------


def test_current_week_is_planned_from_now_on() -> None:
    """Sunday 2026-12-06 15:00 Beijing: only Sunday evening is left of the week."""
    week, now = date(2026, 11, 30), datetime(2026, 12, 6, 15, 0, tzinfo=SH)
    result = plan_week(week, default_rules(), [ALL], None, dates_in_week(week), [], counting_picker(), not_before=now)
    assert result.slots and all(s.start >= now for s in result.slots)
    assert {s.start.astimezone(SH).date() for s in result.slots} == {date(2026, 12, 6)}
    assert any("already past" in r for u in result.unmet for r in u.reasons)
    wednesday = datetime(2026, 12, 9, 10, 30, tzinfo=SH)
    later = plan_week(date(2026, 12, 7), default_rules(), [ALL], None, [], [], counting_picker(), not_before=wednesday)
    assert min(s.start for s in later.slots) >= wednesday
    assert (
        plan_week(
            week, default_rules(), [ALL], None, [], [], counting_picker(), not_before=datetime(2026, 12, 8, tzinfo=SH)
        ).slots
        == []
    )
    with pytest.raises(ValueError, match="time zone"):
        plan_week(week, default_rules(), [ALL], None, [], [], counting_picker(), not_before=datetime(2026, 12, 6))


def test_check_slot_move_refuses_the_past() -> None:
    week = date(2026, 12, 7)
    plan = plan_week(week, default_rules(), [ALL], None, [], [], counting_picker())
    slot = plan.slots[-1]
    now = datetime(2026, 12, 9, 12, tzinfo=SH)
    found = check_slot_move(plan.slots, slot.id, datetime(2026, 12, 8, 20, tzinfo=SH), default_rules(), not_before=now)
    assert found and found[0].rule == "past" and "in the past" in found[0].message
    assert all(
        v.rule != "past"
        for v in check_slot_move(
            plan.slots, slot.id, datetime(2026, 12, 12, 20, tzinfo=SH), default_rules(), not_before=now
        )
    )
