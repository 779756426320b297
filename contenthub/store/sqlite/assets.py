"""SQLite assets: their rows, facets and full-text rows, and the filters every asset read goes through."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from typing import Any

import numpy as np

from contenthub.store import analysis
from contenthub.store.query import AssetFilter, AssetSort, Hit, HitPage
from contenthub.store.sqlite.connection import SQLiteBase, _chunks, _dumps, _json_path
from contenthub.timeutil import to_iso

FACETS = ("scenes", "channels", "tags", "stages")


class SQLiteAssets(SQLiteBase):
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
        rowid = tx.execute("SELECT rowid FROM assets WHERE id=?", (aid,)).fetchone()[0]
        tx.execute("DELETE FROM asset_facets WHERE asset_id=?", (aid,))
        tx.executemany(
            "INSERT OR IGNORE INTO asset_facets (asset_id, facet, value, asset_rowid) VALUES (?,?,?,?)",
            [(aid, facet, v, rowid) for facet in FACETS for v in a.get(facet) or []],
        )
        tx.execute("DELETE FROM assets_fts WHERE rowid=?", (rowid,))  # by rowid: no scan of the FTS table
        tx.execute(
            "INSERT INTO assets_fts (rowid, asset_id, title, text, tags) VALUES (?,?,?,?,?)",
            (rowid, aid, a["title"], a.get("body") or "", " ".join(a.get("tags") or [])),
        )
        tx.execute("DELETE FROM assets_terms WHERE rowid=?", (rowid,))
        tx.execute(
            "INSERT INTO assets_terms (rowid, title, body, tags, media, pinyin, initials) VALUES (?,?,?,?,?,?,?)",
            (rowid, *_terms_row(a)),
        )

    def _index_missing_terms(self) -> None:
        """Fill the word/pinyin index for assets stored before it existed (once, after migration 4)."""
        conn = self._conn()
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='assets_terms'").fetchone():
            return  # an older schema (tests pin the migrations)
        while True:
            rows = conn.execute(
                "SELECT rowid, title, body FROM assets WHERE rowid NOT IN (SELECT rowid FROM assets_terms) LIMIT 2000"
            ).fetchall()
            if not rows:
                return
            with self._tx() as tx:
                tx.executemany(
                    "INSERT INTO assets_terms (rowid, title, body, tags, media, pinyin, initials) "
                    "VALUES (?,?,?,?,?,?,?)",
                    [(r[0], *_terms_row({**json.loads(r[2]), "title": r[1]})) for r in rows],
                )

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
        the tags of ~10,000 assets per batch (measured: a third of get_assets' CPU)."""
        paths = ", ".join(_json_path(f) for f in (*fields, "id"))  # >= 2 paths: json_extract returns an array
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(asset_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for aid, values in self._conn().execute(
                f"SELECT id, json_extract(body, {paths}) FROM assets WHERE id IN ({marks})", chunk
            ):
                out[aid] = dict(zip(fields, json.loads(values), strict=False))
        return out

    def _filter_sql(self, flt: AssetFilter, alias: str = "a", *, driven: bool = False) -> tuple[str, list[Any]]:
        """The filter as a WHERE clause over ``alias``. ``driven``: another source (a full-text match) yields the
        rows, so facets are checked per row, as when the filter names ids."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("kind", flt.kinds), ("content_type", flt.content_types), ("status", flt.statuses)):
            if values:
                clauses.append(f"{alias}.{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        for facet, values in (
            ("scenes", flt.scenes),
            ("channels", flt.channels),
            ("tags", flt.tags),
            ("stages", flt.stages),
        ):
            if values:
                marks = ",".join("?" * len(values))
                if flt.ids or driven:
                    # A given set of rows (ids: kNN candidates, unranked matches; or a word match) drives: one index
                    # look-up per row and facet, instead of first reading every asset the facet value holds.
                    clauses.append(
                        f"EXISTS (SELECT 1 FROM asset_facets ff WHERE ff.facet=? AND ff.value IN ({marks}) "
                        f"AND ff.asset_rowid={alias}.rowid)"
                    )
                else:
                    clauses.append(
                        f"{alias}.id IN (SELECT asset_id FROM asset_facets WHERE facet=? AND value IN ({marks}))"
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
        order = {
            "updated_desc": "a.updated_at DESC, a.id",
            "created_desc": "a.created_at DESC, a.id",
            "title_asc": "a.title, a.id",
        }[sort]
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM assets a WHERE {where}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT a.id FROM assets a WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", (*params, limit, offset)
        ).fetchall()
        return HitPage(hits=[Hit(r["id"], 0.0) for r in rows], total=int(total))

    def count_assets(self, flt: AssetFilter) -> int:
        by_facet = self._facet_rowids_sql(flt)
        if by_facet is not None:
            sql, params = by_facet
            return int(self._conn().execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0])
        where, params = self._filter_sql(flt)
        return int(self._conn().execute(f"SELECT COUNT(*) FROM assets a WHERE {where}", params).fetchone()[0])

    def _facet_rowids_sql(self, flt: AssetFilter) -> tuple[str, list[Any]] | None:
        """The rowids a filter with facets keeps, read from the facet index alone (None without facets or with ids).

        Why: driving from ``assets`` (or joining it per facet row) reads a page of the wide assets table per
        kept row; the index ``asset_facets_rowids`` (facet, value, asset_rowid) answers the facets without
        touching it. The facet value with the fewest rows drives (one COUNT over its index range each), the
        other facets are one index probe per driving row, and ``assets`` is read only for the rows that pass
        when the filter also names columns (kind, status, validity, excluded ids)."""
        facets = [(f, v) for f, v in zip(FACETS, (flt.scenes, flt.channels, flt.tags, flt.stages), strict=True) if v]
        if not facets or flt.ids is not None:
            return None
        conn = self._conn()
        if len(facets) > 1:
            sizes = [
                conn.execute(
                    f"SELECT COUNT(*) FROM asset_facets WHERE facet=? AND value IN ({','.join('?' * len(v))})",
                    (f, *v),
                ).fetchone()[0]
                for f, v in facets
            ]
            facets = [fv for _size, fv in sorted(zip(sizes, facets, strict=True), key=lambda sf: sf[0])]
        (facet, values), others = facets[0], facets[1:]
        clauses = [f"f0.facet=? AND f0.value IN ({','.join('?' * len(values))})"]
        params: list[Any] = [facet, *values]
        for f, v in others:
            clauses.append(
                f"EXISTS (SELECT 1 FROM asset_facets ff WHERE ff.facet=? AND ff.value IN ({','.join('?' * len(v))}) "
                "AND ff.asset_rowid=f0.asset_rowid)"
            )
            params.extend((f, *v))
        where, more = self._filter_sql(replace(flt, scenes=(), channels=(), tags=(), stages=()))
        join = ""
        if where != "1":  # CROSS JOIN: the facet rows drive, assets is looked up by rowid
            join = " CROSS JOIN assets a ON a.rowid = f0.asset_rowid"
            clauses.append(where)
            params.extend(more)
        return f"SELECT DISTINCT f0.asset_rowid FROM asset_facets f0{join} WHERE {' AND '.join(clauses)}", params

    def _rowids(self, asset_ids: list[str]) -> dict[str, int]:
        """The assets' rowids (the vector index's integer keys, stable: an asset is updated in place)."""
        out: dict[str, int] = {}
        for chunk in _chunks(asset_ids, 500):
            marks = ",".join("?" * len(chunk))
            out.update(
                (r[0], r[1]) for r in self._conn().execute(f"SELECT id, rowid FROM assets WHERE id IN ({marks})", chunk)
            )
        return out

    def filtered_rowids(self, flt: AssetFilter) -> np.ndarray:
        """The rowids of the assets the filter keeps, as one integer array (no id string per asset)."""
        by_facet = self._facet_rowids_sql(flt)
        if by_facet is not None:
            sql, params = by_facet
        else:
            where, params = self._filter_sql(flt)
            sql = f"SELECT a.rowid FROM assets a WHERE {where}"
        cur = self._conn().cursor()
        cur.row_factory = None  # plain tuples: a Row object per asset would cost more than the query
        cur.execute(sql, params)
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
            rows = conn.execute(
                f"SELECT a.{facet}, COUNT(*) FROM assets a WHERE {where} GROUP BY a.{facet}", params
            ).fetchall()
        else:
            raise ValueError(f"unknown facet {facet}")
        return {r[0]: int(r[1]) for r in rows if r[0] is not None}


def _terms_row(a: dict[str, Any]) -> tuple[str, ...]:
    terms = analysis.asset_terms(a)
    return tuple(terms[f] for f in analysis.TERM_FIELDS)
