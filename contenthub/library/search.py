"""Library search: words, pinyin and meaning, fused into one ranked, paginated list of *matches*.

A result must earn its place: it matches the query's words (jieba words, full pinyin or initials —
store/analysis.py), or — when no word of the query is in the library, as with English against a Chinese
library — it carries a tag the query translates to (library/bridge.py), or its meaning is close enough
(a semantic score above the model-relative floor of library/relevance.py). A query that matches nothing
answers an empty page, and ``total`` is the number of matching assets, so filters and a query narrow
together.

Why reciprocal-rank fusion: BM25 scores and cosine similarities live on different scales; RRF needs
only ranks, so the two lists combine without tuning per model or per corpus.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import numpy as np

from contenthub.embeddings import Embedder
from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import bridge, relevance, taxonomy
from contenthub.library.models import STATUSES, Asset, AssetHit, AssetPageOut
from contenthub.library.service import get_asset
from contenthub.store import analysis
from contenthub.store.query import AssetFilter, AssetSort

SearchMode = Literal["hybrid", "text", "semantic"]
RRF_K = 60
POOL = 200
"""Lexical matches ranked per query; more are counted (``count_text_assets``) but not ranked."""
SEMANTIC_POOL = 100
"""Nearest neighbours considered per query: semantic-only matches are found and counted among these."""
MAX_QUERY_CHARS = 500
_cache_lock = threading.Lock()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


def clean_query(q: str) -> str:
    """The query as searched: control and invisible formatting characters are spaces, ends trimmed.

    The one place a query is checked (HTTP, pages and CLI all call :func:`search`): longer than
    MAX_QUERY_CHARS is an error a person can act on; a query of only control characters is empty."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidError(
            _("q is {n_q} characters long; search with at most {MAX_QUERY_CHARS}.").format(
                n_q=len(q), MAX_QUERY_CHARS=MAX_QUERY_CHARS
            ),
            field="q",
        )
    return " ".join(_CONTROL.sub(" ", q).split())


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
    for field, facet in (
        ("scene", "scenes"),
        ("channel", "channels"),
        ("kind", "kinds"),
        ("content_type", "content_types"),
        ("stage", "stages"),
    ):
        taxonomy.validate_values(store, field, facet, list(getattr(req, facet)))
    for s in req.statuses:
        if s not in STATUSES:
            raise InvalidError(
                _("Unknown status '{s}'. Allowed values: {STATUSES}.").format(s=s, STATUSES=", ".join(STATUSES)),
                field="status",
                value=s,
                allowed=list(STATUSES),
            )
    return AssetFilter(
        scenes=req.scenes,
        channels=req.channels,
        kinds=req.kinds,
        content_types=req.content_types,
        statuses=req.statuses,
        tags=req.tags,
        stages=req.stages,
        valid_at=req.valid_at,
    )


def search(hub: Hub, req: SearchRequest, *, semantic_z: float = relevance.SEMANTIC_Z) -> AssetPageOut:
    """One page of matches (see module doc); ``semantic_z`` is the calibration knob of relevance.py."""
    if not (1 <= req.limit <= 100):
        raise InvalidError(_("limit must be between 1 and 100."), field="limit", value=req.limit)
    if req.offset < 0:
        raise InvalidError(_("offset must be 0 or more."), field="offset", value=req.offset)
    flt = build_filter(hub, req)
    q = clean_query(req.q)
    if not q:
        page = hub.store.filter_assets(flt, sort=req.sort, limit=req.limit, offset=req.offset)
        docs = hub.store.get_assets([h.id for h in page.hits])
        items = [AssetHit(asset=Asset.model_validate(docs[h.id])) for h in page.hits if h.id in docs]
        return AssetPageOut(items=items, total=page.total, limit=req.limit, offset=req.offset)

    fused: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    lexical_total = 0
    qv_soon = vector_soon(hub.embedder, q) if req.mode in ("hybrid", "semantic") else None
    if req.mode in ("hybrid", "text"):
        pool = max(POOL, req.offset + req.limit)
        lexical = hub.store.text_search_assets(q, flt, limit=pool)
        lexical_total = len(lexical) if len(lexical) < pool else hub.store.count_text_assets(q, flt)
        for rank, h in enumerate(lexical):
            fused[h.id] = 1.0 / (RRF_K + rank + 1)
            matched[h.id] = ["text"]
    semantic_only = 0
    bridged: dict[str, float] = {}
    if qv_soon is not None:
        emb = hub.embedder
        qv = qv_soon.result()
        beyond: list[tuple[AssetFilter, int]] = []  # (filter, matches not in ``fused``) of each matching list
        if lexical_total > len(fused):
            beyond.append((flt, lexical_total))
        if req.mode == "hybrid" and lexical_total == 0:
            # no word of the query is in the library: translate it through the library's tags (library/bridge.py)
            bridged = dict(bridge.bridge_tags(bridge.vocabulary(hub), qv, allowed=flt.tags))
            if bridged:
                pool = max(POOL, req.offset + req.limit)
                bflt = replace(flt, tags=tuple(bridged))
                hits = hub.store.knn_assets(qv, bflt, k=pool)
                lexical_total = len(hits) if len(hits) < pool else hub.store.count_assets(bflt)
                if lexical_total > len(hits):
                    beyond.append((bflt, lexical_total))
                for rank, h in enumerate(hits):
                    fused[h.id] = 1.0 / (RRF_K + rank + 1)
                    matched[h.id] = ["tag"]
        # hybrid keeps only neighbours above the floor; mode=semantic is the editor asking for the nearest
        # by meaning whatever their score (the default model's English→Chinese scores sit at the floor of
        # nonsense, so an English query finds Chinese assets there — bench/RESULTS.md)
        floor = relevance.semantic_floor(emb, semantic_z) if req.mode == "hybrid" else -1.0
        close = [h for h in hub.store.knn_assets(qv, flt, k=SEMANTIC_POOL) if h.score >= floor]
        unseen = [h.id for h in close if h.id not in fused]
        semantic_only += len(unseen)
        for bflt, _ignored in beyond:  # some may be matches beyond the ranked pools: count each asset once
            if unseen:
                if bflt is flt:
                    also = [
                        h.id
                        for h in hub.store.text_search_assets(q, replace(flt, ids=tuple(unseen)), limit=len(unseen))
                    ]
                else:
                    also = [
                        h.id for h in hub.store.filter_assets(replace(bflt, ids=tuple(unseen)), limit=len(unseen)).hits
                    ]
                semantic_only -= len(also)
                unseen = [u for u in unseen if u not in set(also)]
        for rank, h in enumerate(close):
            fused[h.id] = fused.get(h.id, 0.0) + 1.0 / (RRF_K + rank + 1)
            matched.setdefault(h.id, []).append(f"semantic {h.score:.2f}")
    ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    window = ranked[req.offset : req.offset + req.limit]
    docs = hub.store.get_assets([aid for aid, _ignored in window])
    items = [
        AssetHit(
            asset=Asset.model_validate(docs[aid]),
            score=round(score, 6),
            matched=_explained(matched[aid], docs[aid], bridged),
        )
        for aid, score in window
        if aid in docs
    ]
    total = max(lexical_total + semantic_only, len(ranked))
    return AssetPageOut(items=items, total=total, limit=req.limit, offset=req.offset)


def _explained(matched: list[str], doc: dict[str, object], bridged: dict[str, float]) -> list[str]:
    """ "tag" (a bridged match) names the library tags the query was translated to that this asset carries."""
    if "tag" not in matched:
        return matched
    tags = [t for t in bridged if t in (doc.get("tags") or ())]  # type: ignore[operator]
    return [f"tag {'/'.join(tags)}" if m == "tag" else m for m in matched]


QUERY_CACHE = 2048
"""Query vectors kept per model: paging, refining filters and the next editor's same search reuse them."""


def query_vector(emb: Embedder, q: str) -> np.ndarray:
    """The query's embedding — the largest cost of a search — from a per-model LRU cache."""
    cache = emb.memo.setdefault("search.query_vectors", OrderedDict())
    with _cache_lock:
        vec = cache.get(q)
        if vec is not None:
            cache.move_to_end(q)
            return vec
    vec = emb.encode_queries([q])[0]
    with _cache_lock:
        cache[q] = vec
        while len(cache) > QUERY_CACHE:
            cache.popitem(last=False)
    return vec


_encoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="search-encode")


def vector_soon(emb: Embedder, q: str) -> Future[np.ndarray]:
    """The query's vector, encoded on a worker thread when not cached, so the caller matches words meanwhile.

    Why: the encode and the word match + count are a search's two largest costs and independent; torch and
    SQLite both let go of the GIL while they compute, so on two cores they overlap (bench/RESULTS.md, "#23
    search, fourth round"). A cached vector comes back at once, without a thread hop."""
    with _cache_lock:
        cached = q in emb.memo.get("search.query_vectors", {})
    if cached:
        done: Future[np.ndarray] = Future()
        done.set_result(query_vector(emb, q))
        return done
    return _encoder.submit(query_vector, emb, q)


def warm_up(hub: Hub) -> None:
    """Load what the first search would otherwise load: the model, its calibration, the tag vocabulary's
    vectors, jieba's dictionary, the pinyin syllables and the store's indexes — so the first query after start answers like the next ones."""
    relevance.null_stats(hub.embedder)
    bridge.vocabulary(hub)
    analysis.syllables()
    search(hub, SearchRequest(q="预热 warm up", limit=1))


def similar(hub: Hub, asset_id: str, *, n: int = 10, flt: AssetFilter | None = None) -> list[AssetHit]:
    if not (1 <= n <= 100):
        raise InvalidError(_("n must be between 1 and 100."), field="n", value=n)
    get_asset(hub, asset_id)
    ids, mat = hub.store.get_vectors([asset_id])
    if not ids:
        return []
    base = flt or AssetFilter()
    base = AssetFilter(**{**base.__dict__, "exclude_ids": (*base.exclude_ids, asset_id)})
    hits = hub.store.knn_assets(mat[0], base, k=n)
    docs = hub.store.get_assets([h.id for h in hits])
    return [
        AssetHit(asset=Asset.model_validate(docs[h.id]), score=round(h.score, 4), matched=["similar"])
        for h in hits
        if h.id in docs
    ]
