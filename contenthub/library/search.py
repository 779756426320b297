"""Library search: full text, semantic kNN and filters, fused into one ranked, paginated list.

Why reciprocal-rank fusion: BM25 scores and cosine similarities live on different scales; RRF needs
only ranks, so the two lists combine without tuning per model or per corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.library import taxonomy
from contenthub.library.models import Asset, AssetHit, AssetPageOut, STATUSES, clean_text
from contenthub.library.service import get_asset
from contenthub.store.query import AssetFilter, AssetSort

SearchMode = Literal["hybrid", "text", "semantic"]
RRF_K = 60
POOL = 200
SEMANTIC_POOL = 50


@dataclass
class SearchRequest:
    q: str = ""
    mode: SearchMode = "hybrid"
    scenes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    content_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    valid_at: datetime | None = None
    sort: AssetSort = "updated_desc"
    limit: int = 20
    offset: int = 0


def build_filter(hub: Hub, req: SearchRequest) -> AssetFilter:
    store = hub.store
    for field, facet in (("scene", "scenes"), ("channel", "channels"), ("kind", "kinds"),
                         ("content_type", "content_types"), ("stage", "stages")):
        taxonomy.validate_values(store, field, facet, list(getattr(req, facet)))
    for s in req.statuses:
        if s not in STATUSES:
            raise InvalidError(f"Unknown status '{s}'. Allowed values: {', '.join(STATUSES)}.",
                               field="status", value=s, allowed=list(STATUSES))
    return AssetFilter(
        scenes=req.scenes, channels=req.channels, kinds=req.kinds, content_types=req.content_types,
        statuses=req.statuses, tags=req.tags, stages=req.stages, valid_at=req.valid_at,
    )


def search(hub: Hub, req: SearchRequest) -> AssetPageOut:
    if not (1 <= req.limit <= 100):
        raise InvalidError("limit must be between 1 and 100.", field="limit", value=req.limit)
    if req.offset < 0:
        raise InvalidError("offset must be 0 or more.", field="offset", value=req.offset)
    flt = build_filter(hub, req)
    # Stored text never holds control characters (models.clean_text drops them), so a query's own are noise;
    # a NUL would also end SQLite's FTS query text mid-string ("unterminated string").
    q = clean_text(req.q)
    if not q:
        page = hub.store.filter_assets(flt, sort=req.sort, limit=req.limit, offset=req.offset)
        docs = hub.store.get_assets([h.id for h in page.hits])
        items = [AssetHit(asset=Asset.model_validate(docs[h.id])) for h in page.hits if h.id in docs]
        return AssetPageOut(items=items, total=page.total, limit=req.limit, offset=req.offset)

    fused: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    if req.mode in ("hybrid", "text"):
        for rank, h in enumerate(hub.store.text_search_assets(q, flt, limit=POOL)):
            fused[h.id] = fused.get(h.id, 0.0) + 1.0 / (RRF_K + rank + 1)
            matched.setdefault(h.id, []).append("text")
    if req.mode in ("hybrid", "semantic"):
        qv = hub.embedder.encode_queries([q])[0]
        pool = POOL if req.mode == "semantic" else SEMANTIC_POOL
        for rank, h in enumerate(hub.store.knn_assets(qv, flt, k=pool)):
            fused[h.id] = fused.get(h.id, 0.0) + 1.0 / (RRF_K + rank + 1)
            matched.setdefault(h.id, []).append(f"semantic {h.score:.2f}")
    ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    window = ranked[req.offset : req.offset + req.limit]
    docs = hub.store.get_assets([aid for aid, _ in window])
    items = [
        AssetHit(asset=Asset.model_validate(docs[aid]), score=round(score, 6), matched=matched[aid])
        for aid, score in window
        if aid in docs
    ]
    return AssetPageOut(items=items, total=len(ranked), limit=req.limit, offset=req.offset)


def similar(hub: Hub, asset_id: str, *, n: int = 10, flt: AssetFilter | None = None) -> list[AssetHit]:
    if not (1 <= n <= 100):
        raise InvalidError("n must be between 1 and 100.", field="n", value=n)
    get_asset(hub, asset_id)
    ids, mat = hub.store.get_vectors([asset_id])
    if not ids:
        return []
    base = flt or AssetFilter()
    base = AssetFilter(**{**base.__dict__, "exclude_ids": (*base.exclude_ids, asset_id)})
    hits = hub.store.knn_assets(mat[0], base, k=n)
    docs = hub.store.get_assets([h.id for h in hits])
    return [AssetHit(asset=Asset.model_validate(docs[h.id]), score=round(h.score, 4), matched=["similar"])
            for h in hits if h.id in docs]
