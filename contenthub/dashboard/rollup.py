"""Per-user weekly arrays built from the event log: what every dashboard view reduces.

Why a rollup: the views need distinct users per cohort and week, per-user sends per week and per-user
purchase histories — none of which is additive, so none can be a counter that ingestion keeps summed.
The rollup asks the store for the event counts by user, channel, type and week of the hub's calendar
(``Store.event_counts_by_period`` with each week's UTC bounds: one GROUP BY pass on SQLite, a composite
aggregation per week on Elasticsearch) and folds the groups into numpy arrays (users × weeks), after which each view is a few
array reductions. Ingestion writes nothing for the dashboard, and the weeks follow the hub's time zone
(``weeks``) whenever the rollup is built. Re-sent events are stored once, so they are counted once. It is cached per process and rebuilt when older than ``MAX_AGE_S`` (the stale copy keeps
answering while a background thread rebuilds), or at once by ``refresh``.
"""

from __future__ import annotations

import threading
import time
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


def refresh(hub: Hub) -> Rollup:
    """Build the rollup from the store and cache it."""
    rollup = build(hub)
    hub.cache[_CACHE_KEY] = rollup
    hub.cache.pop("dashboard.ltv", None)
    return rollup


def build(hub: Hub, now: datetime | None = None) -> Rollup:
    started = time.perf_counter()
    now = now or utcnow()
    tz = weeks.zone(hub)
    now_week = weeks.week_of(now, tz)
    oldest = hub.store.query_events(EventQuery(limit=1, newest_first=False))
    oldest_week = min(weeks.week_of(from_iso(oldest[0]["ts"]), tz), now_week) if oldest else now_week
    week0 = max(oldest_week, now_week - MAX_WEEKS + 1)
    n_weeks = now_week - week0 + 1
    index: dict[str, int] = {}
    first: list[int] = []
    cells: dict[str, tuple[list[int], list[int], list[float]]] = {k: ([], [], []) for k in "ecr"}
    unsub: dict[int, int] = {}
    if oldest_week < week0:
        # Activity older than the arrays' window only says who was first seen (and who unsubscribed) before
        # it: those users count as first seen the week before the window, which no view reaches back to.
        before = EventQuery(until=weeks.week_bounds(week0, tz)[0])
        for (user, etype), _, _ in hub.store.event_counts(("user_id", "type"), before):
            if user is None:
                continue
            i = index.get(user)
            if i is None:
                i = index[user] = len(first)
                first.append(week0 - 1)
            if etype == "unsubscribe":
                unsub[i] = week0 - 1
    sends: dict[str, dict[tuple[int, int], list[int]]] = {}
    channel_weeks: dict[tuple[str, int], dict[str, float]] = {}
    bounds = [weeks.week_bounds(week0 + col, tz)[0] for col in range(n_weeks)] + [weeks.week_bounds(now_week, tz)[1]]
    # one pass over the log, periods in any order: a user's first week is the smallest seen
    unsub_cols: dict[int, int] = {}
    for (user, channel, etype), col, count, value in hub.store.event_counts_by_period(
        ("user_id", "channel", "type"), EventQuery(), bounds
    ):
        week = week0 + col
        value = value if etype == "convert" else 0.0
        cw = channel_weeks.setdefault((channel or "", week), {})
        cw[f"n:{etype}"] = cw.get(f"n:{etype}", 0.0) + count
        if value:
            cw["rev"] = cw.get("rev", 0.0) + value
        if user is None:
            continue
        i = index.get(user)
        if i is None:
            i = index[user] = len(first)
            first.append(week)
        elif week < first[i]:
            first[i] = week
        if etype in ENGAGED:
            _add(cells["e"], i, col, count)
        if etype == "convert":
            _add(cells["c"], i, col, count)
            if value:
                _add(cells["r"], i, col, value)
        elif etype == "unsubscribe" and i not in unsub and (i not in unsub_cols or col < unsub_cols[i]):
            unsub_cols[i] = col
        slot = _SEND_SLOT.get(etype)
        if slot is not None:
            counts = sends.setdefault(channel or "", {}).setdefault((i, col), [0, 0, 0])
            counts[slot] += count
    for i, col in unsub_cols.items():
        unsub[i] = week0 + col
    n = len(first)
    first_week = np.array(first, dtype=np.int32)

    def matrix(kind: str, dtype: Any) -> np.ndarray:
        rows, cols, values = cells[kind]
        out = np.zeros((n, n_weeks), dtype=dtype)
        np.add.at(out, (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)), np.array(values))
        return out

    unsub_week = np.full(n, -1, dtype=np.int32)
    for i, week in unsub.items():  # each user's earliest unsubscribe week
        unsub_week[i] = week
    source = np.full(n, "", dtype=object)
    for doc in users.iter_users(hub):
        i = index.get(doc["id"])
        if i is not None:
            source[i] = doc.get("source_channel") or ""
    journey = np.full(n, "", dtype=object)
    entered: dict[int, str] = {}
    offset = 0
    while batch := hub.store.list_docs(STATES, limit=1000, offset=offset):
        offset += len(batch)
        for st in batch:
            i = index.get(st.get("user_id") or "")
            if i is not None and st.get("entered_at") and (i not in entered or st["entered_at"] < entered[i]):
                entered[i] = st["entered_at"]
                journey[i] = st.get("journey") or ""
    channel_sends = {}
    for channel, per in sends.items():
        keys = np.array(list(per.keys()), dtype=np.int64).reshape(-1, 2)
        vals = np.array(list(per.values()), dtype=np.int64).reshape(-1, 3)
        channel_sends[channel] = ChannelSends(
            user=keys[:, 0].astype(np.int32),
            week=keys[:, 1].astype(np.int32),
            sends=vals[:, 0],
            opens=vals[:, 1],
            mutes=vals[:, 2],
        )
    asset_totals: dict[str, dict[str, float]] = {}
    for key, name, value in hub.store.scan_counters(ASSET_STATS):  # per "<asset>|<channel>": summed over channels
        if name in ("n:delivered", "n:click", "n:convert", "rev"):
            totals = asset_totals.setdefault(key.rpartition("|")[0], {})
            totals[name] = totals.get(name, 0.0) + value
    return Rollup(
        built_at=now,
        asset_totals=asset_totals,
        build_seconds=time.perf_counter() - started,
        now_week=now_week,
        week0=week0,
        user_ids=list(index),
        first_week=first_week,
        engaged=matrix("e", np.int32),
        orders=matrix("c", np.int32),
        revenue=matrix("r", np.float64),
        unsub_week=unsub_week,
        source=source,
        journey=journey,
        sends=channel_sends,
        channel_weeks=channel_weeks,
    )


def _add(cell: tuple[list[int], list[int], list[float]], row: int, col: int, value: float) -> None:
    cell[0].append(row)
    cell[1].append(col)
    cell[2].append(value)


_SEND_SLOT = {"delivered": 0, "open": 1, "mute": 2, "unsubscribe": 2}  # ChannelSends: sends, opens, mutes
