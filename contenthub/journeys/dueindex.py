"""Which users are due when: minute buckets of small 'hint' documents, a cursor, and a scheduler lease.

Why buckets as collections: the store interface has no range queries on documents (both backends
must serve it), but listing one collection is an indexed prefix scan in SQLite and a term query in
Elasticsearch. A state due at 09:30:12 gets a hint in ``journey_due:202501010130`` (UTC minute); the
scheduler lists the buckets from its cursor up to now, so finding due users costs O(due), never
O(users in journeys).

Why hints may be stale, and that is fine: the state document is the truth. The scheduler writes the
new hint before the new state and deletes the old hint last, so a crash at any point leaves either a
hint that still matches its state (processed again) or one that does not (dropped when read) —
never a state without a hint.

Why marks: most minutes have no hints, and listing an empty collection still costs a query (on
Elasticsearch, a refresh too). Before a hint goes into a minute bucket, the bucket is marked in its
hour (``journey_due_marks:{YYYYMMDDHH}``, one small document per non-empty minute, written once per
process and minute); the scheduler lists an hour's marks and then only the marked minutes, so a
day of catching up costs 24 listings plus the minutes that really hold due users. A mark is removed
only after its bucket was seen empty behind the grace window, when no writer can add to it.

Why the cursor lags ``GRACE`` behind now: a writer puts a hint in the bucket of its own 'now' at the
earliest; as long as clocks differ by less than ``GRACE``, the scheduler keeps re-listing that bucket
until no writer can still be adding to it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from contenthub.errors import ConflictError
from contenthub.hub import Hub
from contenthub.timeutil import from_iso, to_iso, to_utc

DUE_PREFIX = "journey_due:"
MARK_PREFIX = "journey_due_marks:"
MARK_CACHE = 100_000
SCHEDULER = "journey_scheduler"
GRACE = timedelta(minutes=3)
FMT = "%Y%m%d%H%M"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def minute(at: datetime) -> int:
    """Minutes since the Unix epoch: bucket arithmetic on ints (a scheduler pass walks many buckets)."""
    return int(to_utc(at).timestamp() // 60)


def name(m: int) -> str:
    """The bucket name of minute ``m``: 'YYYYMMDDHHMM' in UTC (sorts as time does)."""
    d = EPOCH + timedelta(minutes=m)
    return f"{d.year:04d}{d.month:02d}{d.day:02d}{d.hour:02d}{d.minute:02d}"


def parse(b: str) -> int:
    return minute(datetime.strptime(b, FMT).replace(tzinfo=UTC))


def bucket(at: datetime) -> str:
    return name(minute(at))


def hint_id(journey: str, user_id: str, run: int) -> str:
    return f"{journey}|{user_id}|{run}"


def hint_bucket(due: datetime, now: datetime) -> str:
    """Never a bucket before the writer's own now (see the module docstring)."""
    return max(bucket(due), bucket(now))


def _ensure_cursor(hub: Hub, b: str) -> None:
    if hub.cache.get("journey_cursor_ok"):
        return
    try:
        hub.store.put_doc(SCHEDULER, "cursor", {"bucket": b}, expected_version=0)
    except ConflictError:
        pass
    hub.cache["journey_cursor_ok"] = True


def _mark(hub: Hub, buckets: Iterable[str]) -> None:
    marked: set[str] = hub.cache.setdefault("journey_marked", set())
    for b in buckets:
        if b not in marked:
            hub.store.put_doc(MARK_PREFIX + b[:10], b, {"bucket": b})
            if len(marked) >= MARK_CACHE:
                marked.clear()
            marked.add(b)


def marked(hub: Hub, hour: str) -> list[str]:
    """The marked (possibly non-empty) minute buckets of one hour ('YYYYMMDDHH'), in time order."""
    return sorted(d["bucket"] for d in hub.store.list_docs(MARK_PREFIX + hour, limit=100))


def unmark(hub: Hub, b: str) -> None:
    hub.store.delete_doc(MARK_PREFIX + b[:10], b)
    hub.cache.setdefault("journey_marked", set()).discard(b)


def put_hints(hub: Hub, hints: Iterable[tuple[str, dict[str, Any]]], now: datetime) -> None:
    """Write hints given as (bucket, body with 'id'); one transaction per bucket, after marking it."""
    by_bucket: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for b, body in hints:
        by_bucket[b][body["id"]] = body
    if not by_bucket:
        return
    _ensure_cursor(hub, min(min(by_bucket), bucket(now)))
    _mark(hub, by_bucket)
    for b, docs in by_bucket.items():
        hub.store.put_docs_atomic(DUE_PREFIX + b, docs)


def delete_hints(hub: Hub, hints: Iterable[tuple[str, str]]) -> None:
    """Delete hints given as (bucket, id); one transaction per bucket."""
    by_bucket: dict[str, list[str]] = defaultdict(list)
    for b, hid in hints:
        by_bucket[b].append(hid)
    for b, ids in by_bucket.items():
        hub.store.put_docs_atomic(DUE_PREFIX + b, {}, delete=ids)


def make_hint(state: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any]]:
    """The hint for a state's current due time, and the bucket it goes in."""
    due = from_iso(state["due_at"])
    b = hint_bucket(due, now)
    return b, {
        "id": hint_id(state["journey"], state["user_id"], state["run"]),
        "key": state["key"],
        "run": state["run"],
        "due_at": state["due_at"],
    }


def read_cursor(hub: Hub) -> str | None:
    doc = hub.store.get_doc(SCHEDULER, "cursor")
    return doc["bucket"] if doc else None


def write_cursor(hub: Hub, b: str) -> None:
    hub.store.put_doc(SCHEDULER, "cursor", {"bucket": b})


def owner_id(hub: Hub) -> str:
    return hub.cache.setdefault("journey_owner", f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}")


def acquire_lease(hub: Hub, now: datetime, ttl: timedelta) -> str | None:
    """Take or renew the one scheduler lease; None when held by us, else who holds it.

    Why a lease: with the in-process loop on every API replica plus a ``journeys run`` worker, only
    one may advance states at a time (the engine writes states in batches without per-document
    version checks, which is what makes it fast)."""
    me = owner_id(hub)
    body = {"owner": me, "until": to_iso(now + ttl)}
    found = hub.store.get_doc_version(SCHEDULER, "lease")
    try:
        if found is None:
            hub.store.put_doc(SCHEDULER, "lease", body, expected_version=0)
            return None
        doc, version = found
        if doc["owner"] != me and doc["until"] > to_iso(now):
            return str(doc["owner"])
        hub.store.put_doc(SCHEDULER, "lease", body, expected_version=version)
        return None
    except ConflictError:
        return "another scheduler"


def release_lease(hub: Hub) -> None:
    found = hub.store.get_doc_version(SCHEDULER, "lease")
    if found is not None and found[0]["owner"] == owner_id(hub):
        try:
            hub.store.put_doc(SCHEDULER, "lease", {"owner": "", "until": ""}, expected_version=found[1])
        except ConflictError:
            pass
