"""SQLite events: idempotent batch ingestion (with the counter deltas in the same transaction), queries,
aggregates and the column scans batch readers vectorise over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from operator import itemgetter
from typing import Any

import numpy as np

from contenthub.store.base import CounterDeriver
from contenthub.store.columns import EventColumns, empty_event_columns, event_columns_of
from contenthub.store.query import EventQuery
from contenthub.store.sqlite.connection import _chunks, _dumps
from contenthub.store.sqlite.counters import SQLiteCounters, _checked
from contenthub.timeutil import epochs, to_iso

EVENT_COLUMNS = ("id", "type", "user_id", "asset_id", "channel", "group_id", "recommendation_id", "ts", "value")


class SQLiteEvents(SQLiteCounters):
    # --- events ------------------------------------------------------------------------
    def add_events(self, events: list[dict[str, Any]], derive: CounterDeriver | None = None) -> list[str]:
        """Insert a batch in one transaction; duplicates (by id) are skipped. ``derive`` turns the newly
        inserted events into counter deltas applied in the same transaction, so a profile never counts an
        event twice and never misses one.

        Which ids are new is read first (BEGIN IMMEDIATE holds the write lock, so nobody can insert in
        between), then the new rows go in with one executemany in key order — far cheaper than one
        INSERT OR IGNORE per event. Runs on the ingest connection (bigger cache, see INGEST_CACHE_KIB).

        The rows (with their JSON bodies) and the counter deltas are computed *before* taking the write lock,
        on the guess that every event is new — the usual case — and recomputed inside only for a batch that
        holds duplicates. ``derive`` is a pure function of the events, so the result is the same; what
        changes is that other API workers ingesting at the same time wait for the lock only while this
        batch is written, not while its Python work runs."""
        rows = [
            (
                ev["id"],
                ev.get("type"),
                ev.get("user_id"),
                ev.get("asset_id"),
                ev.get("channel"),
                ev.get("group_id"),
                ev.get("recommendation_id"),
                ev.get("ts"),
                ev.get("value"),
                _event_body(ev),
            )
            for ev in events
        ]
        all_rows = sorted(rows, key=_first)
        all_deltas = _checked(derive(events)) if derive and events else []
        with self._tx(ingest=True) as tx:
            existing: set[str] = set()
            for chunk in _chunks([ev["id"] for ev in events], 500):
                marks = ",".join("?" * len(chunk))
                existing.update(r[0] for r in tx.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk))
            keep: list[int] = []
            for i, ev in enumerate(events):
                if ev["id"] not in existing:
                    existing.add(ev["id"])
                    keep.append(i)
            inserted = [events[i] for i in keep]
            everything = len(keep) == len(events)
            tx.executemany(
                "INSERT INTO events (id, type, user_id, asset_id, channel, group_id, recommendation_id, ts, value, body) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                all_rows if everything else sorted((rows[i] for i in keep), key=_first),
            )
            if derive and inserted:
                self._write_counters(tx, all_deltas if everything else _checked(derive(inserted)))
        self._checkpoint_soon(len(inserted))
        return [e["id"] for e in inserted]

    def _event_where(self, q: EventQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (
            ("user_id", q.user_ids),
            ("asset_id", q.asset_ids),
            ("type", q.types),
            ("channel", q.channels),
            ("group_id", q.group_ids),
        ):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if q.since is not None:
            clauses.append("ts >= ?")
            params.append(to_iso(q.since))
        if q.until is not None:
            clauses.append("ts < ?")
            params.append(to_iso(q.until))
        return (" AND ".join(clauses) or "1"), params

    def query_events(self, q: EventQuery) -> list[dict[str, Any]]:
        where, params = self._event_where(q)
        order = "DESC" if q.newest_first else "ASC"
        cur = self._conn().cursor()
        cur.row_factory = None
        rows = cur.execute(
            f"SELECT {_EVENT_COLUMNS}, body FROM events WHERE {where} ORDER BY ts {order}, id LIMIT ?",
            (*params, q.limit),
        ).fetchall()
        return [_event_doc(r) for r in rows]

    def iter_events(self, *, batch: int = 10000) -> Iterator[list[dict[str, Any]]]:
        last = ""
        cur = self._conn().cursor()
        cur.row_factory = None
        while True:
            rows = cur.execute(
                f"SELECT {_EVENT_COLUMNS}, body FROM events WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [_event_doc(r) for r in rows]

    def event_scan_parts(self) -> list[tuple[str | None, str | None]]:
        """Primary-key ranges (after ``lo``, up to and including ``hi``; None: open) of ~250k events."""
        bounds: list[str] = []
        conn = self._conn()
        while (
            row := conn.execute(
                "SELECT id FROM events WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?",
                (bounds[-1] if bounds else "", 249_999),
            ).fetchone()
        ) is not None:
            bounds.append(row[0])
        return list(zip([None, *bounds], [*bounds, None], strict=True))

    def event_columns(
        self, channel: str, types: tuple[str, ...], *, user_ids: list[str] | None = None, part: Any = None
    ) -> EventColumns:
        """By user: an indexed read per 5,000 users. A part (or all): one pass over the table with SQLite
        joining each column into one string (``_packed_events``: no Python object per event, where look-ups
        by user cost a random page read per event), decoded here; read row by row instead when an id holds
        the packing's separator or there are too many types to code."""
        if user_ids is None:
            lo, hi = part if part is not None else (None, None)
            if len(types) < 78:
                found = self._packed_events(channel, lo, hi, types)
                if found is not None:
                    return found
            where = "user_id IS NOT NULL AND (? IS NULL OR id > ?) AND (? IS NULL OR id <= ?)"
            return event_columns_of(self._column_rows(where, [lo, lo, hi, hi]), channel, types)
        rows: list[tuple[Any, ...]] = []
        for chunk in _chunks(list(user_ids), 5000):
            rows += self._column_rows(f"user_id IN ({','.join('?' * len(chunk))})", chunk)
        return event_columns_of(rows, channel, types)

    def _column_rows(self, where: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cur = self._conn().cursor()
        cur.row_factory = None  # plain tuples: Row objects cost more than the query
        return cur.execute(
            "SELECT user_id, type, asset_id, channel, "
            "CAST(strftime('%s', ts) AS REAL) + CAST(substr(ts, 20, 7) AS REAL), "
            f"CASE WHEN type = 'delivered' OR {_RESERVED} IS 1 THEN recommendation_id END, "
            f"{_RESERVED} IS 1 FROM events WHERE {where}",
            params,
        ).fetchall()

    def _packed_events(
        self, channel: str, lo: str | None, hi: str | None, types: tuple[str, ...]
    ) -> EventColumns | None:
        """The events of one primary-key range, each column packed into one string by SQLite (ids joined
        by U+001F, one character per event for the coded type, channel match and reservation; stamps back
        to back when all are 27 characters long, as to_iso writes them) and split here. None when an id
        holds the separator."""
        where = ["user_id IS NOT NULL"]
        if lo is not None:
            where.append("id > :lo")
        if hi is not None:
            where.append("id <= :hi")
        params: dict[str, Any] = {"sep": "\x1f", "ch": channel, "lo": lo, "hi": hi}
        params.update({f"t{i}": t for i, t in enumerate(types)})
        cases = " ".join(f"WHEN :t{i} THEN '{chr(48 + i)}'" for i in range(len(types)))
        type_col = f"group_concat(CASE type {cases} ELSE '~' END, '')" if types else "group_concat('~', '')"
        cond = " AND ".join(where)
        n, users, assets, codes, on_channel, ts, reserved, rec = (
            self._conn()
            .execute(
                "SELECT count(*), group_concat(user_id, :sep), group_concat(ifnull(asset_id, ''), :sep), "
                f"{type_col}, group_concat(channel IS :ch, ''), group_concat(ts, ''), "
                f"group_concat({_RESERVED} IS 1, ''), "
                f"group_concat(CASE WHEN type = 'delivered' OR {_RESERVED} IS 1 THEN ifnull(recommendation_id, '') "
                "ELSE '' END, :sep) "
                f"FROM events NOT INDEXED WHERE {cond}",
                params,
            )
            .fetchone()
        )
        if not n:
            return empty_event_columns()
        if len(ts) != 27 * n:  # some stamp has another length
            ts = epochs(
                self._conn()
                .execute(f"SELECT group_concat(ts, :sep) FROM events NOT INDEXED WHERE {cond}", params)
                .fetchone()[0]
                .split("\x1f")
            )
        else:
            ts = epochs([ts[k : k + 27] for k in range(0, len(ts), 27)])
        uid, aid, recs = users.split("\x1f"), assets.split("\x1f"), rec.split("\x1f")
        if not len(uid) == len(aid) == len(recs) == ts.size == n:
            return None
        code = np.frombuffer(codes.encode("ascii"), dtype=np.uint8)
        return {
            "user_id": uid,
            "asset_id": aid,
            "type": np.where(code == ord("~"), -1, code.astype(np.int16) - 48).astype(np.int8),
            "on_channel": np.frombuffer(on_channel.encode("ascii"), dtype=np.uint8) == ord("1"),
            "ts": ts,
            "reserved": np.frombuffer(reserved.encode("ascii"), dtype=np.uint8) == ord("1"),
            "recommendation_id": recs,
        }

    def count_events(self, q: EventQuery | None = None) -> int:
        where, params = self._event_where(q or EventQuery())
        return int(self._conn().execute(f"SELECT COUNT(*) FROM events WHERE {where}", params).fetchone()[0])

    def event_counts(self, group_by: tuple[str, ...], q: EventQuery) -> list[tuple[tuple[Any, ...], int, float]]:
        for col in group_by:
            if col not in EVENT_COLUMNS:
                raise ValueError(f"cannot group events by {col}")
        where, params = self._event_where(q)
        cols = ", ".join(group_by)
        rows = (
            self._conn()
            .execute(
                f"SELECT {cols}, COUNT(*), COALESCE(SUM(value), 0) FROM events WHERE {where} GROUP BY {cols}", params
            )
            .fetchall()
        )
        n = len(group_by)
        return [(tuple(r[:n]), int(r[n]), float(r[n + 1])) for r in rows]

    def event_counts_by_period(
        self, group_by: tuple[str, ...], q: EventQuery, bounds: list[datetime]
    ) -> Iterator[tuple[tuple[Any, ...], int, int, float]]:
        """One pass over the table: the period of each stamp is a binary search over the bounds written as
        nested CASE expressions (stored stamps are canonical UTC text, so they compare as the times they
        name). Read without an index (NOT INDEXED) unless the query names users or groups: a time range
        over most of the log through events_ts costs a random row look-up per event, several times a scan."""
        for col in group_by:
            if col not in EVENT_COLUMNS:
                raise ValueError(f"cannot group events by {col}")
        if len(bounds) < 2:
            return
        stamps = [to_iso(b) for b in bounds]
        if stamps != sorted(stamps):
            raise ValueError("period bounds must be ascending")
        where, params = self._event_where(q)
        period, period_params = _period_case(stamps, 0, len(stamps) - 1)
        cols = "".join(f"{c}, " for c in group_by)
        hint = "" if q.user_ids or q.group_ids else " NOT INDEXED"
        cur = self._conn().cursor()
        cur.row_factory = None
        cur.execute(
            f"SELECT {cols}{period} AS period, COUNT(*), COALESCE(SUM(value), 0) FROM events{hint} "
            f"WHERE {where} AND ts >= ? AND ts < ? GROUP BY {cols}period",
            [*period_params, *params, stamps[0], stamps[-1]],
        )
        n = len(group_by)
        while rows := cur.fetchmany(10000):
            for r in rows:
                yield tuple(r[:n]), int(r[n]), int(r[n + 1]), float(r[n + 2])

    def reassign_events(self, from_user: str, to_user: str) -> int:
        with self._tx() as tx:
            return tx.execute(
                "UPDATE events SET user_id=?, body=iif(body = '', '', json_set(body, '$.user_id', ?)) WHERE user_id=?",
                (to_user, to_user, from_user),
            ).rowcount

    def delete_events(self, q: EventQuery) -> int:
        where, params = self._event_where(q)
        with self._tx() as tx:
            return tx.execute(f"DELETE FROM events WHERE {where}", params).rowcount


# An event's stored columns (EVENT_COLUMNS) are its document's keys, in order. A row whose columns say everything
# about the event (no ``attributes``: nearly every event) stores '' as its body and its document is
# rebuilt from the columns; otherwise the body is the whole document as JSON (as every row written
# before this was). Why: the JSON body repeated the columns, doubling the row (~280 -> ~110 bytes) —
# more pages to write per batch and a JSON encode per event on the ingestion path.
_EVENT_COLUMNS = ", ".join(EVENT_COLUMNS)
# A served event that reserved a send (its body's attributes.reserved), for the packed scan: only served
# events with a body are looked into, so the scan parses no JSON for the rest.
_RESERVED = "(CASE WHEN type = 'served' AND body != '' THEN json_extract(body, '$.attributes.reserved') END)"
_EVENT_KEY_SET = frozenset(EVENT_COLUMNS)


def _period_case(stamps: list[str], lo: int, hi: int) -> tuple[str, list[str]]:
    """SQL for the index i in [lo, hi) with stamps[i] <= ts < stamps[i + 1], given stamps[lo] <= ts < stamps[hi]
    (a binary search: about log2(hi - lo) comparisons per event), and its parameters in order."""
    if hi - lo == 1:
        return str(lo), []
    mid = (lo + hi) // 2
    left, lp = _period_case(stamps, lo, mid)
    right, rp = _period_case(stamps, mid, hi)
    return f"CASE WHEN ts < ? THEN {left} ELSE {right} END", [stamps[mid], *lp, *rp]


def _event_body(ev: dict[str, Any]) -> str:
    """The body column of an event: '' when the columns hold all of it (exactly the column keys), else its
    JSON document."""
    return "" if ev.keys() == _EVENT_KEY_SET else _dumps(ev)


def _event_doc(row: tuple[Any, ...]) -> dict[str, Any]:
    """An event's document from its row (the columns of EVENT_COLUMNS, then the body)."""
    body = row[-1]
    # strict=False: the row carries the body after the columns, and the body is not a field
    return dict(zip(EVENT_COLUMNS, row, strict=False)) if body == "" else json.loads(body)


_first = itemgetter(0)
