"""Elasticsearch assets: their documents (with the analysed terms full text searches), filters and facets."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from concurrent.futures import Future, wait
from itertools import islice
from typing import Any

from contenthub.store import analysis
from contenthub.store import elastic_query as eq
from contenthub.store.elastic.client import (
    FACETS,
    SCALAR_FACETS,
    BulkOp,
    ElasticBase,
    _dumps,
    _pair_ops,
    _raise_failures,
)
from contenthub.store.query import AssetFilter, AssetSort, Hit, HitPage

ASSET_CHUNK = 500
"""Assets per bulk request when storing many. Each request leaves as soon as its actions are built, so the
node indexes one chunk (an asset's HNSW entry is most of its cost there) while this process builds the next
(the analysed terms are most of its cost here): on two cores the two overlap instead of taking turns."""


class ElasticAssets(ElasticBase):
    # --- assets ------------------------------------------------------------------------
    def put_asset(self, asset: dict[str, Any]) -> None:
        self.put_assets([asset])

    def put_assets(self, assets: list[dict[str, Any]]) -> None:
        """Partial updates (``doc_as_upsert``) so an asset's vector, written by put_vectors, survives
        an edit of its text; ``json`` is a string, so it is replaced whole, never merged."""
        if not assets:
            return
        alias = self.schema.ensure("assets")
        self._put_asset_ops(asset_update(alias, a) for a in assets)

    def _put_asset_ops(self, ops: Iterable[BulkOp]) -> None:
        """Send ``ops`` (independent writes of distinct assets) in chunks, each as soon as it is built;
        at most ``PARALLEL_REQUESTS`` in flight (the client's pool), the rest queued in order."""
        sent: list[Future[list[tuple[str, dict[str, Any]]]]] = []
        actions = iter(ops)
        try:
            while chunk := list(islice(actions, ASSET_CHUNK)):
                sent.append(self._pool.submit(self._bulk_chunk, _pair_ops(chunk)))
            results = [item for f in sent for item in f.result()]
        finally:
            wait(sent)  # nothing left in flight when this returns or raises
            self._wrote("assets")
        _raise_failures(results, "storing assets")

    def get_asset(self, asset_id: str) -> dict[str, Any] | None:
        raw = self._get("assets", asset_id, source_includes=["json"])
        return json.loads(raw.src["json"]) if raw is not None and "json" in raw.src else None

    def get_assets(self, asset_ids: list[str]) -> dict[str, dict[str, Any]]:
        raws = self._mget("assets", asset_ids, source_includes=["json"])
        return {aid: json.loads(r.src["json"]) for aid, r in raws.items() if "json" in r.src}

    def asset_fields(self, asset_ids: list[str], fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """The whole asset is one stored JSON string here (its indexed fields are analysed copies), so this
        is ``get_assets`` narrowed to ``fields``."""
        return {aid: {f: a.get(f) for f in fields} for aid, a in self.get_assets(asset_ids).items()}

    def filter_assets(
        self, flt: AssetFilter, *, sort: AssetSort = "updated_desc", limit: int = 20, offset: int = 0
    ) -> HitPage:
        query = eq.asset_query(flt)
        order = eq.ASSET_SORTS[sort]
        if offset + limit <= 100_000:
            resp = self._search(
                "assets", query=query, sort=order, from_=offset, size=limit, source=False, track_total_hits=True
            )
            hits = resp["hits"]["hits"]
            total = int(resp["hits"]["total"]["value"])
        else:
            hits = self._page("assets", query, order, offset, limit, source=False, window=100_000)
            total = self._count("assets", query)
        return HitPage(hits=[Hit(h["_id"], 0.0) for h in hits], total=total)

    def count_assets(self, flt: AssetFilter) -> int:
        return self._count("assets", eq.asset_query(flt))

    def asset_facet_counts(self, facet: str, flt: AssetFilter) -> dict[str, int]:
        if facet not in FACETS and facet not in SCALAR_FACETS:
            raise ValueError(f"unknown facet {facet}")
        return {k[0]: n for k, n, _ignored in self._composite("assets", eq.asset_query(flt), (facet,), missing=False)}


def asset_update(alias: str, a: dict[str, Any]) -> BulkOp:
    """The bulk action storing ``a`` without touching its vector fields."""
    return (
        {"update": {"_index": alias, "_id": a["id"], "retry_on_conflict": 5}},
        {"doc": asset_source(a), "doc_as_upsert": True},
    )


def asset_source(a: dict[str, Any]) -> dict[str, Any]:
    stored = _dumps(a)
    return {
        "id": a["id"],
        "json": stored,
        "json_b64": json_column(stored),
        "title": a["title"],
        "body": a.get("body") or "",
        "tags": a.get("tags") or [],
        "scenes": a.get("scenes") or [],
        "channels": a.get("channels") or [],
        "stages": a.get("stages") or [],
        "kind": a.get("kind"),
        "content_type": a.get("content_type"),
        "status": a.get("status"),
        "valid_from": a.get("valid_from"),
        "valid_until": a.get("valid_until"),
        "created_at": a.get("created_at"),
        "updated_at": a.get("updated_at"),
        "terms": analysis.asset_terms(a),
    }


def json_column(stored: str) -> str:
    """The ``json_b64`` of an asset whose ``json`` is ``stored`` (elastic_schema.BINARY_COLUMN)."""
    return base64.b64encode(stored.encode()).decode()
