"""Metrics from events, per unit after its first exposure, reduced to per-variant sufficient statistics.

Why per unit: the unit (user or group) is what was randomised, so it is the independent observation.
Two users' clicks are independent; one user's ten deliveries are not. Binomial metrics ask "did the
unit do X at least once since its first exposure"; revenue is summed per unit; the ratio metric
(clicks per delivery) keeps per-unit numerator and denominator so the delta method can account for
the correlation inside a unit. Units exposed but silent count as zeros — leaving them out is the
classic way to fake a lift.

Everything is computed per *period* (local calendar day, or several days when the experiment is long
and large) as cumulative sums, so the last period is the report and every earlier one is a point of
the cumulative daily chart. Only ``query_events`` is used: one time-ordered pass from the first
exposure, paged on (ts, id).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from contenthub.experiments.models import Experiment, Exposure
from contenthub.experiments.stats import (
    CupedStats,
    MeanStats,
    RatioStats,
    Suff,
    cuped_stats,
)
from contenthub.hub import Hub
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso, to_utc

MetricKind = Literal["binomial", "mean", "ratio"]


@dataclass(frozen=True)
class Metric:
    id: str
    kind: MetricKind
    higher_is_better: bool
    en: str
    zh: str
    numerator: str
    denominator: str | None = None
    description: str = ""
    nonnegative: bool = True
    """Per-unit values are never below 0 (counts, rates, revenue), so no change is below −100%."""

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


METRICS: dict[str, Metric] = {
    m.id: m
    for m in (
        Metric(
            "open_rate",
            "binomial",
            True,
            "open rate",
            "打开率",
            "open",
            description="Share of units that opened at least once after first exposure.",
        ),
        Metric(
            "ctr",
            "binomial",
            True,
            "click-through",
            "点击率",
            "click",
            description="Share of units that clicked at least once after first exposure.",
        ),
        Metric(
            "conversion_rate",
            "binomial",
            True,
            "conversion rate",
            "转化率",
            "convert",
            description="Share of units that converted at least once after first exposure.",
        ),
        Metric(
            "revenue_per_unit",
            "mean",
            True,
            "revenue per unit",
            "人均收入",
            "revenue",
            description="Sum of conversion values per unit (zero for units that did not convert).",
        ),
        Metric(
            "unsubscribe_rate",
            "binomial",
            False,
            "mute/unsubscribe rate",
            "屏蔽/退订率",
            "negative",
            description="Share of units that muted or unsubscribed (a guardrail: lower is better).",
        ),
        Metric(
            "clicks_per_delivery",
            "ratio",
            True,
            "clicks per delivery",
            "每次送达点击数",
            "click",
            "delivered",
            description="Clicks over deliveries, pooled per variant; variance by the delta method.",
        ),
        Metric(
            "sends_per_unit",
            "mean",
            False,
            "sends per unit",
            "人均送达次数",
            "delivered",
            description="Deliveries per unit: what a cadence or journey variant costs in attention (fewer is better "
            "for the same result).",
        ),
        Metric(
            "mute_rate",
            "binomial",
            False,
            "mute rate",
            "屏蔽率",
            "mute",
            description="Share of units that muted at least once after first exposure.",
        ),
        Metric(
            "mutes_per_delivery",
            "ratio",
            False,
            "mutes per send",
            "每次送达屏蔽数",
            "mute",
            "delivered",
            description="Mutes over deliveries: the irritation each send causes.",
        ),
        Metric(
            "journey_completion",
            "binomial",
            True,
            "journey completion",
            "旅程完成率",
            "journey_done",
            description="Share of units that finished the journey their variant ran (from journey states).",
        ),
        # retention (the operations dashboard's measure, per unit from its first exposure)
        Metric(
            "retention_d7",
            "binomial",
            True,
            "retention day 7",
            "7日留存",
            "active_d7",
            description="Share of units that opened, clicked or converted in days 7–13 after first exposure. Units "
            "exposed less than 14 days before the report count as not retained yet: read it once the last "
            "exposure is 14 days old.",
        ),
        Metric(
            "retention_d30",
            "binomial",
            True,
            "retention day 30",
            "30日留存",
            "active_d30",
            description="Share of units that opened, clicked or converted in days 30–36 after first exposure (read "
            "it once the last exposure is 37 days old).",
        ),
    )
}

CHANGE_METRICS: dict[str, tuple[str, ...]] = {
    "cadence": ("sends_per_unit", "mute_rate", "mutes_per_delivery"),
    "journey": ("journey_completion", "sends_per_unit", "mute_rate"),
}
"""Metrics every experiment of a kind of change shows beside its own (as diagnostics: outside the
multiple-comparison family and the decision, which the plan fixed)."""

COUNTERS: tuple[str, ...] = (
    "delivered",
    "open",
    "click",
    "convert",
    "negative",
    "mute",
    "revenue",
    "journey_done",
    "active_d7",
    "active_d30",
)
"""Per-unit counters a metric can read. To add a metric: a counter here (fed by EVENT_COUNTERS or by
UnitFacts), a Metric in METRICS, and its id in models.MetricId."""
EVENT_COUNTERS: dict[str, tuple[str, ...]] = {
    "delivered": ("delivered",),
    "open": ("open",),
    "click": ("click",),
    "convert": ("convert",),
    "mute": ("negative", "mute"),
    "unsubscribe": ("negative",),
}
"""Which counters each event type adds 1 to."""
RETENTION_WINDOWS: dict[str, tuple[float, float]] = {"active_d7": (7.0, 14.0), "active_d30": (30.0, 37.0)}
"""Counter → [start, end) in days after first exposure during which an engaged event counts as retained."""
ENGAGED_TYPES = frozenset({"open", "click", "convert"})


@dataclass(frozen=True, slots=True)
class UnitFact:
    """Something that happened to a unit and is not in the event log (a journey completed), counted like
    an event from the unit's first exposure on."""

    unit_id: str
    counter: str
    ts: str
    value: float = 1.0


EVENT_PAGE = 20_000
MAX_CELLS = 2_500_000
"""Units × periods per counter kept in memory; long, large experiments get multi-day periods."""
MAX_PERIODS = 120


@dataclass
class AnalysisUnits:
    """Who is analysed: unit id → (variant index, first exposure), after merges and exclusions."""

    units: dict[str, tuple[int, str]]
    multiple: list[str]
    """Units seen in more than one variant: excluded from every metric, flagged in the report."""
    exposures: int


def _follow_merges(hub: Hub, ids: list[str]) -> dict[str, str]:
    """Map user ids that were merged into another user onto the surviving id (events moved there too)."""
    from contenthub.audience.users import USERS

    target: dict[str, str] = {}
    pending = list(ids)
    for _ in range(10):  # merge chains are short; bounded like users.find_user
        docs = hub.store.get_docs(USERS, pending) if pending else {}
        nxt = []
        for uid in pending:
            into = (docs.get(uid) or {}).get("merged_into")
            if into:
                target[uid] = into
                nxt.append(into)
        pending = sorted(set(nxt))
        if not pending:
            break
    out = {}
    for uid in ids:
        seen, cur = 0, uid
        while cur in target and seen < 10:
            cur, seen = target[cur], seen + 1
        if cur != uid:
            out[uid] = cur
    return out


def analysis_units(hub: Hub, exp: Experiment, exposures: list[Exposure]) -> AnalysisUnits:
    """Resolve exposures to analysis units: merged users join their survivor (earliest exposure wins);
    a unit that met two variants — recorded by the runtime, or two merged ids in different arms — is
    excluded, since its outcome cannot be credited to either."""
    index = {v.name: i for i, v in enumerate(exp.variants)}
    merged = _follow_merges(hub, [e.unit_id for e in exposures]) if exp.unit == "user" else {}
    units: dict[str, tuple[int, str]] = {}
    bad: set[str] = set()
    for e in exposures:
        uid = merged.get(e.unit_id, e.unit_id)
        i = index.get(e.variant)
        if i is None or len(set(e.variants or [e.variant])) > 1:
            bad.add(uid)
            continue
        prev = units.get(uid)
        if prev is None:
            units[uid] = (i, e.first_exposed_at)
        elif prev[0] != i:
            bad.add(uid)
        elif e.first_exposed_at < prev[1]:
            units[uid] = (i, e.first_exposed_at)
    for uid in bad:
        units.pop(uid, None)
    return AnalysisUnits(units=units, multiple=sorted(bad), exposures=len(exposures))


@dataclass
class UnitTable:
    """Rows are units, columns are periods; ``cum[counter][u, p]`` is the unit's total from its first
    exposure to the end of period ``p``. A unit is in the analysis of period p iff ``first_period <= p``."""

    unit_ids: list[str]
    variant: np.ndarray
    first_period: np.ndarray
    period_ends: list[date]
    cum: dict[str, np.ndarray]
    events_used: int
    window: tuple[str, str]
    pre: dict[str, np.ndarray] | None = None
    """Per-unit totals in the CUPED pre-period (the days before each unit's first exposure), when asked for."""

    @property
    def periods(self) -> int:
        return len(self.period_ends)


def iter_events(hub: Hub, since: datetime, until: datetime | None, types: tuple[str, ...]) -> Iterator[dict]:
    """Events with ``since <= ts < until`` in time order, paged on (ts, id) so no page is ever too big
    and nothing is read twice (events sharing the boundary instant are skipped by id)."""
    cursor, limit = since, EVENT_PAGE
    skip: set[str] = set()
    while True:
        page = hub.store.query_events(
            EventQuery(types=types, since=cursor, until=until, limit=limit, newest_first=False)
        )
        for ev in page:
            if ev["id"] not in skip:
                yield ev
        if len(page) < limit:
            return
        last = page[-1]["ts"]
        last_dt = from_iso(last)
        if last_dt == cursor:
            limit *= 2  # a whole page at one instant: widen instead of looping
        skip = {ev["id"] for ev in page if ev["ts"] == last}
        cursor = last_dt


def _periods(start_day: date, end_day: date, n_units: int, tz: ZoneInfo) -> tuple[list[str], list[date]]:
    days = (end_day - start_day).days + 1
    budget = max(1, min(MAX_PERIODS, MAX_CELLS // max(n_units, 1)))
    step = math.ceil(days / min(days, budget))
    count = math.ceil(days / step)
    inner = [to_iso(datetime.combine(start_day + timedelta(days=i * step), time(), tz)) for i in range(1, count)]
    ends = [start_day + timedelta(days=min((i + 1) * step, days) - 1) for i in range(count)]
    return inner, ends


def build_table(
    hub: Hub, exp: Experiment, units: AnalysisUnits, now: datetime, facts: Iterable[UnitFact] = ()
) -> UnitTable:
    """One pass over the experiment's events into cumulative per-unit, per-period counters, plus
    ``facts`` that are not events (a journey completed) into their own counters."""
    tz = ZoneInfo(hub.settings.timezone)
    ids = sorted(units.units)
    row = {u: i for i, u in enumerate(ids)}
    first_at = [units.units[u][1] for u in ids]
    until = min(to_utc(now), from_iso(exp.stopped_at)) if exp.stopped_at else to_utc(now)
    since = from_iso(min(first_at)) if ids else until
    start_day = since.astimezone(tz).date()
    end_day = max(until.astimezone(tz).date(), start_day)
    inner, ends = _periods(start_day, end_day, len(ids), tz)
    n, p = len(ids), len(ends)
    post = _Cells()
    before = _Cells()
    code = {c: k for k, c in enumerate(COUNTERS)}
    field = "user_id" if exp.unit == "user" else "group_id"
    used = 0
    pre_days = timedelta(days=exp.pre_period_days) if exp.cuped else None
    pre_from = [to_iso(from_iso(t) - pre_days) for t in first_at] if pre_days else []
    if ids:
        read_from = since - pre_days if pre_days else since
        for ev in iter_events(hub, read_from, until if exp.stopped_at else None, tuple(EVENT_COUNTERS)):
            r = row.get(ev.get(field) or "")
            if r is None:
                continue
            if ev["ts"] < first_at[r]:
                if pre_days and ev["ts"] >= pre_from[r]:
                    before.add_event(ev, r, 0, code)
                continue
            c = bisect_right(inner, ev["ts"])
            post.add_event(ev, r, c, code)
            if ev["type"] in ENGAGED_TYPES:
                days = (from_iso(ev["ts"]) - from_iso(first_at[r])).total_seconds() / 86400
                for counter_name, (lo, hi) in RETENTION_WINDOWS.items():
                    if lo <= days < hi:
                        post.add(r, c, code[counter_name], 1.0)
            used += 1
        until_iso = to_iso(until)
        for fact in facts:
            r = row.get(fact.unit_id)
            if r is not None and first_at[r] <= fact.ts <= until_iso:
                post.add(r, bisect_right(inner, fact.ts), code[fact.counter], fact.value)
    cube = post.cube(n, p)
    np.cumsum(cube, axis=2, out=cube)
    pre = None
    if pre_days:
        flat = before.cube(n, 1)[:, :, 0]
        pre = {c: flat[k] for k, c in enumerate(COUNTERS)}
    return UnitTable(
        unit_ids=ids,
        variant=np.array([units.units[u][0] for u in ids], dtype=int),
        first_period=np.array([bisect_right(inner, t) for t in first_at], dtype=int),
        period_ends=ends,
        cum={c: cube[k] for k, c in enumerate(COUNTERS)},
        events_used=used,
        window=(to_iso(since), to_iso(until)),
        pre=pre,
    )


class _Cells:
    """(counter, unit, period, value) cells, summed into a dense cube once at the end."""

    def __init__(self) -> None:
        self.which: list[int] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []

    def add(self, r: int, c: int, counter: int, value: float) -> None:
        self.which.append(counter)
        self.rows.append(r)
        self.cols.append(c)
        self.vals.append(value)

    def add_event(self, ev: dict, r: int, c: int, code: dict[str, int]) -> None:
        """An event counts 1 in each of its counters; a conversion's value also goes to revenue."""
        for counter in EVENT_COUNTERS[ev["type"]]:
            self.add(r, c, code[counter], 1.0)
        if ev["type"] == "convert" and ev.get("value"):
            self.add(r, c, code["revenue"], float(ev["value"]))

    def cube(self, n: int, p: int) -> np.ndarray:
        out = np.zeros((len(COUNTERS), n, p))
        if self.rows:
            np.add.at(out, (np.array(self.which), np.array(self.rows), np.array(self.cols)), np.array(self.vals))
        return out


def _unit_values(table: UnitTable, metric: Metric, mask: np.ndarray, p: int) -> np.ndarray:
    y = table.cum[metric.numerator][mask, p] if table.periods else np.zeros(0)
    return (y > 0).astype(float) if metric.kind == "binomial" else y


def variant_stats(table: UnitTable, metric: Metric, n_variants: int, period: int = -1) -> list[Suff]:
    """Sufficient statistics of ``metric`` per variant (index order) over units exposed by ``period``."""
    p = table.periods - 1 if period < 0 else period
    present = table.first_period <= p
    out: list[Suff] = []
    for v in range(n_variants):
        mask = present & (table.variant == v)
        y = table.cum[metric.numerator][mask, p] if table.periods else np.zeros(0)
        if metric.kind == "binomial":
            out.append(MeanStats.binomial(int(mask.sum()), int(np.count_nonzero(y))))
        elif metric.kind == "mean":
            out.append(MeanStats(n=int(mask.sum()), sum=float(y.sum()), sum_squares=float(np.dot(y, y))))
        else:
            assert metric.denominator is not None
            x = table.cum[metric.denominator][mask, p] if table.periods else np.zeros(0)
            out.append(RatioStats.from_values(y, x))
    return out


def cuped_variant_stats(table: UnitTable, metric: Metric, n_variants: int, period: int = -1) -> list[CupedStats] | None:
    """CUPED-adjusted statistics of a 0/1 or mean metric, with the same metric in the pre-period as the
    covariate (for a 0/1 metric: did the unit do it in the pre-period). ``None`` when the table has no
    pre-period, the metric is a ratio, or no unit had pre-period data (nothing to adjust with)."""
    if table.pre is None or metric.kind == "ratio" or not table.periods or not table.pre[metric.numerator].any():
        return None
    p = table.periods - 1 if period < 0 else period
    present = table.first_period <= p
    pre_all = table.pre[metric.numerator]
    if metric.kind == "binomial":
        pre_all = (pre_all > 0).astype(float)
    posts, pres, cross = [], [], []
    for v in range(n_variants):
        mask = present & (table.variant == v)
        y = _unit_values(table, metric, mask, p)
        x = pre_all[mask]
        posts.append(MeanStats(n=int(mask.sum()), sum=float(y.sum()), sum_squares=float(np.dot(y, y))))
        pres.append(MeanStats(n=int(mask.sum()), sum=float(x.sum()), sum_squares=float(np.dot(x, x))))
        cross.append(float(np.dot(x, y)))
    stats = cuped_stats(posts, pres, cross)
    return stats if stats and stats[0].theta != 0.0 else None
