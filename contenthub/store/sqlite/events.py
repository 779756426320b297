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
        rows = [(ev["id"], ev.get("type"), ev.get("user_id"), ev.get("asset_id"), ev.get("channel"), ev.get("group_id"),
                 ev.get("recommendation_id"), ev.get("ts"), ev.get("value"), _event_body(ev)) for ev in events]
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
            f"SELECT {_EVENT_COLUMNS}, body FROM events WHERE {where} ORDER BY ts {order}, id LIMIT ?", (*params, q.limit)
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

    def event_columns(self, user_ids: list[str] | None = None) -> dict[str, tuple[Any, ...]]:
        """Events as columns — user_id, type, asset_id, channel, ts (epoch seconds, microsecond
        precision), value, recommendation_id, reserved (a served event that reserved a send) — without
        decoding the JSON bodies of other events: for readers that vectorise over millions of events
        (recommend.batch)."""
        sql = ("SELECT user_id, type, asset_id, channel, "
               "CAST(strftime('%s', ts) AS REAL) + CAST(substr(ts, 20, 7) AS REAL), value, recommendation_id, "
               f"{_RESERVED} IS 1 FROM events")
        cur = self._conn().cursor()
        cur.row_factory = None  # plain tuples: Row objects cost more than the query
        rows: list[tuple[Any, ...]] = []
        if user_ids is None:
            rows = cur.execute(sql).fetchall()
        else:
            for chunk in _chunks(user_ids, 5000):
                rows += cur.execute(f"{sql} WHERE user_id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        names = ("user_id", "type", "asset_id", "channel", "ts", "value", "recommendation_id", "reserved")
        cols = tuple(zip(*rows)) if rows else ((),) * len(names)
        return dict(zip(names, cols, strict=True))

    # Packed scans (recommend.batch): when most users' events are wanted, look-ups by user cost a random
    # page read per event (~9 µs); one pass over the table with SQLite joining each column into one string
    # (group_concat, no Python object per event) costs ~1 µs. Not part of the Store protocol.
    def event_scan_ranges(self, size: int = 250_000) -> list[tuple[str | None, str | None]]:
        """Primary-key ranges (after ``lo``, up to and including ``hi``; None: open) of ~``size`` events."""
        bounds: list[str] = []
        conn = self._conn()
        while (row := conn.execute("SELECT id FROM events WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?",
                                   (bounds[-1] if bounds else "", size - 1)).fetchone()) is not None:
            bounds.append(row[0])
        return list(zip([None, *bounds], [*bounds, None], strict=True))

    def scan_events_packed(self, channel: str, lo: str | None = None, hi: str | None = None, *,
                           types: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The events with a user in one primary-key range, each column packed into one string: ``n``;
        ``user_id``, ``asset_id`` ('' for none) and ``type`` joined by U+001F; ``on_channel`` one '0'/'1'
        per event (channel == ``channel``); ``ts`` the stored stamps back to back when all are 27 characters
        long (as to_iso writes them; ``ts_width`` 27), else joined by U+001F (``ts_width`` 0).
        ``types`` (fewer than 78): ``type`` is instead one character per event, chr(48 + i) for
        ``types[i]`` and '~' for any other type (``type_coded`` True) — no string per event to split
        and look up on the reader's side."""
        where = ["user_id IS NOT NULL"]
        if lo is not None:
            where.append("id > :lo")
        if hi is not None:
            where.append("id <= :hi")
        params: dict[str, Any] = {"sep": "\x1f", "ch": channel, "lo": lo, "hi": hi}
        cond = " AND ".join(where)
        type_col = "group_concat(type, :sep)"
        if types is not None:
            if len(types) >= 78:
                raise ValueError("at most 77 coded event types")
            params.update({f"t{i}": t for i, t in enumerate(types)})
            cases = " ".join(f"WHEN :t{i} THEN '{chr(48 + i)}'" for i in range(len(types)))
            type_col = f"group_concat(CASE type {cases} ELSE '~' END, '')" if types else "group_concat('~', '')"
        row = self._conn().execute(
            "SELECT count(*), group_concat(user_id, :sep), group_concat(ifnull(asset_id, ''), :sep), "
            f"{type_col}, group_concat(channel IS :ch, ''), group_concat(ts, ''), "
            f"group_concat({_RESERVED} IS 1, ''), "
            f"group_concat(CASE WHEN type = 'delivered' OR {_RESERVED} IS 1 THEN ifnull(recommendation_id, '') "
            "ELSE '' END, :sep) "
            f"FROM events NOT INDEXED WHERE {cond}", params).fetchone()
        n, users, assets, type_values, on_channel, ts, reserved, rec = row
        width = 27
        if n and len(ts) != 27 * n:  # then some stamp has another length
            width = 0
            ts = self._conn().execute(f"SELECT group_concat(ts, :sep) FROM events NOT INDEXED WHERE {cond}", params).fetchone()[0]
        return {"n": n, "user_id": users or "", "asset_id": assets or "", "type": type_values or "",
                "type_coded": types is not None, "on_channel": on_channel or "", "ts": ts or "", "ts_width": width,
                "reserved": reserved or "", "recommendation_id": rec or ""}

    def scan_event_columns(self, channel: str, lo: str | None = None, hi: str | None = None, *,
                           types: tuple[str, ...]) -> dict[str, Any]:
        """The events with a user in one primary-key range as columns (one ``scan_events_packed`` read,
        decoded here so no reader knows the packing): ``user_id`` and ``asset_id`` ('' for none) lists;
        numpy ``type`` (index into ``types``, −1 for another type), ``on_channel`` (channel ==
        ``channel``), ``ts`` (epoch seconds), ``reserved`` (a served event a caller reserved a send
        with: ``attributes.reserved``) and ``recommendation_id`` ('' for none; given for deliveries and
        reserved sends, what caps need to tell a confirmed reservation). Raises ValueError when an id
        holds the packing's separator (U+001F): then read by user with ``event_columns``."""
        p = self.scan_events_packed(channel, lo, hi, types=types)
        n = p["n"] or 0
        uid = p["user_id"].split("\x1f") if n else []
        aid = p["asset_id"].split("\x1f") if n else []
        codes = np.frombuffer(p["type"].encode("ascii"), dtype=np.uint8)
        typ = np.where(codes == ord("~"), -1, codes.astype(np.int16) - 48).astype(np.int8)
        on_channel = np.frombuffer(p["on_channel"].encode("ascii"), dtype=np.uint8) == ord("1")
        ts = (epochs([p["ts"][k:k + 27] for k in range(0, len(p["ts"]), 27)]) if p["ts_width"] == 27
              else epochs(p["ts"].split("\x1f") if n else []))
        rec = p["recommendation_id"].split("\x1f") if n else []
        reserved = np.frombuffer(p["reserved"].encode("ascii"), dtype=np.uint8) == ord("1")
        if not len(uid) == len(aid) == typ.size == on_channel.size == ts.size == len(rec) == reserved.size == n:
            raise ValueError("an id contains the separator U+001F")
        return {"user_id": uid, "asset_id": aid, "type": typ, "on_channel": on_channel, "ts": ts,
                "reserved": reserved, "recommendation_id": rec}


    def count_events(self, q: EventQuery | None = None) -> int:
        where, params = self._event_where(q or EventQuery())
        return int(self._conn().execute(f"SELECT COUNT(*) FROM events WHERE {where}", params).fetchone()[0])

    def event_counts(self, group_by: tuple[str, ...], q: EventQuery) -> list[tuple[tuple[Any, ...], int, float]]:
        for col in group_by:
            if col not in EVENT_COLUMNS:
                raise ValueError(f"cannot group events by {col}")
        where, params = self._event_where(q)
        cols = ", ".join(group_by)
        rows = self._conn().execute(
            f"SELECT {cols}, COUNT(*), COALESCE(SUM(value), 0) FROM events WHERE {where} GROUP BY {cols}", params
        ).fetchall()
        n = len(group_by)
        return [(tuple(r[:n]), int(r[n]), float(r[n + 1])) for r in rows]

    def event_counts_by_period(self, group_by: tuple[str, ...], q: EventQuery, bounds: list[datetime]
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
            [*period_params, *params, stamps[0], stamps[-1]])
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
    return dict(zip(EVENT_COLUMNS, row)) if body == "" else json.loads(body)


_first = itemgetter(0)
