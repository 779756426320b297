"""SQLite documents: the generic collections (``*_doc`` calls), one ``docs`` table keyed by (collection, id)
with a version per document for compare-and-set."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from contenthub.errors import ConflictError
from contenthub.store.columns import doc_columns_of
from contenthub.store.sqlite.connection import SQLiteBase, _chunks, _dumps, _json_path
from contenthub.store.versions import version_conflict
from contenthub.timeutil import to_iso, utcnow


class SQLiteDocuments(SQLiteBase):
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
            raise version_conflict(collection, doc_id, current, expected_version)
        version = current + 1
        tx.execute(
            "INSERT INTO docs (collection, id, body, version, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (collection, id) DO UPDATE SET body=excluded.body, version=excluded.version, "
            "updated_at=excluded.updated_at",
            (collection, doc_id, _dumps(doc), version, to_iso(utcnow())),
        )
        return version

    def put_docs_atomic(self, collection: str, docs: dict[str, dict[str, Any]], delete: Sequence[str] = ()) -> None:
        with self._tx() as tx:
            for doc_id in delete:
                tx.execute("DELETE FROM docs WHERE collection=? AND id=?", (collection, doc_id))
            for doc_id, doc in docs.items():
                self._put_doc(tx, collection, doc_id, doc, None)

    def get_docs_versioned(self, collection: str, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
        out: dict[str, tuple[dict[str, Any], int]] = {}
        for chunk in _chunks(doc_ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self._conn().execute(
                f"SELECT id, body, version FROM docs WHERE collection=? AND id IN ({marks})", (collection, *chunk)
            ):
                out[row["id"]] = (json.loads(row["body"]), int(row["version"]))
        return out

    def put_docs_if(self, collection: str, docs: Mapping[str, tuple[dict[str, Any], int | None]]) -> set[str]:
        """One transaction: a doc whose version moved is left out, the others are written."""
        missed: set[str] = set()
        with self._tx() as tx:
            for doc_id, (doc, expected) in docs.items():
                try:
                    self._put_doc(tx, collection, doc_id, doc, expected)
                except ConflictError:
                    missed.add(doc_id)
        return missed

    def get_doc(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        found = self.get_doc_version(collection, doc_id)
        return found[0] if found else None

    def get_doc_version(self, collection: str, doc_id: str) -> tuple[dict[str, Any], int] | None:
        row = (
            self._conn()
            .execute("SELECT body, version FROM docs WHERE collection=? AND id=?", (collection, doc_id))
            .fetchone()
        )
        return (json.loads(row["body"]), row["version"]) if row else None

    def doc_versions(self, collection: str, doc_ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(doc_ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self._conn().execute(
                f"SELECT id, version FROM docs WHERE collection=? AND id IN ({marks})", (collection, *chunk)
            ):
                out[row["id"]] = int(row["version"])
        return out

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
        rows = (
            self._conn()
            .execute(f"SELECT body FROM docs WHERE {sql} ORDER BY id LIMIT ? OFFSET ?", (*params, limit, offset))
            .fetchall()
        )
        return [json.loads(r["body"]) for r in rows]

    def count_docs(self, collection: str, *, where: dict[str, Any] | None = None) -> int:
        sql, params = self._where(collection, where)
        return int(self._conn().execute(f"SELECT COUNT(*) FROM docs WHERE {sql}", params).fetchone()[0])

    def delete_doc(self, collection: str, doc_id: str) -> bool:
        with self._tx() as tx:
            cur = tx.execute("DELETE FROM docs WHERE collection=? AND id=?", (collection, doc_id))
            return cur.rowcount > 0

    def doc_field(self, collection: str, doc_ids: list[str], field: str) -> dict[str, Any]:
        """One top-level field of each stored doc (None when absent), without decoding the bodies: for
        event ingestion's bulk user look-up."""
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

    def doc_field_columns(self, collection: str, fields: tuple[str, ...]) -> dict[str, list[str]]:
        """Extracted by SQLite's JSON functions and joined into one string per field (no Python JSON
        decoding); decoded document by document when a value holds the separator U+001F."""
        for f in fields:
            if not f.replace("_", "").isalnum():
                raise ValueError(f"bad field name {f!r}")
        cols = "".join(f", group_concat(ifnull(json_extract(body, '$.{f}'), ''), :sep)" for f in fields)
        row = (
            self._conn()
            .execute(
                f"SELECT count(*), group_concat(id, :sep){cols} FROM docs WHERE collection=:c",
                {"sep": "\x1f", "c": collection},
            )
            .fetchone()
        )
        out = {name: (v.split("\x1f") if row[0] else []) for name, v in zip(("id", *fields), row[1:], strict=True)}
        if any(len(v) != row[0] for v in out.values()):
            rows = self._conn().execute("SELECT id, body FROM docs WHERE collection=?", (collection,)).fetchall()
            return doc_columns_of(((r[0], json.loads(r[1])) for r in rows), fields)
        return out
