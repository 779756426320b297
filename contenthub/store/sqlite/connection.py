"""SQLite connections and the write path every role shares: one connection per thread for reads, one
write transaction at a time per process and one writer at a time across processes (the lock file), the
background WAL checkpoint, and migrations.

Why writes run on the caller's thread under a lock, not on one writer thread per process as Datasette
does (datasette/database.py: ``execute_write_fn`` queues a function, ``_execute_writes`` runs it on the
one write connection): #19 measured both in one run, alternating with main (bench/RESULTS.md, "#19 store
split"; ``bench/ingest.py --sqlite-writer thread``). Ingestion was as fast either way within the box's
drift, and the thread cost more CPU per event (a hand-off and a GIL switch per write). At equal speed
the lock is the simpler: no thread to start, feed and stop, a failed write raises on the caller's own
stack, nested writes need no "am I the writer thread" test, and the thread would not remove the lock
file — API worker processes still need it to take turns on the file.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from contenthub.store.sqlite_migrations import MIGRATIONS
from contenthub.store.vectors import VectorIndex
from contenthub.timeutil import to_iso, utcnow

log = logging.getLogger(__name__)
CACHE_KIB = 64 * 1024
# The one connection that ingests events gets a bigger cache: a 10,000-event batch dirties ~35,000
# pages (events, their indexes and ~95,000 counters at random keys); with the 64 MB cache they spill
# to the WAL mid-transaction and are read back (measured: event inserts 2x the CPU). One connection,
# so this is paid once per process, not per worker thread.
INGEST_CACHE_KIB = 256 * 1024
# Checkpoint when the WAL holds this many pages (SQLite's default is 1,000, i.e. after every event
# batch). An ingested batch rewrites ~35,000 pages and the next batches rewrite many of the same ones
# (user index, profile counters), so copying them back to the database every few batches writes each
# page once instead of once per batch (checkpoint CPU per batch nearly halves when done every 4th batch;
# bench/RESULTS.md, "Figures behind design choices"). Costs a WAL file of up to ~256 MB plus a batch, and a longer WAL replay after a crash.
WAL_AUTOCHECKPOINT_PAGES = 65536
# Ingestion checkpoints on a background thread after this many events (2-3 pages of WAL each, so about
# WAL_AUTOCHECKPOINT_PAGES): see _checkpoint_loop.
CHECKPOINT_EVENTS = 25_000
CHECKPOINT_TAIL_PAGES = 4_000  # what the checkpoint thread leaves for its last pass, the one that holds writers off
MMAP_BYTES = 1 << 30


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


class SQLiteBase:
    """What every role mixin of ``SQLiteStore`` builds on (connections and transactions)."""

    backend = "sqlite"
    db_path: Path
    vectors: VectorIndex

    def _init_connections(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
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

    # --- connections -------------------------------------------------------------------
    def _open(
        self, cache_kib: int, *, shared: bool = False, autocheckpoint: int = WAL_AUTOCHECKPOINT_PAGES
    ) -> sqlite3.Connection:
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
        if self._turn_fd is None:
            self._turn_fd = os.open(f"{self.db_path}.write-lock", os.O_RDWR | os.O_CREAT, 0o644)
        fd = self._turn_fd
        if self._turn_depth:
            self._turn_depth += 1  # a write inside a write on this thread: the turn is already ours
        else:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._turn_depth = 1
        try:
            yield
        finally:
            self._turn_depth -= 1
            if not self._turn_depth:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _checkpoint_soon(self, n_events: int) -> None:
        """Count ingested events; past CHECKPOINT_EVENTS, wake the checkpoint thread (started here once)."""
        with self._write_lock:  # batches on several threads: one count, one thread
            self._events_since_checkpoint += n_events
            if self._events_since_checkpoint < CHECKPOINT_EVENTS or self._closing:
                return
            self._events_since_checkpoint = 0
            if self._checkpointer is None:
                self._checkpointer = threading.Thread(
                    target=self._checkpoint_loop, name="sqlite-checkpoint", daemon=True
                )
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

    def prepare(self) -> list[str]:
        """Opening the store ran the migrations already."""
        return [f"SQLite schema version {self.schema_version()}"]

    def now(self) -> datetime:
        return utcnow()

    def integrity_check(self) -> bool:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _json_path(field: str) -> str:
    if not field.replace("_", "").isalnum():
        raise ValueError(f"bad field name {field!r}")
    return f"'$.{field}'"


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
