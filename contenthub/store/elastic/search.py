"""Elasticsearch search: full text over the analysed terms (BM25) and vectors (dense_vector kNN) on the
asset documents."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from typing import Any

import numpy as np

from contenthub.store import elastic_query as eq
from contenthub.store.base import required_model
from contenthub.store.elastic.assets import ElasticAssets, asset_source, asset_update
from contenthub.store.elastic.client import _raise_failures
from contenthub.store.elastic_schema import CATALOG_COLUMNS, vector_field
from contenthub.store.query import AssetFilter, Hit


class ElasticSearch(ElasticAssets):
    def text_search_assets(self, text: str, flt: AssetFilter, *, limit: int = 100) -> list[Hit]:
        query = eq.text_query(text, flt)
        if query is None or limit <= 0:
            return []
        resp = self._search(
            "assets",
            query=query,
            size=min(limit, 10_000),
            source=False,
            sort=["_score", {"updated_at": "desc"}, {"id": "asc"}],
            track_total_hits=False,
        )
        return [Hit(h["_id"], float(h["_score"])) for h in resp["hits"]["hits"]]

    def count_text_assets(self, text: str, flt: AssetFilter) -> int:
        query = eq.text_query(text, flt)
        return 0 if query is None else self._count("assets", query)

    # --- vectors -----------------------------------------------------------------------
    def put_assets(
        self, assets: list[dict[str, Any]], *, model_id: str | None = None, vectors: dict[str, np.ndarray] | None = None
    ) -> None:
        """An asset given with its vector is indexed whole (an ``index`` action: asset and vector in one
        document version), so the node builds its HNSW entry once instead of indexing the asset and then
        re-indexing it when the vector arrives; the replaced document drops a vector field of another
        dimension, as ``put_vectors`` clears it. Assets without a vector keep theirs (partial updates)."""
        if not vectors:
            super().put_assets(assets)
            return
        fields = self._vector_fields(required_model(model_id), vectors)
        alias = self.schema.ensure("assets")
        self._put_asset_ops(
            ({"index": {"_index": alias, "_id": a["id"]}}, {**asset_source(a), **fields[a["id"]]})
            if a["id"] in fields
            else asset_update(alias, a)
            for a in assets
        )
        named = {a["id"] for a in assets}
        rest = {aid: v for aid, v in vectors.items() if aid not in named}
        if rest:
            self.put_vectors(required_model(model_id), rest)

    def _vector_fields(self, model_id: str, vectors: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
        """Per asset id, the fields holding its vector (every other dimension's field set to null), the
        mapping made ready for each dimension first."""
        by_dim: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
        for aid, v in vectors.items():
            arr = np.ascontiguousarray(v, dtype=np.float32).reshape(-1)
            by_dim[int(arr.shape[0])][aid] = arr
        for dim in by_dim:
            self.schema.ensure_vector_field(dim)
        dims = self.schema.vector_dims()
        out: dict[str, dict[str, Any]] = {}
        for dim, group in by_dim.items():
            others = {vector_field(d): None for d in dims if d != dim}
            for aid, arr in group.items():
                out[aid] = {
                    # the float32 array itself: the request encoder (es_json, orjson) writes each value as the
                    # shortest decimal that reads back as that float32 (~9 digits), where a list of Python
                    # floats is written with a double's ~17 — the vector is most of an asset's bulk line and
                    # of its stored source, and the node parses the same float32 values either way
                    vector_field(dim): arr,
                    "vec_b64": base64.b64encode(arr.tobytes()).decode(),
                    "vector_model": model_id,
                    "vector_dim": dim,
                    **others,
                }
        return out

    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        """Vectors live on their asset's document (so kNN filters on the asset's facets), in the field
        of their dimension. A vector for an asset that does not exist is dropped."""
        if not vectors:
            return
        fields = self._vector_fields(model_id, vectors)
        alias = self._alias("assets")
        ops = [
            ({"update": {"_index": alias, "_id": aid, "retry_on_conflict": 5}}, {"doc": doc})
            for aid, doc in fields.items()
        ]
        try:
            results = self._bulk(ops, parallel=True)
        finally:
            self._wrote("assets")
        _raise_failures([(op, r) for op, r in results if r["status"] != 404], "storing vectors")

    def knn_assets(self, vector: np.ndarray, flt: AssetFilter, *, k: int = 20) -> list[Hit]:
        """Top-level kNN with the filter applied inside the graph search (exact when the filter leaves
        fewer docs than num_candidates). Elasticsearch scores cosine as (1 + cos) / 2; mapped back."""
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        dim = int(q.shape[0])
        k = min(k, 10_000)
        if k <= 0 or dim not in self.schema.vector_dims() or not np.any(q):
            return []
        knn: dict[str, Any] = {
            "field": vector_field(dim),
            "query_vector": q.tolist(),
            "k": k,
            "num_candidates": min(max(4 * k, 100), 10_000),
        }
        clauses = eq.asset_filter(flt)
        if clauses:
            knn["filter"] = clauses
        resp = self._search("assets", knn=knn, size=k, source=False, track_total_hits=False)
        return [Hit(h["_id"], 2.0 * float(h["_score"]) - 1.0) for h in resp["hits"]["hits"]]

    def get_vectors(self, asset_ids: list[str]) -> tuple[list[str], np.ndarray]:
        raws = self._mget("assets", asset_ids, source_includes=["vec_b64"])
        rows = {aid: _decode_vector(raw.src["vec_b64"]) for aid, raw in raws.items() if raw.src.get("vec_b64")}
        return _vector_rows(rows, asset_ids)

    def assets_with_vectors(self, flt: AssetFilter) -> tuple[dict[str, dict[str, Any]], list[str], np.ndarray]:
        """One sliced scan reading each asset's ``json_b64`` and ``vec_b64`` from doc values. Why: a hit read
        from the stored source costs the node a decompression and parse of the whole source (mostly the
        dense_vector's float array), and the ids, the documents and the vectors read apart (a search, then
        two mgets) paid it three times (bench/RESULTS.md, #24 catalog build, sixth round). An index that
        `store migrate` has not moved to those columns yet is read from the source in one scan instead."""
        version = self.schema.serving_version("assets")
        if version is None:
            return {}, [], np.zeros((0, 0), dtype=np.float32)
        query = eq.asset_query(flt)
        docs: dict[str, dict[str, Any]] = {}
        rows: dict[str, np.ndarray] = {}
        if version < CATALOG_COLUMNS["assets"]:
            for hits in self._scan_sliced("assets", query, source=["json", "vec_b64"]):
                for h in hits:
                    src = h["_source"]
                    if "json" in src:
                        docs[h["_id"]] = json.loads(src["json"])
                        if src.get("vec_b64"):
                            rows[h["_id"]] = _decode_vector(src["vec_b64"])
        else:
            unwritten: list[str] = []  # written by a version before the columns: read from the source
            for hits in self._scan_sliced("assets", query, columns=["id", "json_b64", "vec_b64"]):
                for h in hits:
                    cols = h.get("fields") or {}
                    aid = cols["id"][0]
                    if "json_b64" in cols:
                        docs[aid] = json.loads(base64.b64decode(cols["json_b64"][0]))
                    else:
                        unwritten.append(aid)
                    if "vec_b64" in cols:
                        rows[aid] = _decode_vector(cols["vec_b64"][0])
            docs.update(self.get_assets(unwritten))
            rows = {aid: v for aid, v in rows.items() if aid in docs}
        found, mat = _vector_rows(rows, sorted(rows))
        return docs, found, mat

    def vector_model_ids(self) -> dict[str, int]:
        query = {"exists": {"field": "vector_model"}}
        return {k[0]: n for k, n, _ignored in self._composite("assets", query, ("vector_model",), missing=False)}

    def assets_missing_vectors(self, model_id: str, *, limit: int = 1000) -> list[str]:
        query = {"bool": {"must_not": [{"term": {"vector_model": model_id}}]}}
        hits = self._page("assets", query, [{"id": "asc"}], 0, limit, source=False, window=100_000)
        return [h["_id"] for h in hits]


def _vector_rows(rows: dict[str, np.ndarray], order: list[str]) -> tuple[list[str], np.ndarray]:
    """The ids of ``order`` that have a row, and the rows stacked. Mid re-embedding to another dimension,
    only the dimension most rows have is kept."""
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    dims = [r.shape[0] for r in rows.values()]
    dim = max(set(dims), key=dims.count)
    found = [a for a in order if a in rows and rows[a].shape[0] == dim]
    return found, np.stack([rows[a] for a in found]) if found else np.zeros((0, dim), dtype=np.float32)


def _decode_vector(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.float32).copy()
