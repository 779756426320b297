"""SQLite counters: additive (collection, key, field) values, several fields of a key packed into one row."""

from __future__ import annotations

import sqlite3
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from contenthub.store.sqlite.connection import SQLiteBase, _chunks


class SQLiteCounters(SQLiteBase):
    # --- counters ----------------------------------------------------------------------
    # A key's counters are the sum of its plain rows (one per field) and, optionally, one packed row
    # (field PACKED_FIELD) holding several fields in a blob (see _pack). Why: an ingested event adds to
    # ~7 fields of its user's profile, and one upsert per field was the largest cost of ingestion (~63,000
    # of a 10,000-event batch's upserts); a read-modify-write of one packed row per key replaces them
    # (bench/RESULTS.md, "Figures behind design choices"). Keys whose batch touches few fields keep plain upserts
    # (cheaper for one or two fields), and a packed row stops growing at PACK_MAX_FIELDS (a blob past
    # a page would spill to overflow pages), so its key goes on in plain rows. Readers always add both up,
    # so rows written before packing existed, by store copies or by either path read the same.
    def _write_counters(self, tx: sqlite3.Connection, groups: Sequence[CounterGroup]) -> None:
        """Apply increments grouped per key (``_checked``: each key once, no reserved field name)."""
        current = self._packed_rows(tx, [(c, k) for c, k, terms in groups if len(terms) >= PACK_MIN_FIELDS])
        rewritten: list[tuple[bytes, str, str, str]] = []  # (blob, collection, key, field) of packed rows that exist
        added: list[tuple[str, str, str, bytes]] = []  # first packed rows
        plain: list[tuple[str, str, str, float]] = []
        for collection, key, terms in groups:
            was = current.get((collection, key))
            blob = _merge_packed(was, terms) if len(terms) >= PACK_MIN_FIELDS else None
            if blob is None:
                plain += [(collection, key, f, v) for f, v in (terms.items() if isinstance(terms, dict) else terms)]
            elif was is None:
                added.append((collection, key, PACKED_FIELD, blob))
            else:
                rewritten.append((blob, collection, key, PACKED_FIELD))
        # UPDATE, not INSERT OR REPLACE: REPLACE deletes the row and inserts it again, and the B-tree
        # rebalancing that sets off dirtied ~40% more pages (measured on 9,500 profile rows: 10,500 -> 7,450
        # WAL frames, 308 -> 240 ms), every one of them written to the WAL at commit.
        tx.executemany("UPDATE counters SET value=? WHERE collection=? AND key=? AND field=?", rewritten)
        tx.executemany("INSERT INTO counters (collection, key, field, value) VALUES (?,?,?,?)", added)
        tx.executemany(
            "INSERT INTO counters (collection, key, field, value) VALUES (?,?,?,?) "
            "ON CONFLICT (collection, key, field) DO UPDATE SET value = value + excluded.value",
            plain,
        )

    def _packed_rows(self, tx: sqlite3.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """The packed row of each (collection, key) that has one."""
        out: dict[tuple[str, str], bytes] = {}
        by_collection: dict[str, list[str]] = {}
        for collection, key in keys:
            by_collection.setdefault(collection, []).append(key)
        for collection, names in by_collection.items():
            for chunk in _chunks(sorted(names), 500):
                marks = ",".join("?" * len(chunk))
                for key, blob in tx.execute(
                    f"SELECT key, value FROM counters WHERE collection=? AND field=? AND key IN ({marks})",
                    (collection, PACKED_FIELD, *chunk),
                ):
                    out[collection, key] = blob
        return out

    def add_to_counters(self, collection: str, updates: list[tuple[str, str, float]]) -> None:
        with self._tx() as tx:
            self._write_counters(tx, _checked(_grouped(collection, updates)))

    def get_counters(self, collection: str, key: str) -> dict[str, float]:
        rows = (
            self._conn()
            .execute("SELECT field, value FROM counters WHERE collection=? AND key=?", (collection, key))
            .fetchall()
        )
        return merge_counter_rows(rows)

    def scan_counters(self, collection: str) -> Iterator[tuple[str, str, float]]:
        cur = self._conn().cursor()
        cur.row_factory = None
        cur.execute("SELECT key, field, value FROM counters WHERE collection=?", (collection,))
        key: str | None = None
        rows: list[tuple[str, Any]] = []
        while batch := cur.fetchmany(10000):
            for k, fld, value in batch:  # in primary-key order: a key's rows are consecutive
                if k != key:
                    if rows:
                        yield from ((key, f, v) for f, v in merge_counter_rows(rows).items())  # type: ignore[misc]
                    key, rows = k, []
                rows.append((fld, value))
        if rows:
            yield from ((key, f, v) for f, v in merge_counter_rows(rows).items())  # type: ignore[misc]

    def delete_counters(self, collection: str, key: str) -> None:
        with self._tx() as tx:
            tx.execute("DELETE FROM counters WHERE collection=? AND key=?", (collection, key))


PACKED_FIELD = "\x00"  # the field name of a key's packed row (reserved: no counter may be named so)
PACK_MIN_FIELDS = 4  # a batch's increments to fewer fields of a key are cheaper as plain upserts
PACK_MAX_FIELDS = 128  # ~3 KB of names and values: the packed row stays on its B-tree page
_BIG_ENDIAN = sys.byteorder == "big"


def _pack(fields: dict[str, float]) -> bytes:
    """Field count (4 bytes, little-endian), the values (float64, little-endian), the names joined by NUL."""
    values = array("d", fields.values())
    if _BIG_ENDIAN:
        values.byteswap()
    return len(fields).to_bytes(4, "little") + values.tobytes() + "\x00".join(fields).encode()


def _packed_parts(blob: bytes) -> tuple[int, array[float], bytes]:
    """A packed row's field count, values (native order) and NUL-joined names (see ``_pack``)."""
    n = int.from_bytes(blob[:4], "little")
    values = array("d")
    values.frombytes(blob[4 : 4 + 8 * n])
    if _BIG_ENDIAN:
        values.byteswap()
    return n, values, blob[4 + 8 * n :]


def _unpack(blob: bytes) -> dict[str, float]:
    n, values, names = _packed_parts(blob)
    return dict(zip(names.decode().split("\x00") if n else [], values, strict=True))


def _merge_packed(blob: bytes | None, terms: dict[str, float] | Iterable[tuple[str, float]]) -> bytes | None:
    """A packed row with its key's increments ``terms`` ({field: delta}, or (field, delta) pairs, repeats
    allowed) added in order, or None when they do not fit one packed row (too many fields, or a name with
    NUL in it): then the terms go to plain rows.

    A key's first packed row from a {field: delta} is packed as it is (~4x cheaper than the loop). Else
    names are looked up in a dict built from the row's NUL-joined names, values updated in place, and the
    names written back as they were plus any new ones: no float is re-added and no name re-encoded."""
    if isinstance(terms, dict):
        if blob is None:
            return _pack(terms) if len(terms) <= PACK_MAX_FIELDS and "\x00" not in "".join(terms) else None
        terms = terms.items()
    n, values, names = (0, array("d"), b"") if blob is None else _packed_parts(blob)
    index = dict(zip(names.decode().split("\x00"), range(n), strict=False)) if n else {}
    added: list[str] = []
    for f, v in terms:
        i = index.get(f)
        if i is not None:
            values[i] += v
            continue
        if "\x00" in f or n >= PACK_MAX_FIELDS:
            return None
        index[f] = n
        values.append(0.0 + v)
        added.append(f)
        n += 1
    if added:
        tail = "\x00".join(added).encode()
        names = names + b"\x00" + tail if n > len(added) else tail
    if _BIG_ENDIAN:
        values.byteswap()
    return n.to_bytes(4, "little") + values.tobytes() + names


def merge_counter_rows(rows: Iterable[tuple[str, Any]]) -> dict[str, float]:
    """One key's counters from its stored (field, value) rows: plain rows and the packed row added up,
    in field order."""
    out: dict[str, float] = {}
    for fld, value in rows:
        if fld == PACKED_FIELD:
            for f, v in _unpack(value).items():
                out[f] = out.get(f, 0.0) + v
        else:
            out[fld] = out.get(fld, 0.0) + float(value)
    return dict(sorted(out.items()))


CounterGroup = tuple[str, str, "dict[str, float] | list[tuple[str, float]]"]
"""One key's increments: (collection, key, {field: delta} or [(field, delta), ...] with repeats, in order)."""


def _grouped(collection: str, updates: list[tuple[str, str, float]]) -> list[CounterGroup]:
    """add_to_counters' (key, field, delta) increments per key, in key order; a key's keep their order."""
    by_key: dict[str, list[tuple[str, float]]] = {}
    for key, f, v in updates:
        terms = by_key.get(key)
        if terms is None:
            terms = by_key[key] = []
        terms.append((f, v))
    return [(collection, key, by_key[key]) for key in sorted(by_key)]


def _checked(groups: Sequence[CounterGroup]) -> Sequence[CounterGroup]:
    """``groups`` when each (collection, key) comes once and no field has the reserved name (else
    ValueError); a key given twice has its increments joined into one group, in order — applying two
    groups of one key would merge both into the same packed row read and keep only the second."""
    for _key, _op, terms in groups:
        if (PACKED_FIELD in terms) if isinstance(terms, dict) else any(f == PACKED_FIELD for f, _value in terms):
            raise ValueError("the counter field name '\\x00' is reserved")
    if len({(c, k) for c, k, _ignored in groups}) == len(groups):
        return groups
    joined: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for c, k, terms in groups:
        joined.setdefault((c, k), []).extend(terms.items() if isinstance(terms, dict) else terms)
    return [(c, k, terms) for (c, k), terms in sorted(joined.items())]
