"""Elasticsearch events: idempotent bulk ingestion (``op_type=create`` per event id) with counter batches,
queries and aggregates."""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from contenthub.store import elastic_query as eq
from contenthub.store.base import CounterDeriver, flat_deltas
from contenthub.store.columns import EventColumns, event_columns_of
from contenthub.store.elastic.client import (
    COUNTER_BATCH,
    EVENT_COLUMNS,
    INTERNAL_EVENT_FIELDS,
    _chunks,
    _dumps,
    _raise_failures,
)
from contenthub.store.elastic.counters import ElasticCounters, _sum_deltas
from contenthub.store.es_docs import key_id as _key_id
from contenthub.store.es_docs import write_failure as _write_failure
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso

BATCH_GRACE = 120.0  # a counter batch still marked after this long is taken as crashed and finished


class ElasticEvents(ElasticCounters):
    # --- events ------------------------------------------------------------------------
    def add_events(self, events: list[dict[str, Any]], derive: CounterDeriver | None = None) -> list[str]:
        """Create each event with ``op_type=create`` (a stored id answers 409: a duplicate, skipped),
        then add the counter deltas of exactly the created ones.

        Crash safety without transactions: ``derive`` is applied to each event on its own *before*
        the write, and each event document carries its own deltas and a batch id. A marker doc for the
        batch exists from before the write until the counters are updated. Each counter doc records
        the batches already added to it, so adding a batch twice changes nothing. If the process dies
        in between, recovery (at start and every minute, in any process) finds the marker older than
        ``BATCH_GRACE``, sums the deltas stored on that batch's created events and adds them — once.
        This needs ``derive`` to be additive over events (derive(a + b) = derive(a) + derive(b)),
        which profile counters are by design.
        """
        if not events:
            return []
        self._maybe_recover()
        alias = self.schema.ensure("events")
        batch = uuid.uuid4().hex[:16]
        per_event = [flat_deltas(derive([ev])) if derive else [] for ev in events]  # (collection, key, field, delta)
        marker = _key_id(COUNTER_BATCH, batch)
        if derive:
            self.schema.ensure("docs")
            self.es.create(
                index=self._alias("docs"),
                id=marker,
                document={
                    "collection": COUNTER_BATCH,
                    "id": batch,
                    "version": 1,
                    "status": "pending",
                    "created": time.time(),
                },
            )
        ops = []
        for ev, deltas in zip(events, per_event, strict=True):
            source = {**ev, "_batch": batch, "_deltas": _dumps(deltas)} if derive else dict(ev)
            ops.append(({"create": {"_index": alias, "_id": ev["id"]}}, source))
        try:
            results = self._bulk(ops, parallel=True)  # one create per event id
        finally:
            self._unrefreshed_events.update((ev.get("user_id"), ev.get("group_id")) for ev in events)
            self._wrote("events")
        inserted: list[int] = []
        failures = []
        statuses = []
        for i, (_ignored, r) in enumerate(results):
            if r["status"] == 201:
                inserted.append(i)
            elif r["status"] != 409:
                failures.append(f"event {events[i].get('id')!r}: {r.get('error')}")
                statuses.append(r["status"])
        if failures:
            # the marker stays: recovery adds what was created
            raise _write_failure("; ".join(failures[:5]), statuses)
        if derive:
            if inserted:
                self._apply_counters(_sum_deltas(d for i in inserted for d in per_event[i]), batch)
            self._delete_quietly("docs", marker)
        return [events[i]["id"] for i in inserted]

    def _recover_counter_batches(self) -> None:
        self._refresh("docs")
        query = {
            "bool": {
                "filter": [
                    {"term": {"collection": COUNTER_BATCH}},
                    {"range": {"created": {"lt": time.time() - BATCH_GRACE}}},
                ]
            }
        }
        stale = [h["_source"]["id"] for hits in self._scan("docs", query) for h in hits]
        if not stale:
            return
        self._refresh("events")
        for batch in stale:
            deltas: list[tuple[str, str, str, float]] = []
            for hits in self._scan("events", {"term": {"_batch": batch}}, source=["_deltas"]):
                for h in hits:
                    deltas.extend(tuple(d) for d in json.loads(h["_source"].get("_deltas") or "[]"))
            if deltas:
                self._apply_counters(_sum_deltas(deltas), batch)
            self._delete_quietly("docs", _key_id(COUNTER_BATCH, batch))

    def _fresh_events(self, q: EventQuery) -> None:
        """Refresh before a search of events only when an event this process wrote since its last refresh
        could match: the recommender reads one user's events right after storing another user's."""
        if self._events_unrefreshed(q):
            self._fresh("events")

    def _events_unrefreshed(self, q: EventQuery) -> bool:
        """Whether an event this process wrote since its last refresh of events could match ``q``."""
        users, groups = set(q.user_ids), set(q.group_ids)
        return any((not users or u in users) and (not groups or g in groups) for u, g in list(self._unrefreshed_events))

    def query_events(self, q: EventQuery) -> list[dict[str, Any]]:
        self._fresh_events(q)
        hits = self._page(
            "events",
            eq.event_query(q),
            eq.event_sort(q.newest_first),
            0,
            q.limit,
            fresh=False,
            source={"excludes": list(INTERNAL_EVENT_FIELDS)},
        )
        return [h["_source"] for h in hits]

    def iter_events(self, *, batch: int = 10000) -> Iterator[list[dict[str, Any]]]:
        self._refresh("events")
        for hits in self._scan(
            "events",
            {"match_all": {}},
            sort=[{"id": "asc"}],
            page=min(batch, 10_000),
            source={"excludes": list(INTERNAL_EVENT_FIELDS)},
        ):
            yield [h["_source"] for h in hits]

    def event_scan_parts(self) -> list[Any]:
        return [None]  # one scroll on a point in time

    def event_columns(
        self, channel: str, types: tuple[str, ...], *, user_ids: list[str] | None = None, part: Any = None
    ) -> EventColumns:
        names = ("user_id", "type", "asset_id", "channel", "ts", "recommendation_id")
        rows: list[tuple[Any, ...]] = []
        self._refresh("events")
        queries = (
            [{"terms": {"user_id": chunk}} for chunk in _chunks(list(user_ids), 5000)]
            if user_ids is not None
            else [{"exists": {"field": "user_id"}}]
        )
        for query in queries:
            for hits in self._scan("events", query, page=10_000, source=[*names, "attributes.reserved"]):
                for h in hits:
                    e = h["_source"]
                    reserved = e.get("type") == "served" and bool((e.get("attributes") or {}).get("reserved"))
                    rec = e.get("recommendation_id") if reserved or e.get("type") == "delivered" else None
                    rows.append(
                        (
                            e.get("user_id"),
                            e.get("type"),
                            e.get("asset_id"),
                            e.get("channel"),
                            from_iso(e["ts"]).timestamp(),
                            rec,
                            reserved,
                        )
                    )
        return event_columns_of(rows, channel, types)

    def count_events(self, q: EventQuery | None = None) -> int:
        q = q or EventQuery()
        self._fresh_events(q)
        return self._count("events", eq.event_query(q), fresh=False)

    def event_counts(self, group_by: tuple[str, ...], q: EventQuery) -> list[tuple[tuple[Any, ...], int, float]]:
        for col in group_by:
            if col not in EVENT_COLUMNS:
                raise ValueError(f"cannot group events by {col}")
        query = eq.event_query(q)
        if "ts" not in group_by:
            return list(self._composite("events", query, group_by, sum_field="value"))
        # date_nanos buckets come back as epoch millis; group the stored strings client-side instead.
        acc: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0])
        for hits in self._scan("events", query, source=list(group_by) + ["value"]):
            for h in hits:
                s = h["_source"]
                cell = acc[tuple(s.get(c) for c in group_by)]
                cell[0] += 1
                cell[1] += float(s.get("value") or 0.0)
        return [(k, int(v[0]), float(v[1])) for k, v in acc.items()]

    def event_counts_by_period(
        self, group_by: tuple[str, ...], q: EventQuery, bounds: list[datetime]
    ) -> Iterator[tuple[tuple[Any, ...], int, int, float]]:
        """One composite aggregation per period, its range intersected with ``q``'s (a date_histogram
        source cannot follow arbitrary bounds, and this node has no scripting to compute a period)."""
        for col in group_by:
            if col not in EVENT_COLUMNS or col == "ts":
                raise ValueError(f"cannot group events by {col}")
        if [to_iso(b) for b in bounds] != sorted(to_iso(b) for b in bounds):
            raise ValueError("period bounds must be ascending")
        for i in range(len(bounds) - 1):
            since = max(t for t in (bounds[i], q.since) if t is not None)
            until = min(t for t in (bounds[i + 1], q.until) if t is not None)
            if since >= until:
                continue
            query = eq.event_query(replace(q, since=since, until=until))
            for key, n, value in self._composite("events", query, group_by, sum_field="value"):
                yield key, i, n, value

    def _event_ids(self, query: dict[str, Any]) -> list[str]:
        self._refresh("events")
        return [h["_id"] for hits in self._scan("events", query, source=False) for h in hits]

    def reassign_events(self, from_user: str, to_user: str) -> int:
        alias = self._alias("events")
        ids = self._event_ids({"term": {"user_id": from_user}})
        ops = [
            ({"update": {"_index": alias, "_id": i, "retry_on_conflict": 5}}, {"doc": {"user_id": to_user}})
            for i in ids
        ]
        results = self._bulk(ops, refresh="wait_for")
        _raise_failures([(op, r) for op, r in results if r["status"] != 404], "reassigning events")
        return sum(1 for _ignored, r in results if r["status"] == 200)

    def delete_events(self, q: EventQuery) -> int:
        alias = self._alias("events")
        ops = [({"delete": {"_index": alias, "_id": i}}, None) for i in self._event_ids(eq.event_query(q))]
        results = self._bulk(ops, refresh="wait_for")
        return sum(1 for _ignored, r in results if r["status"] == 200)
