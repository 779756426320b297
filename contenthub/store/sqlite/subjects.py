"""SQLite: a page of subjects' profile inputs (``Store.read_subjects``) in one read transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from contenthub.store.base import follow_docs, subject_data, typed_among
from contenthub.store.query import EventQuery, SubjectData, SubjectRead
from contenthub.store.sqlite.documents import SQLiteDocuments
from contenthub.store.sqlite.events import SQLiteEvents


class SQLiteSubjects(SQLiteDocuments, SQLiteEvents):
    @contextmanager
    def _read_tx(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside one read transaction (WAL: one snapshot for every statement
        run on it, never blocking a writer); inside a transaction already open on it, that one."""
        conn = self._conn()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:  # not after a failure that already ended it (a lost file, an interrupt)
                conn.execute("COMMIT")

    async def read_subjects_async(self, keys: Sequence[str], spec: SubjectRead) -> dict[str, SubjectData]:
        """A local read never waits for a writer (WAL): read at once, on the loop's thread."""
        return self._read_subjects(keys, spec)

    def read_subjects(self, keys: Sequence[str], spec: SubjectRead) -> dict[str, SubjectData]:
        return self._read_subjects(keys, spec)

    def _read_subjects(self, keys: Sequence[str], spec: SubjectRead) -> dict[str, SubjectData]:
        """The single reads, each on this thread's connection (``_conn``), so inside one snapshot: every
        subject's document, events and counters as of one moment."""
        keys = list(dict.fromkeys(keys))
        with self._read_tx():
            first = self.get_docs(spec.docs, keys) if spec.docs else {}
            reached = follow_docs(keys, first, lambda ids: self.get_docs(spec.docs, ids), spec)
            subjects = sorted({key for key, _doc in reached.values()})
            events = {k: self._newest(spec, k, ()) for k in subjects}
            typed: dict[str, list[dict[str, Any]]] = {}
            for k in subjects:
                among = typed_among(events[k], spec)
                typed[k] = among if among is not None else self._newest(spec, k, spec.typed)
            counters = {k: self.get_counters(spec.counters, spec.counter_prefix + k) for k in subjects}
        return subject_data(keys, reached, events, typed, counters)

    def _newest(self, spec: SubjectRead, key: str, types: tuple[str, ...]) -> list[dict[str, Any]]:
        limit = spec.typed_limit if types else spec.newest
        if limit <= 0:
            return []
        who = {"user_ids": (key,)} if spec.by == "user_id" else {"group_ids": (key,)}
        return self.query_events(EventQuery(**who, types=types, limit=limit))  # type: ignore[arg-type]
