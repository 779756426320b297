"""Embedded store: SQLite in WAL mode, a content-addressed media folder and an in-memory vector matrix.

Why SQLite first: one file, crash-safe transactions, FTS5 for Chinese/English full text (trigram
tokenizer), and no server to run — enough for one team on one machine.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sqlite3
import sys
import threading
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from contenthub.errors import ConflictError
from contenthub.i18n import _
from contenthub.store import analysis
from contenthub.store.base import CounterDeriver
from contenthub.store.columns import (
    EventColumns,
    doc_columns_of,
    empty_event_columns,
    event_columns_of,
)
from contenthub.store.outage import translate_outages
from contenthub.store.query import AssetFilter, AssetSort, EventQuery, Hit, HitPage
from contenthub.store.sqlite_migrations import MIGRATIONS
from contenthub.store.vectors import VectorIndex
from contenthub.timeutil import epochs, to_iso, utcnow

log = logging.getLogger(__name__)
FACETS = ("scenes", "channels", "tags", "stages")
EVENT_COLUMNS = ("id", "type", "user_id", "asset_id", "channel", "group_id", "recommendation_id", "ts", "value")
CACHE_KIB = 64 * 1024
# The one connection that ingests events gets a bigger cache: a 10,000-event batch dirties ~35,000
# pages (events, their indexes and ~95,000 counters at random keys); with the 64 MB cache they spill
# to the WAL mid-transaction and are read back (measured: event inserts 2x the CPU). One connection,
# so this is paid once per process, not per worker thread.
INGEST_CACHE_KIB = 256 * 1024
# Checkpoint when the WAL holds this many pages (SQLite's default is 1,000, i.e. after every event
# batch). An ingested batch rewrites ~35,000 pages and the next batches rewrite many of the same ones
# (user index, profile counters), so copying them back to the database every few batches writes each
# page once instead of once per batch (measured: checkpoint CPU per batch 280 -> 151 ms when done every
# 4th batch). Costs a WAL file of up to ~256 MB plus a batch, and a longer WAL replay after a crash.
WAL_AUTOCHECKPOINT_PAGES = 65536
# Ingestion checkpoints on a background thread after this many events (2-3 pages of WAL each, so about
# WAL_AUTOCHECKPOINT_PAGES): see _checkpoint_loop.
CHECKPOINT_EVENTS = 25_000
CHECKPOINT_TAIL_PAGES = 4_000  # what the checkpoint thread leaves for its last pass, the one that holds writers off
MMAP_BYTES = 1 << 30
KNN_CANDIDATES = 1000
"""Nearest vectors a filtered kNN checks against the filter before it scans what the filter keeps."""




_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _dumps(doc: Any) -> str:
    return _ENCODER.encode(doc)  # = json.dumps with these options, without building an encoder per call


def outage_reason(exc: BaseException) -> str | None:
    """SQLite's outages (see contenthub.store.outage): a lock held past busy_timeout, a failing disk."""
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        if "locked" in message or "busy" in message:
            return "the database stayed locked by another writer"
        if "disk i/o error" in message:
            return "a disk I/O error"
    return None


@translate_outages("SQLite", outage_reason)
class SQLiteStore:
    backend = "sqlite"

    def __init__(self, db_path: Path, media_dir: Path) -> None:
        self.db_path = Path(db_path)
        self.media_dir = Path(media_dir)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        (self.media_dir / ".tmp").mkdir(exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._all_conns: list[tuple[threading.Thread | None, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._ingest: sqlite3.Connection | None = None
        self._turn_fd: int | None = None  # the write-turn lock file (see _writer_turn), opened on first write
        self._turn_depth = 0
        self._checkpointer: threading.Thread | None = None  # started by the first ingested batch
        self._checkpoint_wanted = threading.Event()
        self._closing = False
        self._events_since_checkpoint = 0
        self._migrate()
        self._index_missing_terms()
        self._cleanup_tmp()
        self.vectors = VectorIndex()
        self._load_vectors()

    # --- connections -------------------------------------------------------------------
    def _open(self, cache_kib: int, *, shared: bool = False,
              autocheckpoint: int = WAL_AUTOCHECKPOINT_PAGES) -> sqlite3.Connection:
        """A connection in WAL mode with ``synchronous=NORMAL``: a commit appends its pages to the WAL
        with write() and returns; fsync happens at checkpoints. So a committed (acknowledged) batch is in
        the OS page cache when the call returns and survives SIGKILL of the process (tests/
        test_crash_recovery.py); what it does not survive is an OS crash or power loss between the
        commit and the next checkpoint — the trade SQLite documents for WAL + NORMAL."""
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        # Random-key inserts into the event indexes and counters touch pages all over the file: a
        # 2 MB default cache turns each into a read. 64 MB of cache plus a shared memory map keep the
        # hot pages resident (measured: ingestion several times faster on a 1M-event store).
        conn.execute(f"PRAGMA cache_size={-cache_kib}")
        conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
        with self._conns_lock:
            self._close_orphans()
            self._all_conns.append((None if shared else threading.current_thread(), conn))
        return conn

    def _close_orphans(self) -> None:
        """Close the connections of threads that have ended (caller holds ``_conns_lock``).

        Why: each thread gets its own connection (sqlite3 objects are not shared across threads here), and
        short-lived threads — background retraining, the journeys loop, test servers — would otherwise
        leave theirs open for the life of the process: file descriptors and page cache that only grow.
        """
        alive = []
        for owner, conn in self._all_conns:
            if owner is None or owner.is_alive():
                alive.append((owner, conn))
                continue
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._all_conns = alive

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open(CACHE_KIB)
        return conn

    def _ingest_conn(self) -> sqlite3.Connection:
        """The connection event batches are written on (only ever used under ``_write_lock``)."""
        if self._ingest is None:
            # checkpoints after ingested batches run on their own thread (_checkpoint_loop); the commit's
            # own stays as a safety net, further out so that it does not fire first
            self._ingest = self._open(INGEST_CACHE_KIB, shared=True, autocheckpoint=4 * WAL_AUTOCHECKPOINT_PAGES)
        return self._ingest

    @contextmanager
    def _tx(self, *, ingest: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction at a time per process; BEGIN IMMEDIATE takes the file lock up front
        so two processes never deadlock upgrading read locks."""
        with self._write_lock, self._writer_turn():
            conn = self._ingest_conn() if ingest else self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """Wait for this process's turn to write among all processes on the database (caller holds
        ``_write_lock``): an exclusive ``flock`` on ``<db>.write-lock``, taken before BEGIN IMMEDIATE.

        Why: SQLite's own wait for a busy database is a sleep-and-retry loop (1, 2, 5, 10 … 100 ms), so
        with several API workers ingesting, a worker that found the database busy slept on while the
        writer was long done. A blocked flock wakes the moment the holder lets go, and the kernel drops it
        if the holder dies. Every writer of this store takes it, so BEGIN IMMEDIATE then finds the database
        free (other tools writing the file without it still get SQLite's busy wait, as before)."""
        if self._turn_depth:
            self._turn_depth += 1  # a write inside a write on this thread: the turn is already ours
        else:
            if self._turn_fd is None:
                self._turn_fd = os.open(f"{self.db_path}.write-lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._turn_fd, fcntl.LOCK_EX)
            self._turn_depth = 1
        try:
            yield
        finally:
            self._turn_depth -= 1
            if not self._turn_depth:
                fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def _checkpoint_soon(self, n_events: int) -> None:
        """Count ingested events; past CHECKPOINT_EVENTS, wake the checkpoint thread (started here once)."""
        with self._write_lock:  # batches on several threads: one count, one thread
            self._events_since_checkpoint += n_events
            if self._events_since_checkpoint < CHECKPOINT_EVENTS or self._closing:
                return
            self._events_since_checkpoint = 0
            if self._checkpointer is None:
                self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="sqlite-checkpoint",
                                                      daemon=True)
                self._checkpointer.start()
        self._checkpoint_wanted.set()

    def _checkpoint_loop(self) -> None:
        """Copy the WAL back into the database while ingestion goes on.

        Why: with SQLite's automatic checkpoint, every third 10,000-event commit also copied ~60,000
        WAL pages back and fsynced — ~1 s instead of ~0.2 s, with the write lock held and the ingesting
        thread stalled. Here a PASSIVE checkpoint copies the bulk without blocking anyone (sqlite3 lets
        go of the GIL, so it runs beside the next batch's Python work) — again while batches committed
        meanwhile leave more than CHECKPOINT_TAIL_PAGES — then a last one, taken in the write turn, copies
        the rest: with every frame copied and no writer between, the next write starts the WAL over
        instead of growing it. The ingest connection's automatic checkpoint (at 4x WAL_AUTOCHECKPOINT_PAGES)
        stays as the safety net when this thread falls behind."""
        conn = self._open(CACHE_KIB // 16, shared=True)
        while True:
            self._checkpoint_wanted.wait()
            self._checkpoint_wanted.clear()
            if self._closing:
                return
            try:
                for _ignored in range(3):  # copy while writers go on, until little is left (a batch lands meanwhile)
                    _ignored, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames - copied <= CHECKPOINT_TAIL_PAGES:
                        break
                if frames != copied:
                    with self._write_lock, self._writer_turn():
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # the database is busy or going away: the next batch asks again
                if self._closing:
                    return
                log.warning("background WAL checkpoint failed: %s", exc)

    def close(self) -> None:
        self._closing = True
        if self._checkpointer is not None:
            self._checkpoint_wanted.set()
            self._checkpointer.join(timeout=60)
            self._checkpointer = None
        self._closing = False  # a closed store opens connections again when used (threads too)
        with self._conns_lock:
            for _ignored, conn in self._all_conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_conns.clear()
        self._local = threading.local()
        self._ingest = None
        with self._write_lock:
            if self._turn_fd is not None:
                os.close(self._turn_fd)  # releases the lock file too (never held here: _write_lock is)
                self._turn_fd = None

    def _migrate(self) -> None:
        conn = self._conn()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT, applied_at TEXT)"
        )
        current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        for version, description, sql in MIGRATIONS:
            if version <= current:
                continue
            with self._tx() as tx:
                for statement in _split_sql(sql):
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                    (version, description, to_iso(utcnow())),
                )

    def schema_version(self) -> int:
        return int(self._conn().execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def _cleanup_tmp(self) -> None:
        """Partial uploads from a crash are never referenced; remove them on start."""
        for p in (self.media_dir / ".tmp").iterdir():
            try:
                p.unlink()
            except OSError:
                pass

    def _load_vectors(self) -> None:
        rows = self._conn().execute("SELECT v.asset_id, v.vec, a.rowid FROM vectors v LEFT JOIN assets a ON a.id = "
                                    "v.asset_id").fetchall()
        if rows:
            self.vectors.upsert({r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows},
                                {r[0]: r[2] for r in rows if r[2] is not None})

    def now(self) -> datetime:
        return utcnow()

    def integrity_check(self) -> bool:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # --- generic documents -------------------------------------------------------------
    def put_doc(self, collection: str, doc_id: str, doc: dict[str, Any], *, expected_version: int | None = None) -> int:
        with self._tx() as tx:
            return self._put_doc(tx, collection, doc_id, doc, expected_version)

    def _put_doc(
        self, tx: sqlite3.Connection, collection: str, doc_id: str, doc: dict[str, Any], expected_version: int | None
    ) -> int:
        row = tx.execute("SELECT version FROM docs WHERE collection=? AND id=?", (collection, doc_id)).fetchone()
        current = row[0] if row else 0
        if expected_version is not None and expected_version != current:
            raise ConflictError(
                _("{collection} '{doc_id}' was changed by someone else (version {current}, you had {expected_version}). Reload and apply your change again.").format(collection=collection, doc_id=doc_id, current=current, expected_version=expected_version),
                field="version",
                value=expected_version,
                extra={"current_version": current},
            )
        version = current + 1
        tx.execute(
            "INSERT INTO docs (collection, id, body, version, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (collection, id) DO UPDATE SET body=excluded.body, version=excluded.version, "
            "updated_at=excluded.updated_at",
            (collection, doc_id, _dumps(doc), version, to_iso(utcnow())),
        )
        return version

    def put_docs_atomic(self, collection: str, docs: dict[str, dict[str, Any]], delete: list[str] = ()) -> None:
        with self._tx() as tx:
            for doc_id in delete:
                tx.execute("DELETE FROM docs WHERE collection=? AND id=?", (collection, doc_id))
            for doc_id, doc in docs.items():
                self._put_doc(tx, collection, doc_id, doc, None)

    def get_doc(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        found = self.get_doc_version(collection, doc_id)
        return found[0] if found else None

    def get_doc_version(self, collection: str, doc_id: str) -> tuple[dict[str, Any], int] | None:
        row = self._conn().execute(
            "SELECT body, version FROM docs WHERE collection=? AND id=?", (collection, doc_id)
        ).fetchone()
        return (json.loads(row["body"]), row["version"]) if row else None

    def get_docs(self, collection: str, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(doc_ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self._conn().execute(
                f"SELECT id, body FROM docs WHERE collection=? AND id IN ({marks})", (collection, *chunk)
            ):
                out[row["id"]] = json.loads(row["body"])
        return out

    def _where(self, collection: str, where: dict[str, Any] | None) -> tuple[str, list[Any]]:
        clauses = ["collection=?"]
        params: list[Any] = [collection]
        for key, value in (where or {}).items():
            if not key.replace("_", "").isalnum():
                raise ValueError(f"bad field name {key!r}")
            if isinstance(value, bool):
                value = int(value)
            if value is None:
                clauses.append(f"json_extract(body, '$.{key}') IS NULL")
            else:
                clauses.append(f"json_extract(body, '$.{key}') = ?")
                params.append(value)
        return " AND ".join(clauses), params

    def list_docs(
        self, collection: str, *, where: dict[str, Any] | None = None, limit: int = 1000, offset: int = 0
    ) -> list[dict[str, Any]]:
        sql, params = self._where(collection, where)
        rows = self._conn().execute(
            f"SELECT body FROM docs WHERE {sql} ORDER BY id LIMIT ? OFFSET ?", (*params, limit, offset)
        ).fetchall()
        return [json.loads(r["body"]) for r in rows]

    def count_docs(self, collection: str, *, where: dict[str, Any] | None = None) -> int:
        sql, params = self._where(collection, where)
        return int(self._conn().execute(f"SELECT COUNT(*) FROM docs WHERE {sql}", params).fetchone()[0])

    def delete_doc(self, collection: str, doc_id: str) -> bool:
        with self._tx() as tx:
            cur = tx.execute("DELETE FROM docs WHERE collection=? AND id=?", (collection, doc_id))
            return cur.rowcount > 0

    # --- assets ------------------------------------------------------------------------
    def put_asset(self, asset: dict[str, Any]) -> None:
        self.put_assets([asset])

    def put_assets(self, assets: list[dict[str, Any]]) -> None:
        with self._tx() as tx:
            for asset in assets:
                self._put_asset(tx, asset)
        unkeyed = self.vectors.unkeyed([a["id"] for a in assets])
        if unkeyed:  # a vector stored before its asset: key it now, so filtered kNN finds it
            self.vectors.set_keys(self._rowids(unkeyed))

    def _put_asset(self, tx: sqlite3.Connection, a: dict[str, Any]) -> None:
        aid = a["id"]
        tx.execute(
            "INSERT INTO assets (id, body, title, kind, content_type, status, valid_from, valid_until, created_at, "
            "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET body=excluded.body, "
            "title=excluded.title, kind=excluded.kind, content_type=excluded.content_type, status=excluded.status, "
            "valid_from=excluded.valid_from, valid_until=excluded.valid_until, updated_at=excluded.updated_at",
            (
                aid,
                _dumps(a),
                a["title"],
                a.get("kind"),
                a.get("content_type"),
                a["status"],
                a.get("valid_from"),
                a.get("valid_until"),
                a["created_at"],
                a["updated_at"],
            ),
        )
        tx.execute("DELETE FROM asset_facets WHERE asset_id=?", (aid,))
        tx.executemany(
            "INSERT OR IGNORE INTO asset_facets (asset_id, facet, value) VALUES (?,?,?)",
            [(aid, facet, v) for facet in FACETS for v in a.get(facet) or []],
        )
        rowid = tx.execute("SELECT rowid FROM assets WHERE id=?", (aid,)).fetchone()[0]
        tx.execute("DELETE FROM assets_fts WHERE rowid=?", (rowid,))  # by rowid: no scan of the FTS table
        tx.execute(
            "INSERT INTO assets_fts (rowid, asset_id, title, text, tags) VALUES (?,?,?,?,?)",
            (rowid, aid, a["title"], a.get("body") or "", " ".join(a.get("tags") or [])),
        )
        tx.execute("DELETE FROM assets_terms WHERE rowid=?", (rowid,))
        tx.execute("INSERT INTO assets_terms (rowid, title, body, tags, media, pinyin, initials) "
                   "VALUES (?,?,?,?,?,?,?)", (rowid, *_terms_row(a)))

    def _index_missing_terms(self) -> None:
        """Fill the word/pinyin index for assets stored before it existed (once, after migration 4)."""
        conn = self._conn()
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='assets_terms'").fetchone():
            return  # an older schema (tests pin the migrations)
        while True:
            rows = conn.execute("SELECT rowid, title, body FROM assets WHERE rowid NOT IN "
                                "(SELECT rowid FROM assets_terms) LIMIT 2000").fetchall()
            if not rows:
                return
            with self._tx() as tx:
                tx.executemany("INSERT INTO assets_terms (rowid, title, body, tags, media, pinyin, initials) "
                               "VALUES (?,?,?,?,?,?,?)",
                               [(r[0], *_terms_row({**json.loads(r[2]), "title": r[1]})) for r in rows])

    def get_asset(self, asset_id: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT body FROM assets WHERE id=?", (asset_id,)).fetchone()
        return json.loads(row["body"]) if row else None

    def get_assets(self, asset_ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(asset_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for row in self._conn().execute(f"SELECT id, body FROM assets WHERE id IN ({marks})", chunk):
                out[row["id"]] = json.loads(row["body"])
        return out

    def asset_fields(self, asset_ids: list[str], fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Some top-level fields of each stored asset (absent and null both read as None), decoded by
        SQLite's json_extract instead of loading whole bodies: for event ingestion, which needs only
        the tags of ~10,000 assets per batch (measured: a third of get_assets' CPU). Not part of the
        Store protocol; callers fall back to get_assets."""
        paths = ", ".join(_json_path(f) for f in (*fields, "id"))  # >= 2 paths: json_extract returns an array
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(asset_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for aid, values in self._conn().execute(
                f"SELECT id, json_extract(body, {paths}) FROM assets WHERE id IN ({marks})", chunk
            ):
                out[aid] = dict(zip(fields, json.loads(values), strict=False))
        return out

    def doc_field(self, collection: str, doc_ids: list[str], field: str) -> dict[str, Any]:
        """One top-level field of each stored doc (None when absent), without decoding the bodies: for
        event ingestion's bulk user look-up. Not part of the Store protocol; callers fall back to get_docs."""
        path = _json_path(field)
        out: dict[str, Any] = {}
        for chunk in _chunks(list(dict.fromkeys(doc_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for did, value in self._conn().execute(
                f"SELECT id, json_extract(body, {path}) FROM docs WHERE collection=? AND id IN ({marks})",
                (collection, *chunk),
            ):
                out[did] = value
        return out

    def _filter_sql(self, flt: AssetFilter, alias: str = "a") -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("kind", flt.kinds), ("content_type", flt.content_types), ("status", flt.statuses)):
            if values:
                clauses.append(f"{alias}.{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        for facet, values in (("scenes", flt.scenes), ("channels", flt.channels), ("tags", flt.tags), ("stages", flt.stages)):
            if values:
                clauses.append(
                    f"{alias}.id IN (SELECT asset_id FROM asset_facets WHERE facet=? AND value IN "
                    f"({','.join('?' * len(values))}))"
                )
                params.extend((facet, *values))
        if flt.valid_at is not None:
            at = to_iso(flt.valid_at)
            clauses.append(f"({alias}.valid_from IS NULL OR {alias}.valid_from <= ?)")
            clauses.append(f"({alias}.valid_until IS NULL OR {alias}.valid_until > ?)")
            params.extend((at, at))
        if flt.ids is not None:
            if not flt.ids:
                clauses.append("0")
            else:
                clauses.append(f"{alias}.id IN ({','.join('?' * len(flt.ids))})")
                params.extend(flt.ids)
        if flt.exclude_ids:
            clauses.append(f"{alias}.id NOT IN ({','.join('?' * len(flt.exclude_ids))})")
            params.extend(flt.exclude_ids)
        return (" AND ".join(clauses) or "1"), params

    def filter_assets(
        self, flt: AssetFilter, *, sort: AssetSort = "updated_desc", limit: int = 20, offset: int = 0
    ) -> HitPage:
        where, params = self._filter_sql(flt)
        order = {"updated_desc": "a.updated_at DESC, a.id", "created_desc": "a.created_at DESC, a.id",
                 "title_asc": "a.title, a.id"}[sort]
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM assets a WHERE {where}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT a.id FROM assets a WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", (*params, limit, offset)
        ).fetchall()
        return HitPage(hits=[Hit(r["id"], 0.0) for r in rows], total=int(total))

    def count_assets(self, flt: AssetFilter) -> int:
        where, params = self._filter_sql(flt)
        return int(self._conn().execute(f"SELECT COUNT(*) FROM assets a WHERE {where}", params).fetchone()[0])

    def _rowids(self, asset_ids: list[str]) -> dict[str, int]:
        """The assets' rowids (the vector index's integer keys, stable: an asset is updated in place)."""
        out: dict[str, int] = {}
        for chunk in _chunks(asset_ids, 500):
            marks = ",".join("?" * len(chunk))
            out.update((r[0], r[1]) for r in self._conn().execute(f"SELECT id, rowid FROM assets WHERE id IN ({marks})", chunk))
        return out

    def filtered_rowids(self, flt: AssetFilter) -> np.ndarray:
        """The rowids of the assets the filter keeps, as one integer array (no id string per asset)."""
        where, params = self._filter_sql(flt)
        cur = self._conn().cursor()
        cur.row_factory = None  # plain tuples: a Row object per asset would cost more than the query
        cur.execute(f"SELECT a.rowid FROM assets a WHERE {where}", params)
        return np.fromiter((r[0] for r in cur), dtype=np.int64)

    def filtered_ids(self, flt: AssetFilter) -> set[str]:
        where, params = self._filter_sql(flt)
        return {r[0] for r in self._conn().execute(f"SELECT a.id FROM assets a WHERE {where}", params)}

    def asset_facet_counts(self, facet: str, flt: AssetFilter) -> dict[str, int]:
        where, params = self._filter_sql(flt)
        conn = self._conn()
        if facet in FACETS:
            rows = conn.execute(
                f"SELECT f.value, COUNT(*) FROM asset_facets f JOIN assets a ON a.id=f.asset_id "
                f"WHERE f.facet=? AND {where} GROUP BY f.value",
                (facet, *params),
            ).fetchall()
        elif facet in ("kind", "content_type", "status"):
            rows = conn.execute(f"SELECT a.{facet}, COUNT(*) FROM assets a WHERE {where} GROUP BY a.{facet}", params).fetchall()
        else:
            raise ValueError(f"unknown facet {facet}")
        return {r[0]: int(r[1]) for r in rows if r[0] is not None}

    def text_search_assets(self, text: str, flt: AssetFilter, *, limit: int = 100) -> list[Hit]:
        """Assets holding every group of the query (a word, its pinyin or its initials; see
        store/analysis.py), best bm25 first: title weighs most, then tags, then body and poster text."""
        match = _terms_match(analysis.query_groups(text))
        if match is None or limit <= 0:
            return []
        where, params = self._filter_sql(flt)
        rows = self._conn().execute(
            f"SELECT a.id, bm25(assets_terms, {TERM_WEIGHTS}) AS r FROM assets_terms f JOIN assets a "
            f"ON a.rowid = f.rowid WHERE assets_terms MATCH ? AND {where} ORDER BY r, a.updated_at DESC LIMIT ?",
            (match, *params, limit),
        ).fetchall()
        return [Hit(r[0], float(-r[1])) for r in rows]

    def count_text_assets(self, text: str, flt: AssetFilter) -> int:
        match = _terms_match(analysis.query_groups(text))
        if match is None:
            return 0
        where, params = self._filter_sql(flt)
        return int(self._conn().execute(
            f"SELECT COUNT(*) FROM assets_terms f JOIN assets a ON a.rowid = f.rowid WHERE assets_terms MATCH ? "
            f"AND {where}", (match, *params)).fetchone()[0])

    # --- vectors -----------------------------------------------------------------------
    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        with self._tx() as tx:
            tx.executemany(
                "INSERT INTO vectors (asset_id, model_id, dim, vec) VALUES (?,?,?,?) ON CONFLICT (asset_id) DO "
                "UPDATE SET model_id=excluded.model_id, dim=excluded.dim, vec=excluded.vec",
                [
                    (aid, model_id, int(v.shape[-1]), np.asarray(v, dtype=np.float32).tobytes())
                    for aid, v in vectors.items()
                ],
            )
        if self.vectors.dim and any(v.shape[-1] != self.vectors.dim for v in vectors.values()):
            # A new model with another dimension: start the matrix over from what is stored.
            self.vectors = VectorIndex()
            self._load_vectors()
        else:
            self.vectors.upsert(vectors, self._rowids(list(vectors)))

    def knn_assets(self, vector: np.ndarray, flt: AssetFilter, *, k: int = 20) -> list[Hit]:
        """Nearest neighbours, the filter checked in SQL: first on the nearest KNN_CANDIDATES of all
        vectors (one indexed look-up of those ids — enough for any filter that keeps more than a few
        percent of the library), and only when that leaves fewer than k, exactly among every asset the
        filter keeps (then few enough to scan)."""
        if k <= 0:
            return []
        if flt.is_empty():
            return [Hit(a, s) for a, s in self.vectors.search(vector, k)]
        if flt.ids is None:
            want = max(KNN_CANDIDATES, 10 * k)
            cands = self.vectors.search(vector, want)
            keep = self.filtered_ids(replace(flt, ids=tuple(a for a, _ignored in cands)))
            hits = [Hit(a, s) for a, s in cands if a in keep][:k]
            if len(hits) >= k or len(cands) < want:  # enough, or every vector was a candidate
                return hits
        return [Hit(a, s) for a, s in self.vectors.search(vector, k, self.filtered_rowids(flt))]

    def get_vectors(self, asset_ids: list[str]) -> tuple[list[str], np.ndarray]:
        return self.vectors.rows_for(asset_ids)

    def vector_model_ids(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT model_id, COUNT(*) FROM vectors GROUP BY model_id").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def assets_missing_vectors(self, model_id: str, *, limit: int = 1000) -> list[str]:
        rows = self._conn().execute(
            "SELECT a.id FROM assets a LEFT JOIN vectors v ON v.asset_id=a.id "
            "WHERE v.asset_id IS NULL OR v.model_id != ? ORDER BY a.id LIMIT ?",
            (model_id, limit),
        ).fetchall()
        return [r[0] for r in rows]

    # --- media -------------------------------------------------------------------------
    def _media_file(self, sha256: str) -> Path:
        return self.media_dir / sha256[:2] / sha256[2:4] / sha256

    def media_tmp_dir(self) -> Path:
        return self.media_dir / ".tmp"

    def media_path(self, sha256: str) -> Path | None:
        p = self._media_file(sha256)
        return p if p.exists() else None

    def put_media_file(self, tmp_path: Path, sha256: str, size: int, mime: str) -> bool:
        dest = self._media_file(sha256)
        if dest.exists():
            tmp_path.unlink(missing_ok=True)
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, dest)  # atomic within one filesystem: never a partial file under its final name
        _fsync_dir(dest.parent)
        with self._tx() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO media (sha256, size, mime, created_at) VALUES (?,?,?,?)",
                (sha256, size, mime, to_iso(utcnow())),
            )
        return True

    def open_media(self, sha256: str) -> BinaryIO | None:
        p = self.media_path(sha256)
        return p.open("rb") if p else None

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

    def event_scan_parts(self) -> list[tuple[str | None, str | None]]:
        """Primary-key ranges (after ``lo``, up to and including ``hi``; None: open) of ~250k events."""
        bounds: list[str] = []
        conn = self._conn()
        while (row := conn.execute("SELECT id FROM events WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?",
                                   (bounds[-1] if bounds else "", 249_999)).fetchone()) is not None:
            bounds.append(row[0])
        return list(zip([None, *bounds], [*bounds, None], strict=True))

    def event_columns(self, channel: str, types: tuple[str, ...], *, user_ids: list[str] | None = None,
                      part: Any = None) -> EventColumns:
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
            f"{_RESERVED} IS 1 FROM events WHERE {where}", params).fetchall()

    def _packed_events(self, channel: str, lo: str | None, hi: str | None, types: tuple[str, ...]
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
        n, users, assets, codes, on_channel, ts, reserved, rec = self._conn().execute(
            "SELECT count(*), group_concat(user_id, :sep), group_concat(ifnull(asset_id, ''), :sep), "
            f"{type_col}, group_concat(channel IS :ch, ''), group_concat(ts, ''), "
            f"group_concat({_RESERVED} IS 1, ''), "
            f"group_concat(CASE WHEN type = 'delivered' OR {_RESERVED} IS 1 THEN ifnull(recommendation_id, '') "
            "ELSE '' END, :sep) "
            f"FROM events NOT INDEXED WHERE {cond}", params).fetchone()
        if not n:
            return empty_event_columns()
        if len(ts) != 27 * n:  # some stamp has another length
            ts = epochs(self._conn().execute(f"SELECT group_concat(ts, :sep) FROM events NOT INDEXED WHERE {cond}",
                                             params).fetchone()[0].split("\x1f"))
        else:
            ts = epochs([ts[k:k + 27] for k in range(0, len(ts), 27)])
        uid, aid, recs = users.split("\x1f"), assets.split("\x1f"), rec.split("\x1f")
        if not len(uid) == len(aid) == len(recs) == ts.size == n:
            return None
        code = np.frombuffer(codes.encode("ascii"), dtype=np.uint8)
        return {"user_id": uid, "asset_id": aid,
                "type": np.where(code == ord("~"), -1, code.astype(np.int16) - 48).astype(np.int8),
                "on_channel": np.frombuffer(on_channel.encode("ascii"), dtype=np.uint8) == ord("1"), "ts": ts,
                "reserved": np.frombuffer(reserved.encode("ascii"), dtype=np.uint8) == ord("1"),
                "recommendation_id": recs}

    def doc_field_columns(self, collection: str, fields: tuple[str, ...]) -> dict[str, list[str]]:
        """Extracted by SQLite's JSON functions and joined into one string per field (no Python JSON
        decoding); decoded document by document when a value holds the separator U+001F."""
        for f in fields:
            if not f.replace("_", "").isalnum():
                raise ValueError(f"bad field name {f!r}")
        cols = "".join(f", group_concat(ifnull(json_extract(body, '$.{f}'), ''), :sep)" for f in fields)
        row = self._conn().execute(f"SELECT count(*), group_concat(id, :sep){cols} FROM docs WHERE collection=:c",
                                   {"sep": "\x1f", "c": collection}).fetchone()
        out = {name: (v.split("\x1f") if row[0] else []) for name, v in zip(("id", *fields), row[1:], strict=True)}
        if any(len(v) != row[0] for v in out.values()):
            rows = self._conn().execute("SELECT id, body FROM docs WHERE collection=?", (collection,)).fetchall()
            return doc_columns_of(((r[0], json.loads(r[1])) for r in rows), fields)
        return out

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

    # --- counters ----------------------------------------------------------------------
    # A key's counters are the sum of its plain rows (one per field) and, optionally, one packed row
    # (field PACKED_FIELD) holding several fields in a blob (see _pack). Why: an ingested event adds to
    # ~7 fields of its user's profile, and one upsert per field was the largest cost of ingestion (~63,000
    # of a 10,000-event batch's upserts); a read-modify-write of one packed row per key replaces them
    # (measured: 0.28 s -> 0.16 s per batch). Keys whose batch touches few fields keep plain upserts
    # (cheaper for one or two fields), and a packed row stops growing at PACK_MAX_FIELDS (a blob past
    # a page would spill to overflow pages), so its key goes on in plain rows. Readers always add both up,
    # so rows written before packing existed, by store copies or by either path read the same.
    def _write_counters(self, tx: sqlite3.Connection, groups: list[CounterGroup]) -> None:
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
        rows = self._conn().execute(
            "SELECT field, value FROM counters WHERE collection=? AND key=?", (collection, key)
        ).fetchall()
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
    index = dict(zip(names.decode().split("\x00"), range(n))) if n else {}
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


def _checked(groups: list[CounterGroup]) -> list[CounterGroup]:
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


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _json_path(field: str) -> str:
    if not field.replace("_", "").isalnum():
        raise ValueError(f"bad field name {field!r}")
    return f"'$.{field}'"


TERM_WEIGHTS = "3.0, 1.0, 2.0, 1.0, 1.5, 0.5"
"""bm25 weights of assets_terms' columns: title, body, tags, media (poster text), pinyin, initials."""


def _terms_row(a: dict[str, Any]) -> tuple[str, ...]:
    terms = analysis.asset_terms(a)
    return tuple(terms[f] for f in analysis.TERM_FIELDS)


def _fts_phrase(tokens: tuple[str, ...]) -> str:
    return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'


def _terms_match(groups: list[analysis.QueryGroup]) -> str | None:
    """An FTS5 query over assets_terms: every group must match, each through any of its alternatives."""
    if not groups:
        return None
    clauses = []
    for g in groups:
        words = _fts_phrase(g.words) if g.phrase else " AND ".join(_fts_phrase((w,)) for w in g.words)
        alts = ["{title body tags media} : (" + words + ")"]
        if g.pinyin:
            alts.append("{pinyin} : " + _fts_phrase(g.pinyin))
        if g.initials:
            alts.append("{initials} : " + _fts_phrase(g.initials))
        clauses.append("(" + " OR ".join(alts) + ")")
    return " AND ".join(clauses)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement knows about quotes)."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_media_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
