"""Per-user weekly arrays built from the event log: what every dashboard view reduces.

Why a rollup: the views need distinct users per cohort and week, per-user sends per week and per-user
purchase histories — none of which is additive, so none can be a counter that ingestion keeps summed.
The rollup asks the store for the event counts by user, channel, type and week of the hub's calendar
(``Store.event_counts_by_period`` with each week's UTC bounds: one GROUP BY pass on SQLite, a composite
aggregation per week on Elasticsearch) and assembles the groups into numpy arrays (users × weeks), after which each
view is a few array reductions, computed once per rollup. Ingestion writes nothing for the dashboard, and the weeks
follow the hub's time zone (``weeks``) whenever the rollup is built. Re-sent events are stored once, so they are
counted once. It is cached per process and brought up to date when older than ``MAX_AGE_S`` (the stale copy keeps
answering while a background thread refreshes), or at once by ``refresh``; a refresh reads again only the weeks whose
events changed (``Partials``), so its cost follows the traffic since the last one, not the size of the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from contenthub.audience import users
from contenthub.audience.engagement import ASSET_STATS, ENGAGED
from contenthub.dashboard import weeks
from contenthub.errors import ProblemError
from contenthub.hub import Hub
from contenthub.journeys.engine import STATES
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, utcnow

MAX_AGE_S = 300.0
MAX_WEEKS = 104  # weeks of history the arrays hold (older activity only sets a user's first week)
WAIT_S = 5.0  # how long a view waits for the first build before answering "being prepared"
_CACHE_KEY = "dashboard.rollup"
_ERROR_KEY = "dashboard.rollup_error"
_LOCK_KEY = "dashboard.rollup_lock"
_PARTIALS_KEY = "dashboard.rollup_weeks"
FULL_EVERY_S = 3600.0  # at least this often every week is read again (see ``Partials``)
WARMERS: list[Callable[[Hub, Rollup], None]] = []
"""Called on each new rollup before it is served (``service`` registers the views it computes ahead: the
service imports this module, so it cannot be called from here by name)."""


@dataclass
class ChannelSends:
    """One row per (user, week) with at least one delivery on the channel."""

    user: np.ndarray  # int32 user index
    week: np.ndarray  # int32 column index
    sends: np.ndarray  # deliveries
    opens: np.ndarray
    mutes: np.ndarray  # mutes and unsubscribes on the channel that week


@dataclass
class Rollup:
    built_at: datetime
    build_seconds: float
    now_week: int  # week index of ``built_at``
    week0: int  # week index of column 0
    user_ids: list[str]
    first_week: np.ndarray  # int32 week index (may precede week0)
    engaged: np.ndarray  # (users, weeks) engaged events
    orders: np.ndarray  # (users, weeks) conversions
    revenue: np.ndarray  # (users, weeks) conversion value
    unsub_week: np.ndarray  # int32 first week with an unsubscribe, -1 for none
    source: np.ndarray  # str: the user's source channel ('' unknown)
    journey: np.ndarray  # str: the first journey the user entered ('' none)
    sends: dict[str, ChannelSends] = field(default_factory=dict)
    channel_weeks: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    asset_totals: dict[str, dict[str, float]] = field(default_factory=dict)  # asset id → delivered/click/convert/rev
    asset_meta: dict[str, dict[str, Any]] = field(default_factory=dict)  # title, scenes, content type (filled on use)
    reread_weeks: int = 0  # weeks of the event log this build read (the others were kept from the last one)
    views: dict[tuple[Any, ...], Any] = field(default_factory=dict)  # view results computed on this rollup

    @property
    def n_weeks(self) -> int:
        return self.now_week - self.week0 + 1

    def col(self, week: int) -> int:
        return week - self.week0


class Preparing(ProblemError):
    """No rollup yet and the first build is still running: a view answers at once with this instead of
    holding the request for the build, which takes long on a large hub (bench/RESULTS.md, "Operations dashboard")."""

    status = 503
    code = "preparing"


def get(hub: Hub, wait: float | None = None) -> Rollup:
    """The cached rollup, rebuilt in the background when stale. With none yet, a build starts in the
    background and this waits up to ``wait`` seconds for it (small hubs build in milliseconds), then
    raises ``Preparing`` saying so."""
    cur: Rollup | None = hub.cache.get(_CACHE_KEY)
    if cur is not None:
        peek(hub)  # starts a background rebuild when stale
        return cur
    peek(hub)
    deadline = time.monotonic() + (WAIT_S if wait is None else wait)
    while time.monotonic() < deadline:
        cur = hub.cache.get(_CACHE_KEY)
        if cur is not None:
            return cur
        error = hub.cache.get(_ERROR_KEY)
        if error is not None:
            hub.cache.pop(_ERROR_KEY, None)
            raise error
        time.sleep(0.01)
    raise Preparing(
        "The dashboard is being prepared: its weekly counters are read once after a start "
        "(about a minute per 100,000 users). Try again shortly.",
        extra={"retry_after": 15},
    )


def building_lock(hub: Hub) -> threading.Lock:
    """Held while this hub's rollup is being built in the background (one build at a time)."""
    lock: threading.Lock = hub.cache.setdefault(_LOCK_KEY, threading.Lock())
    return lock


def peek(hub: Hub) -> Rollup | None:
    """The cached rollup if there is one (stale or not), else None after starting a build in the
    background — for pages of other capabilities that must not wait for a build (the calendar's link)."""
    cur: Rollup | None = hub.cache.get(_CACHE_KEY)
    lock = building_lock(hub)
    if (cur is None or (utcnow() - cur.built_at).total_seconds() > MAX_AGE_S) and lock.acquire(blocking=False):

        def rebuild() -> None:
            try:
                refresh(hub)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting request instead of dying in a thread
                hub.cache[_ERROR_KEY] = exc
            finally:
                lock.release()

        hub.start_background(rebuild, "dashboard-rollup")
    return cur


def refresh(hub: Hub, *, full: bool = False) -> Rollup:
    """Bring the rollup up to date now and cache it: only the weeks whose events changed since the last
    build are read again (``full``: every week), then the arrays are reassembled from the kept weeks and the
    views registered in ``WARMERS`` are computed on it before it replaces the previous one."""
    kept: Partials | None = None if full else hub.cache.get(_PARTIALS_KEY)
    rollup, partials = build_incremental(hub, kept)
    hub.cache.pop("dashboard.ltv", None)
    for warm in WARMERS:
        warm(hub, rollup)
    hub.cache[_PARTIALS_KEY] = partials
    hub.cache[_CACHE_KEY] = rollup
    return rollup


def build(hub: Hub, now: datetime | None = None) -> Rollup:
    """A rollup read from the whole event log (no kept weeks)."""
    return build_incremental(hub, None, now)[0]


@dataclass
class WeekCells:
    """One calendar week of the event log, grouped: a row per (user, channel, type) with its count and value
    sum. Codes index ``Partials.names`` (-1: no user), ``Partials.channels`` and ``Partials.types``."""

    user: np.ndarray
    channel: np.ndarray
    etype: np.ndarray
    count: np.ndarray
    value: np.ndarray


@dataclass
class Partials:
    """What the last build read, kept so the next one reads only the weeks that changed.

    Why per week and counted: a week's grouped rows are a few hundred thousand at 100,000 users, while the
    whole log is millions of events; the number of events stored per week (an index range count on both
    stores) says which weeks got new, late or erased events, and only those are grouped again. Changes that
    keep every week's count — an identity merge (``reassign_events``) or an erasure offset by as many new
    events the same week — are caught by the user documents read each build (a user merged or gone since the
    last build) and by a full read at least every ``FULL_EVERY_S``."""

    week0: int
    full_at: datetime  # when every week was last read
    names: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    weeks: dict[int, WeekCells] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)  # events stored per week when it was read
    before: dict[str, set[str]] = field(default_factory=dict)  # users active before the window → their types
    before_count: int = 0
    user_docs: frozenset[str] = frozenset()  # users that were neither merged nor erased at the last build
    reread_weeks: int = 0  # weeks read by the build that produced these

    def code(self, table: list[str], value: str) -> int:
        try:
            return table.index(value)
        except ValueError:
            table.append(value)
            return len(table) - 1

    def user(self, user_id: str | None) -> int:
        if user_id is None:
            return -1
        i = self.index.get(user_id)
        if i is None:
            i = self.index[user_id] = len(self.names)
            self.names.append(user_id)
        return i


def build_incremental(hub: Hub, kept: Partials | None, now: datetime | None = None) -> tuple[Rollup, Partials]:
    started = time.perf_counter()
    now = now or utcnow()
    tz = weeks.zone(hub)
    now_week = weeks.week_of(now, tz)
    oldest = hub.store.query_events(EventQuery(limit=1, newest_first=False))
    oldest_week = min(weeks.week_of(from_iso(oldest[0]["ts"]), tz), now_week) if oldest else now_week
    week0 = max(oldest_week, now_week - MAX_WEEKS + 1)
    n_weeks = now_week - week0 + 1
    bounds = [weeks.week_bounds(week0 + col, tz)[0] for col in range(n_weeks)] + [weeks.week_bounds(now_week, tz)[1]]
    docs = hub.store.doc_field_columns(users.USERS, ("source_channel", "merged_into"))
    live = frozenset(uid for uid, merged in zip(docs["id"], docs["merged_into"], strict=True) if not merged)
    if (
        kept is None
        or kept.week0 != week0
        or (now - kept.full_at).total_seconds() > FULL_EVERY_S
        or not kept.user_docs <= live  # a user merged into another or erased since: their weeks moved
    ):
        kept = Partials(week0=week0, full_at=now)
    # counted before reading: events stored meanwhile make the count differ next time, so they are read then
    counts = {
        week0 + col: hub.store.count_events(EventQuery(since=bounds[col], until=bounds[col + 1]))
        for col in range(n_weeks)
    }
    before_count = hub.store.count_events(EventQuery(until=bounds[0])) if oldest_week < week0 else 0
    if before_count != kept.before_count:
        kept.before = _read_before(hub, bounds[0])
        kept.before_count = before_count
    changed = [w for w in range(week0, now_week + 1) if w not in kept.weeks or counts[w] != kept.counts.get(w)]
    for w in [w for w in kept.weeks if not week0 <= w <= now_week]:
        del kept.weeks[w]
    for run in _runs(changed):
        lo, hi = run[0] - week0, run[-1] - week0 + 1
        rows: dict[int, list[tuple[int, int, int, int, float]]] = {w: [] for w in run}
        for (user, channel, etype), period, count, value in hub.store.event_counts_by_period(
            ("user_id", "channel", "type"), EventQuery(since=bounds[lo], until=bounds[hi]), bounds[lo : hi + 1]
        ):
            rows[run[0] + period].append(
                (kept.user(user), kept.code(kept.channels, channel or ""), kept.code(kept.types, etype), count, value)
            )
        for w, found in rows.items():
            cols: list[Any] = list(zip(*found, strict=True)) if found else [(), (), (), (), ()]
            kept.weeks[w] = WeekCells(  # narrow types: these are kept between builds
                user=np.array(cols[0], dtype=np.int32),
                channel=np.array(cols[1], dtype=np.int16),
                etype=np.array(cols[2], dtype=np.int16),
                count=np.array(cols[3], dtype=np.int32),
                value=np.array(cols[4], dtype=np.float64),
            )
            kept.counts[w] = counts[w]
    kept.user_docs = live
    kept.reread_weeks = len(changed)
    sources = {uid: src for uid, src in zip(docs["id"], docs["source_channel"], strict=True) if uid in live}
    r = _assemble(hub, kept, now, now_week, sources)
    r.build_seconds = time.perf_counter() - started
    r.reread_weeks = len(changed)
    return r, kept


def _runs(changed: list[int]) -> list[list[int]]:
    """Consecutive weeks in one read each (a full build is one pass over the log)."""
    out: list[list[int]] = []
    for w in changed:
        if out and out[-1][-1] == w - 1:
            out[-1].append(w)
        else:
            out.append([w])
    return out


def _read_before(hub: Hub, until: datetime) -> dict[str, set[str]]:
    """Activity older than the arrays' window only says who was first seen (and who unsubscribed) before it:
    those users count as first seen the week before the window, which no view reaches back to."""
    out: dict[str, set[str]] = {}
    for (user, etype), _count, _value in hub.store.event_counts(("user_id", "type"), EventQuery(until=until)):
        if user is not None:
            out.setdefault(user, set()).add(etype)
    return out


def _assemble(hub: Hub, p: Partials, now: datetime, now_week: int, sources: dict[str, str]) -> Rollup:
    """The arrays from the kept weeks, with numpy over the grouped rows (no per-row Python): users in id
    order, so a rebuild from kept weeks and one from the whole log give the same arrays."""
    week0 = p.week0
    n_weeks = now_week - week0 + 1
    cells = [(w - week0, c) for w, c in sorted(p.weeks.items())]

    def joined(part: Callable[[WeekCells], np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate([part(c) for _k, c in cells]).astype(dtype) if cells else np.zeros(0, dtype)

    col = (
        np.concatenate([np.full(len(c.user), k, dtype=np.int64) for k, c in cells]) if cells else np.zeros(0, np.int64)
    )
    user = joined(lambda c: c.user, np.int64)
    channel = joined(lambda c: c.channel, np.int64)
    etype = joined(lambda c: c.etype, np.int64)
    count = joined(lambda c: c.count, np.int64)
    value = joined(lambda c: c.value, np.float64)
    types = np.array(p.types, dtype=object)
    is_convert = (types == "convert")[etype] if len(types) else np.zeros(len(etype), bool)
    value = np.where(is_convert, value, 0.0)
    # channel weeks: every event, with or without a user
    channel_weeks: dict[tuple[str, int], dict[str, float]] = {}
    n_types = max(len(p.types), 1)
    key = (channel * n_weeks + col) * n_types + etype
    uniq, inv = np.unique(key, return_inverse=True)
    sums = np.bincount(inv, weights=count, minlength=len(uniq))
    revs = np.bincount(inv, weights=value, minlength=len(uniq))
    for k, total, rev in zip(uniq.tolist(), sums.tolist(), revs.tolist(), strict=True):
        cw_key, t = divmod(k, n_types)
        ch, c = divmod(cw_key, n_weeks)
        cw = channel_weeks.setdefault((p.channels[ch], week0 + c), {})
        cw[f"n:{p.types[t]}"] = cw.get(f"n:{p.types[t]}", 0.0) + total
        if rev:
            cw["rev"] = cw.get("rev", 0.0) + rev
    # users: those with an event in the window or before it, in id order
    with_user = user >= 0
    col, user, channel, etype, count, value = (a[with_user] for a in (col, user, channel, etype, count, value))
    before_idx = np.array([p.user(u) for u in p.before], dtype=np.int64)
    present = np.union1d(np.unique(user), before_idx)
    names = np.array(p.names, dtype=object)
    order = present[np.argsort(names[present], kind="stable")] if len(present) else present
    row_of = np.full(len(p.names), -1, dtype=np.int64)
    row_of[order] = np.arange(len(order))
    n = len(order)
    rows = row_of[user]
    flat = rows * n_weeks + col

    def matrix(mask: np.ndarray, weights: np.ndarray, dtype: Any) -> np.ndarray:
        out = np.bincount(flat[mask], weights=weights[mask], minlength=n * n_weeks)
        return out.reshape(n, n_weeks).astype(dtype)

    seen = np.zeros(n * n_weeks, dtype=bool)
    seen[flat] = True
    seen_m = seen.reshape(n, n_weeks)
    first_week = np.where(seen_m.any(axis=1), week0 + np.argmax(seen_m, axis=1), week0 - 1).astype(np.int32)
    engaged_codes = np.array([t in ENGAGED for t in p.types], dtype=bool)
    engaged_rows = engaged_codes[etype] if len(p.types) else np.zeros(len(etype), bool)
    convert_rows = is_convert[with_user]
    unsub_rows = (types == "unsubscribe")[etype] if len(types) else np.zeros(len(etype), bool)
    unsub = np.zeros(n * n_weeks, dtype=bool)
    unsub[flat[unsub_rows]] = True
    unsub_m = unsub.reshape(n, n_weeks)
    unsub_week = np.where(unsub_m.any(axis=1), week0 + np.argmax(unsub_m, axis=1), -1).astype(np.int32)
    for uid, kinds in p.before.items():
        i = row_of[p.index[uid]]
        first_week[i] = week0 - 1
        if "unsubscribe" in kinds:
            unsub_week[i] = week0 - 1
    user_ids = names[order].tolist()
    source = np.array([sources.get(u) or "" for u in user_ids], dtype=object)
    journey = np.full(n, "", dtype=object)
    entered: dict[int, str] = {}
    offset = 0
    position = {u: i for i, u in enumerate(user_ids)}
    while batch := hub.store.list_docs(STATES, limit=1000, offset=offset):
        offset += len(batch)
        for st in batch:
            i = position.get(st.get("user_id") or "")
            if i is not None and st.get("entered_at") and (i not in entered or st["entered_at"] < entered[i]):
                entered[i] = st["entered_at"]
                journey[i] = st.get("journey") or ""
    slot = np.array([_SEND_SLOT.get(t, -1) for t in p.types], dtype=np.int64)[etype] if len(p.types) else etype
    channel_sends = {}
    for ch in np.unique(channel[slot >= 0]).tolist():
        m = (channel == ch) & (slot >= 0)
        keys, inv_ = np.unique(flat[m], return_inverse=True)
        per = [np.bincount(inv_, weights=np.where(slot[m] == s, count[m], 0), minlength=len(keys)) for s in range(3)]
        channel_sends[p.channels[ch]] = ChannelSends(
            user=(keys // n_weeks).astype(np.int32),
            week=(keys % n_weeks).astype(np.int32),
            sends=per[0].astype(np.int64),
            opens=per[1].astype(np.int64),
            mutes=per[2].astype(np.int64),
        )
    asset_totals: dict[str, dict[str, float]] = {}
    for akey, name, total in hub.store.scan_counters(ASSET_STATS):  # per "<asset>|<channel>": summed over channels
        if name in ("n:delivered", "n:click", "n:convert", "rev"):
            totals = asset_totals.setdefault(akey.rpartition("|")[0], {})
            totals[name] = totals.get(name, 0.0) + total
    return Rollup(
        built_at=now,
        asset_totals=asset_totals,
        build_seconds=0.0,
        now_week=now_week,
        week0=week0,
        user_ids=user_ids,
        first_week=first_week,
        engaged=matrix(engaged_rows, count, np.int32),
        orders=matrix(convert_rows, count, np.int32),
        revenue=matrix(convert_rows, value, np.float64),
        unsub_week=unsub_week,
        source=source,
        journey=journey,
        sends=channel_sends,
        channel_weeks=channel_weeks,
    )


_SEND_SLOT = {"delivered": 0, "open": 1, "mute": 2, "unsubscribe": 2}  # ChannelSends: sends, opens, mutes
