"""SQLite's side of ``contenthub store copy``: the bulk reads and writes a copy needs beyond the ``Store``
protocol (every collection, documents with their versions, counters overwritten), on the tables directly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from contenthub.store.sqlite.connection import SQLiteBase, _dumps
from contenthub.timeutil import to_iso, utcnow

BATCH = 1000


class SQLiteCopyIO(SQLiteBase):
    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._conn().execute(sql, params).fetchall()

    def collections(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT collection FROM docs ORDER BY collection")]

    def iter_doc_versions(self, collection: str) -> Iterator[list[tuple[str, dict[str, Any], int]]]:
        last = ""
        while rows := self._rows(
            "SELECT id, body, version FROM docs WHERE collection=? AND id>? ORDER BY id LIMIT ?",
            (collection, last, BATCH),
        ):
            last = rows[-1][0]
            yield [(r[0], json.loads(r[1]), int(r[2])) for r in rows]

    def import_docs(self, collection: str, rows: list[tuple[str, dict[str, Any], int]]) -> None:
        """Overwrite docs keeping their versions (a copy must not break clients' expected_version)."""
        now = to_iso(utcnow())
        with self._tx() as tx:
            tx.executemany(
                "INSERT INTO docs (collection, id, body, version, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT (collection, id) DO UPDATE SET body=excluded.body, version=excluded.version, "
                "updated_at=excluded.updated_at",
                [(collection, d, _dumps(b), v, now) for d, b, v in rows],
            )

    def iter_assets(self, batch: int = BATCH) -> Iterator[list[dict[str, Any]]]:
        last = ""
        while rows := self._rows("SELECT id, body FROM assets WHERE id>? ORDER BY id LIMIT ?", (last, batch)):
            last = rows[-1][0]
            yield [json.loads(r[1]) for r in rows]

    def iter_vectors(self, batch: int = BATCH) -> Iterator[list[tuple[str, str, np.ndarray]]]:
        last = ""
        while rows := self._rows(
            "SELECT asset_id, model_id, vec FROM vectors WHERE asset_id>? ORDER BY asset_id LIMIT ?", (last, batch)
        ):
            last = rows[-1][0]
            yield [(r[0], r[1], np.frombuffer(r[2], dtype=np.float32).copy()) for r in rows]

    def counter_collections(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT collection FROM counters ORDER BY collection")]

    def set_counters(self, collection: str, rows: dict[str, dict[str, float]]) -> None:
        """Overwrite whole counter keys (copying; not for live traffic, which adds)."""
        with self._tx() as tx:
            tx.executemany("DELETE FROM counters WHERE collection=? AND key=?", [(collection, k) for k in rows])
            tx.executemany(
                "INSERT INTO counters (collection, key, field, value) VALUES (?,?,?,?)",
                [(collection, k, f, v) for k, fields in rows.items() for f, v in fields.items()],
            )

    def iter_media(self) -> Iterator[dict[str, Any]]:
        """Every media record, by hash (``contenthub store copy``)."""
        for r in self._conn().execute("SELECT sha256, size, mime, created_at FROM media ORDER BY sha256"):
            yield {"sha256": r[0], "size": int(r[1]), "mime": r[2], "created_at": r[3]}
