"""The recommender's in-memory view of approved assets: vectors, facet masks, stats and neighbours.

Why in memory: a next-content request must filter and score every candidate in a few milliseconds.
Numpy masks per channel/scene/stage and one vector matrix make that a handful of array operations.
The view is rebuilt when assets change (hub.touch("assets")) and its statistics refresh in the
background every ``STATS_TTL`` seconds, so requests never wait for a rebuild after the first.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from contenthub.hub import Hub
from contenthub.recommend.engagement import ASSET_STATS, POPULARITY, POSITIVE, asset_features
from contenthub.store.query import AssetFilter
from contenthub.timeutil import from_iso

STATS_TTL = 30.0
NEIGHBOURS = 50
STAT_TYPES = ("delivered", "open", "click", "convert", "mute", "unsubscribe", "delete")


@dataclass
class ChannelStats:
    """Per-asset counts on one channel, aligned with ``Catalog.ids``."""

    counts: dict[str, np.ndarray]


@dataclass
class Catalog:
    ids: list[str]
    index: dict[str, int]
    docs: list[dict[str, Any]]
    vectors: np.ndarray
    has_vector: np.ndarray
    channel_mask: dict[str, np.ndarray]
    scene_mask: dict[str, np.ndarray]
    stage_mask: dict[str, np.ndarray]
    no_stage: np.ndarray
    valid_from: np.ndarray
    valid_until: np.ndarray
    created: np.ndarray
    feature_index: dict[str, int]
    features: sparse.csr_matrix
    version: int
    stats: dict[str, ChannelStats] = field(default_factory=dict)
    popularity: dict[str, np.ndarray] = field(default_factory=dict)
    neighbours: sparse.csr_matrix | None = None
    stats_at: float = 0.0

    def __len__(self) -> int:
        return len(self.ids)


def _ts(value: str | None, default: float) -> float:
    return from_iso(value).timestamp() if value else default


def build_catalog(hub: Hub) -> Catalog:
    store = hub.store
    flt = AssetFilter(statuses=("approved",))
    ids: list[str] = []
    offset = 0
    while True:
        page = store.filter_assets(flt, sort="created_desc", limit=5000, offset=offset)
        ids.extend(h.id for h in page.hits)
        offset += 5000
        if offset >= page.total:
            break
    ids.sort()
    docs_by_id = store.get_assets(ids)
    ids = [i for i in ids if i in docs_by_id]
    n = len(ids)
    docs = [docs_by_id[i] for i in ids]
    found, mat = store.get_vectors(ids)
    dim = mat.shape[1] if mat.size else hub.embedder.dim if hub._embedder is not None else 0
    vectors = np.zeros((n, dim), dtype=np.float32)
    has_vector = np.zeros(n, dtype=bool)
    index = {a: i for i, a in enumerate(ids)}
    for row, aid in enumerate(found):
        vectors[index[aid]] = mat[row]
        has_vector[index[aid]] = True

    def masks(field_name: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n, dtype=bool))
        for i, d in enumerate(docs):
            for v in d.get(field_name) or []:
                out[v][i] = True
        return dict(out)

    feature_index: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, d in enumerate(docs):
        for f, fw in asset_features(d):
            j = feature_index.setdefault(f, len(feature_index))
            rows.append(i)
            cols.append(j)
            vals.append(fw)
    features = sparse.csr_matrix((vals, (rows, cols)), shape=(n, max(len(feature_index), 1)), dtype=np.float32)
    cat = Catalog(
        ids=ids, index=index, docs=docs, vectors=vectors, has_vector=has_vector,
        channel_mask=masks("channels"), scene_mask=masks("scenes"), stage_mask=masks("stages"),
        no_stage=np.array([not d.get("stages") for d in docs], dtype=bool),
        valid_from=np.array([_ts(d.get("valid_from"), -np.inf) for d in docs]),
        valid_until=np.array([_ts(d.get("valid_until"), np.inf) for d in docs]),
        created=np.array([_ts(d.get("created_at"), 0.0) for d in docs]),
        feature_index=feature_index, features=features, version=hub.versions.get("assets", 0),
    )
    refresh_stats(hub, cat)
    return cat


def refresh_stats(hub: Hub, cat: Catalog) -> None:
    """Asset statistics per channel, popularity and item-to-item neighbours from the event log."""
    n = len(cat)
    stats: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for key, fld, value in hub.store.scan_counters(ASSET_STATS):
        asset_id, _, channel = key.partition("|")
        i = cat.index.get(asset_id)
        etype = fld[2:] if fld.startswith("n:") else None
        if i is None or etype not in STAT_TYPES:
            continue
        arr = stats[channel].get(etype)
        if arr is None:
            arr = stats[channel][etype] = np.zeros(n)
        arr[i] = value
    pop: dict[str, np.ndarray] = {}
    for channel, asset_id, value in hub.store.scan_counters(POPULARITY):
        i = cat.index.get(asset_id)
        if i is None:
            continue
        if channel not in pop:
            pop[channel] = np.zeros(n)
        pop[channel][i] = value
    cat.stats = {ch: ChannelStats(counts=c) for ch, c in stats.items()}
    cat.popularity = pop
    cat.neighbours = item_neighbours(hub, cat)
    cat.stats_at = time.monotonic()


def item_neighbours(hub: Hub, cat: Catalog, k: int = NEIGHBOURS) -> sparse.csr_matrix:
    """Item-to-item cosine over users' positive engagement (co-engagement), top ``k`` per item."""
    n = len(cat)
    users: dict[str, int] = {}
    rows, cols = [], []
    for batch in hub.store.iter_events(batch=20000):
        for ev in batch:
            if ev["type"] not in POSITIVE or not ev.get("user_id"):
                continue
            i = cat.index.get(ev.get("asset_id") or "")
            if i is None:
                continue
            rows.append(users.setdefault(ev["user_id"], len(users)))
            cols.append(i)
    if not rows or n == 0:
        return sparse.csr_matrix((n, n), dtype=np.float32)
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), n))
    x.data[:] = 1.0  # binary: several events on one asset count once
    x.sum_duplicates()
    x.data = np.minimum(x.data, 1.0)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    co = (x.T @ x).tocsr().astype(np.float32)
    co.setdiag(0)
    co.eliminate_zeros()
    co = sparse.diags(1 / norms) @ co @ sparse.diags(1 / norms)
    co = co.tocsr()
    # keep the top k per row
    indptr, indices, data = [0], [], []
    for r in range(n):
        start, end = co.indptr[r], co.indptr[r + 1]
        row_idx = co.indices[start:end]
        row_val = co.data[start:end]
        if len(row_val) > k:
            top = np.argpartition(-row_val, k - 1)[:k]
            row_idx, row_val = row_idx[top], row_val[top]
        indices.extend(row_idx.tolist())
        data.extend(row_val.tolist())
        indptr.append(len(indices))
    return sparse.csr_matrix((np.array(data, dtype=np.float32), np.array(indices), np.array(indptr)), shape=(n, n))


class CatalogHolder:
    """Single-flight rebuilds: one thread builds, everyone else keeps using the current view."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refreshing = False
        self.current: Catalog | None = None

    def get(self, hub: Hub) -> Catalog:
        cat = self.current
        version = hub.versions.get("assets", 0)
        if cat is None or cat.version != version:
            with self._lock:
                cat = self.current
                if cat is None or cat.version != hub.versions.get("assets", 0):
                    cat = self.current = build_catalog(hub)
            return cat
        if time.monotonic() - cat.stats_at > STATS_TTL and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh, args=(hub, cat), daemon=True).start()
        return cat

    def _refresh(self, hub: Hub, cat: Catalog) -> None:
        try:
            if hub.store.backend == "sqlite":
                refresh_stats(hub, cat)
            else:
                # Other API processes write to a shared cluster: this process cannot see their asset
                # changes through hub.touch, so it rebuilds the whole view on the same schedule.
                self.current = build_catalog(hub)
        finally:
            self._refreshing = False

    def invalidate_stats(self) -> None:
        if self.current is not None:
            self.current.stats_at = 0.0


def catalog(hub: Hub) -> Catalog:
    holder = hub.cache.get("catalog")
    if holder is None:
        holder = hub.cache.setdefault("catalog", CatalogHolder())
    return holder.get(hub)


def refresh_now(hub: Hub) -> Catalog:
    """Rebuild synchronously (after the demo load, in tests, from the CLI)."""
    cat = catalog(hub)
    refresh_stats(hub, cat)
    return cat
