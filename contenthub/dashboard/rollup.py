"""Per-user weekly arrays built from the ``activity`` counters: what every dashboard view reduces.

Why a rollup: the views need distinct users per cohort and week, per-user sends per week and per-user
purchase histories — none of which is additive, so none can be a counter that ingestion keeps summed.
The weekly per-user counters (one key per user, written at ingestion) hold exactly what is needed; the
rollup reads them once into numpy arrays (users × weeks), after which each view is a few array
reductions. It is cached per process and rebuilt when older than ``MAX_AGE_S`` (the stale copy keeps
answering while a background thread rebuilds), or at once by ``refresh``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from contenthub.dashboard.activity import ACTIVITY, CHANNEL_WEEK, week_of_day
from contenthub.errors import ProblemError
from contenthub.hub import Hub
from contenthub.journeys.engine import STATES
from contenthub.recommend import users
from contenthub.recommend.engagement import ASSET_STATS
from contenthub.timeutil import utcnow

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
    holding the request for the build (tens of seconds at 100,000 users)."""

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
    raise Preparing("The dashboard is being prepared: its weekly counters are read once after a start "
                    "(about a minute per 100,000 users). Try again shortly.", extra={"retry_after": 15})


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
    now_week = week_of_day(now.date())
    index: dict[str, int] = {}
    first: list[int] = []
    cells: dict[str, tuple[list[int], list[int], list[float]]] = {k: ([], [], []) for k in "ecru"}
    sends: dict[str, dict[tuple[int, int], list[int]]] = {}
    slot = {"d": 0, "o": 1, "m": 2}
    for key, name, value in hub.store.scan_counters(ACTIVITY):
        i = index.get(key)
        if i is None:
            i = index[key] = len(first)
            first.append(now_week + 1)
        week_text, _, rest = name.partition(".")
        week = int(week_text)
        if week < first[i] and value > 0:
            first[i] = week
        if "." in rest:
            channel, _, what = rest.rpartition(".")
            counts = sends.setdefault(channel, {}).setdefault((i, week), [0, 0, 0])
            counts[slot[what]] += int(value)
        elif rest in cells:
            rows, weeks, values = cells[rest]
            rows.append(i)
            weeks.append(week)
            values.append(value)
    n = len(first)
    first_week = np.array(first, dtype=np.int32)
    week0 = max(int(first_week.min()) if n else now_week, now_week - MAX_WEEKS + 1)
    n_weeks = now_week - week0 + 1

    def matrix(kind: str, dtype: Any) -> np.ndarray:
        rows, weeks, values = cells[kind]
        out = np.zeros((n, n_weeks), dtype=dtype)
        r, w, v = np.array(rows, dtype=np.int64), np.array(weeks, dtype=np.int64) - week0, np.array(values)
        keep = (w >= 0) & (w < n_weeks)
        np.add.at(out, (r[keep], w[keep]), v[keep])
        return out

    unsub_rows, unsub_weeks, _ = cells["u"]
    unsub_week = np.full(n, -1, dtype=np.int32)
    for r, w in sorted(zip(unsub_rows, unsub_weeks, strict=True), key=lambda p: -p[1]):
        unsub_week[r] = w  # ends at each user's earliest unsubscribe week
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
        keep = (keys[:, 1] >= week0) & (keys[:, 1] <= now_week)
        channel_sends[channel] = ChannelSends(
            user=keys[keep, 0].astype(np.int32), week=(keys[keep, 1] - week0).astype(np.int32),
            sends=vals[keep, 0], opens=vals[keep, 1], mutes=vals[keep, 2])
    channel_weeks: dict[tuple[str, int], dict[str, float]] = {}
    for key, name, value in hub.store.scan_counters(CHANNEL_WEEK):
        channel, _, week_text = key.rpartition("|")
        channel_weeks.setdefault((channel, int(week_text)), {})[name] = value
    asset_totals: dict[str, dict[str, float]] = {}
    for key, name, value in hub.store.scan_counters(ASSET_STATS):  # per "<asset>|<channel>": summed over channels
        if name in ("n:delivered", "n:click", "n:convert", "rev"):
            totals = asset_totals.setdefault(key.rpartition("|")[0], {})
            totals[name] = totals.get(name, 0.0) + value
    return Rollup(
        built_at=now, asset_totals=asset_totals, build_seconds=time.perf_counter() - started, now_week=now_week, week0=week0,
        user_ids=list(index), first_week=first_week, engaged=matrix("e", np.int32), orders=matrix("c", np.int32),
        revenue=matrix("r", np.float64), unsub_week=unsub_week, source=source, journey=journey,
        sends=channel_sends, channel_weeks=channel_weeks)
