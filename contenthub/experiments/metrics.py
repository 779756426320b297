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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from contenthub.experiments.models import Experiment, Exposure
from contenthub.experiments.stats import MeanStats, RatioStats, Suff
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

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


METRICS: dict[str, Metric] = {m.id: m for m in (
    Metric("open_rate", "binomial", True, "open rate", "打开率", "open",
           description="Share of units that opened at least once after first exposure."),
    Metric("ctr", "binomial", True, "click-through", "点击率", "click",
           description="Share of units that clicked at least once after first exposure."),
    Metric("conversion_rate", "binomial", True, "conversion rate", "转化率", "convert",
           description="Share of units that converted at least once after first exposure."),
    Metric("revenue_per_unit", "mean", True, "revenue per unit", "人均收入", "revenue",
           description="Sum of conversion values per unit (zero for units that did not convert)."),
    Metric("unsubscribe_rate", "binomial", False, "mute/unsubscribe rate", "屏蔽/退订率", "negative",
           description="Share of units that muted or unsubscribed (a guardrail: lower is better)."),
    Metric("clicks_per_delivery", "ratio", True, "clicks per delivery", "每次送达点击数", "click", "delivered",
           description="Clicks over deliveries, pooled per variant; variance by the delta method."),
    # retention (the operations dashboard's measure, per unit from its first exposure)
    Metric("retention_d7", "binomial", True, "retention day 7", "7日留存", "active_d7",
           description="Share of units that opened, clicked or converted in days 7–13 after first exposure. Units "
           "exposed less than 14 days before the report count as not retained yet: read it once the last "
           "exposure is 14 days old."),
    Metric("retention_d30", "binomial", True, "retention day 30", "30日留存", "active_d30",
           description="Share of units that opened, clicked or converted in days 30–36 after first exposure (read "
           "it once the last exposure is 37 days old)."),
)}

COUNTERS: tuple[str, ...] = ("delivered", "open", "click", "convert", "negative", "revenue", "active_d7", "active_d30")
RETENTION_WINDOWS: dict[str, tuple[float, float]] = {"active_d7": (7.0, 14.0), "active_d30": (30.0, 37.0)}
"""Counter → [start, end) in days after first exposure during which an engaged event counts as retained."""
ENGAGED_TYPES = frozenset({"open", "click", "convert"})
EVENT_COUNTER: dict[str, str] = {"delivered": "delivered", "open": "open", "click": "click", "convert": "convert",
                                 "mute": "negative", "unsubscribe": "negative"}
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
    from contenthub.recommend.users import USERS

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

    @property
    def periods(self) -> int:
        return len(self.period_ends)


def iter_events(hub: Hub, since: datetime, until: datetime | None, types: tuple[str, ...]) -> Iterator[dict]:
    """Events with ``since <= ts < until`` in time order, paged on (ts, id) so no page is ever too big
    and nothing is read twice (events sharing the boundary instant are skipped by id)."""
    cursor, limit = since, EVENT_PAGE
    skip: set[str] = set()
    while True:
        page = hub.store.query_events(EventQuery(types=types, since=cursor, until=until, limit=limit,
                                                 newest_first=False))
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


def build_table(hub: Hub, exp: Experiment, units: AnalysisUnits, now: datetime) -> UnitTable:
    """One pass over the experiment's events into cumulative per-unit, per-period counters."""
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
    rows: list[int] = []
    cols: list[int] = []
    which: list[int] = []
    vals: list[float] = []
    code = {c: k for k, c in enumerate(COUNTERS)}
    field = "user_id" if exp.unit == "user" else "group_id"
    used = 0
    if ids:
        for ev in iter_events(hub, since, until if exp.stopped_at else None, tuple(EVENT_COUNTER)):
            r = row.get(ev.get(field) or "")
            if r is None or ev["ts"] < first_at[r]:
                continue
            c = bisect_right(inner, ev["ts"])
            counter = EVENT_COUNTER[ev["type"]]
            rows.append(r)
            cols.append(c)
            which.append(code[counter])
            vals.append(1.0)
            used += 1
            if ev["type"] == "convert" and ev.get("value"):
                rows.append(r)
                cols.append(c)
                which.append(code["revenue"])
                vals.append(float(ev["value"]))
            if ev["type"] in ENGAGED_TYPES:
                days = (from_iso(ev["ts"]) - from_iso(first_at[r])).total_seconds() / 86400
                for counter_name, (lo, hi) in RETENTION_WINDOWS.items():
                    if lo <= days < hi:
                        rows.append(r)
                        cols.append(c)
                        which.append(code[counter_name])
                        vals.append(1.0)
    cube = np.zeros((len(COUNTERS), n, p))
    if rows:
        np.add.at(cube, (np.array(which), np.array(rows), np.array(cols)), np.array(vals))
    np.cumsum(cube, axis=2, out=cube)
    return UnitTable(
        unit_ids=ids,
        variant=np.array([units.units[u][0] for u in ids], dtype=int),
        first_period=np.array([bisect_right(inner, t) for t in first_at], dtype=int),
        period_ends=ends,
        cum={c: cube[k] for k, c in enumerate(COUNTERS)},
        events_used=used,
        window=(to_iso(since), to_iso(until)),
    )


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
