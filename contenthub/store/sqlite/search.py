"""SQLite search: full text (FTS5 over words, pinyin and initials, bm25) and vectors (an in-memory matrix
loaded from the ``vectors`` table, kNN with the filter checked in SQL)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from contenthub.store import analysis
from contenthub.store.base import required_model
from contenthub.store.query import AssetFilter, Hit
from contenthub.store.sqlite.assets import SQLiteAssets
from contenthub.store.vectors import VectorIndex

KNN_CANDIDATES = 1000
"""Nearest vectors a filtered kNN checks against the filter before it scans what the filter keeps."""


class SQLiteSearch(SQLiteAssets):
    def _load_vectors(self) -> None:
        rows = (
            self._conn()
            .execute("SELECT v.asset_id, v.vec, a.rowid FROM vectors v LEFT JOIN assets a ON a.id = v.asset_id")
            .fetchall()
        )
        if rows:
            self.vectors.upsert(
                {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows},
                {r[0]: r[2] for r in rows if r[2] is not None},
            )

    def text_search_assets(self, text: str, flt: AssetFilter, *, limit: int = 100) -> list[Hit]:
        """Assets holding every group of the query (a word, its pinyin or its initials; see
        store/analysis.py), best bm25 first: title weighs most, then tags, then body and poster text.

        The match drives (``CROSS JOIN`` fixes the join order): with an indexed filter column such as status,
        SQLite's planner otherwise walks the filter's rows and re-evaluates the MATCH for each — 41 s for one
        count at 100,000 assets (bench/RESULTS.md, "#23 search, fourth round")."""
        match = _terms_match(analysis.query_groups(text))
        if match is None or limit <= 0:
            return []
        where, params = self._filter_sql(flt, driven=True)
        rows = (
            self._conn()
            .execute(
                f"SELECT a.id, bm25(assets_terms, {TERM_WEIGHTS}) AS r FROM assets_terms f CROSS JOIN assets a "
                f"ON a.rowid = f.rowid WHERE assets_terms MATCH ? AND {where} ORDER BY r, a.updated_at DESC LIMIT ?",
                (match, *params, limit),
            )
            .fetchall()
        )
        return [Hit(r[0], float(-r[1])) for r in rows]

    def count_text_assets(self, text: str, flt: AssetFilter) -> int:
        """The number of assets :meth:`text_search_assets` would find without a limit (the match drives, as there)."""
        match = _terms_match(analysis.query_groups(text))
        if match is None:
            return 0
        where, params = self._filter_sql(flt, driven=True)
        return int(
            self._conn()
            .execute(
                f"SELECT COUNT(*) FROM assets_terms f CROSS JOIN assets a ON a.rowid = f.rowid WHERE assets_terms MATCH ? "
                f"AND {where}",
                (match, *params),
            )
            .fetchone()[0]
        )

    # --- vectors -----------------------------------------------------------------------
    def put_assets(
        self, assets: list[dict[str, Any]], *, model_id: str | None = None, vectors: dict[str, np.ndarray] | None = None
    ) -> None:
        """The assets, then their vectors (a vector index row is keyed by its asset's row)."""
        model = required_model(model_id) if vectors else ""
        super().put_assets(assets)
        if vectors:
            self.put_vectors(model, vectors)

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

    def assets_with_vectors(self, flt: AssetFilter) -> tuple[dict[str, dict[str, Any]], list[str], np.ndarray]:
        docs = self.get_assets(sorted(self.filtered_ids(flt)))
        found, mat = self.get_vectors(sorted(docs))
        return docs, found, mat

    def vector_model_ids(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT model_id, COUNT(*) FROM vectors GROUP BY model_id").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def assets_missing_vectors(self, model_id: str, *, limit: int = 1000) -> list[str]:
        rows = (
            self._conn()
            .execute(
                "SELECT a.id FROM assets a LEFT JOIN vectors v ON v.asset_id=a.id "
                "WHERE v.asset_id IS NULL OR v.model_id != ? ORDER BY a.id LIMIT ?",
                (model_id, limit),
            )
            .fetchall()
        )
        return [r[0] for r in rows]


TERM_WEIGHTS = "3.0, 1.0, 2.0, 1.0, 1.5, 0.5"
"""bm25 weights of assets_terms' columns: title, body, tags, media (poster text), pinyin, initials."""


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
