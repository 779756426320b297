"""The recommender's in-memory view of approved assets: vectors, facet masks, stats and neighbours.

Why in memory: a next-content request must filter and score every candidate in a few milliseconds.
Numpy masks per channel/scene/stage and one vector matrix make that a handful of array operations.
The view is rebuilt when assets change (``hub.touch("assets")`` in any process: other API workers
and the CLI share the store, and ``hub.version`` reads their change marks) and its statistics refresh in the
background every ``STATS_TTL`` seconds, so requests never wait for a rebuild after the first.

The collaborative signal comes from an ``EngagementModel``: who engaged positively with what, and
item-to-item weights learnt from it with EASE (Steck, 2019) — a closed-form linear model that
predicts each asset's engagement from all the others'. On MovieLens (validation split carved from
train) it beat top-k cosine neighbours by a wide margin, and its negative weights matter (keeping only
the strongest weights lost most of the gain), so it is kept dense over at most ``MODEL_MAX_ASSETS``
most-engaged assets. Fitting is a Cholesky inverse of that Gram matrix, so it is redone at most every
``MODEL_TTL`` seconds in the background and carried over when the asset view is rebuilt; a user's
engagement since the last fit still counts at once through the profile's recent events.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

from contenthub import bad_records
from contenthub.audience.engagement import (
    ALL_CHANNELS,
    ASSET_STATS,
    POPULARITY,
    POSITIVE,
    asset_features,
    current_scale,
)
from contenthub.hub import Hub
from contenthub.recommend import topics as topics_mod
from contenthub.store.query import AssetFilter, EventQuery
from contenthub.timeutil import BadStamp, from_iso, utcnow

T = TypeVar("T")
STATS_TTL = 30.0
SIMILARITY_MEMO_BYTES = 192 * 1024 * 1024
"""Memory per channel block for memoised similarity columns (ChannelBlock.similarity): every column of a
10,000-asset catalog on a 4,000-asset channel (170 MB); a user whose engaged assets are memoised skips
the block product."""
ROW_VALUES_MAX = 64
"""Per-catalog arrays whose block values one ChannelBlock keeps (``rows_of``); a stats refresh makes ~4 new."""
SIMILARITY_MEMO_MAX_ROWS = 16
"""Users with more engaged assets than this get the direct block product (as cheap as that many columns)."""
MODEL_TTL = 600.0  # seconds between refits of the engagement model
MODEL_MAX_ASSETS = 5000  # dense EASE weights: 5000² float32 = 100 MB
EASE_LAMBDA = 150.0  # L2 strength; tuned on the MovieLens validation split (50 / 150 / 400 tried)
STAT_TYPES = ("delivered", "open", "click", "convert", "mute", "unsubscribe", "delete")


@dataclass
class ChannelStats:
    """Per-asset counts on one channel, aligned with ``Catalog.ids``."""

    counts: dict[str, np.ndarray]
    _quality: tuple[np.ndarray, np.ndarray, float] | None = None
    memo: dict[str, Any] = field(default_factory=dict)  # per-refresh derived arrays (ranking's quality posterior)

    def quality_inputs(self, n: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(successes, deliveries, channel-wide success rate), computed once per refresh, not per request."""
        if self._quality is None:
            zeros = np.zeros(n)
            delivered = self.counts.get("delivered", zeros)
            success = self.counts.get("click", zeros) + 2.0 * self.counts.get("convert", zeros)
            base = float(success.sum() / max(delivered.sum(), 1.0))
            self._quality = (success, delivered, base)
        return self._quality


@dataclass
class ChannelBlock:
    """The assets on one channel as contiguous arrays, so a request scores ~n/11 rows without copying."""

    rows: np.ndarray  # catalog rows, ascending
    vectors: np.ndarray  # their vectors
    features: sparse.csr_matrix  # their feature rows
    valid_from: np.ndarray | None = None  # their validity bounds; None when none of them has any
    valid_until: np.ndarray | None = None
    scene_masks: dict[str, np.ndarray] = field(default_factory=dict)  # memo: rows tagged with a scene
    model_positions: tuple[Any, np.ndarray] | None = None  # (model, position of each row in it or its size)
    # memo: catalog row → ``vectors @ cat.vectors[row]`` (see ``similarity``), bounded by SIMILARITY_MEMO_BYTES
    similarity_columns: dict[int, np.ndarray] = field(default_factory=dict)
    # memo of ``rows_of``: id(per-catalog array) → (that array, its values on the block's rows)
    row_values: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    row_offsets: dict[int, np.ndarray] = field(default_factory=dict)  # memo of ``rows_of_offsets``

    def rows_of(self, arr: np.ndarray) -> np.ndarray:
        """``arr[self.rows]`` for a per-catalog-row array (read-only), made once per array object.

        Why: when a request's candidates are the whole block, every per-asset signal (popularity,
        posterior threshold, lifecycle fit, freshness base) would otherwise gather ~4,000 values per
        request from the catalog-wide array. The arrays handed in are memos themselves (replaced on
        each stats refresh), so the memo is keyed by the object (held, so its id is not reused) and
        emptied when it grows past ``ROW_VALUES_MAX`` entries, which bounds what stale refreshes leave."""
        key = id(arr)
        found = self.row_values.get(key)
        if found is not None and found[0] is arr:
            return found[1]
        values = arr[self.rows]
        values.setflags(write=False)
        if len(self.row_values) >= ROW_VALUES_MAX:
            self.row_values = {}
        self.row_values[key] = (arr, values)
        return values

    def rows_of_offsets(self, width: int) -> np.ndarray:
        """``self.rows * width``: the flat offsets of the block's rows in a (catalog rows × width) array."""
        found = self.row_offsets.get(width)
        if found is None:
            found = self.rows * width
            found.setflags(write=False)
            self.row_offsets[width] = found
        return found

    def similarity_rows(self, cat: Catalog, rows: list[int]) -> np.ndarray:
        """``cat.vectors[rows] @ vectors.T``: each asset's cosines with the block (len(rows) × block rows),
        the ``raw_signals.Columns.similarity`` of a request whose audience vector mixes those assets.

        Why by asset: the product of a user vector with the block streams the whole block (4,000 × 384
        floats, more than the core's cache) for every request, which made it the largest single cost of
        next content. By linearity the user vector's cosines are ``Σ weights[i]·(vectors @
        cat.vectors[rows[i]])``, and those columns depend only on the asset, so they are memoised: a user
        engaged with k assets costs k rows of a sparse product. Missing columns are computed together in
        one product. Equal to the direct product up to float rounding (summation order)."""
        memo = self.similarity_columns
        found: dict[int, np.ndarray] = {}
        missing = [r for r in dict.fromkeys(rows) if r not in memo]
        if missing:
            cols = cat.vectors[missing] @ self.vectors.T  # k × block: one pass over the block for all of them
            found = dict(zip(missing, cols, strict=True))
            room = self._memo_capacity() - len(memo)
            # No eviction (it would thrash on uniform traffic): the first assets asked for stay, and real
            # traffic asks for popular assets first. Columns past the budget are computed each time.
            for r in missing[: max(room, 0)]:
                memo[r] = found[r]
        return np.stack([memo[r] if r in memo else found[r] for r in rows])

    def _memo_capacity(self) -> int:
        return SIMILARITY_MEMO_BYTES // max(self.vectors.shape[0] * 4, 1)

    def warm_similarity(self, cat: Catalog, chunk: int = 512) -> None:
        """Fill the similarity memo, most engaged assets first, so requests after a (re)build do not each
        pay for their columns (run on a background thread when the block is built; BLAS releases the GIL)."""
        pop = sum(cat.popularity.values()) if cat.popularity else None
        order = np.argsort(-pop, kind="stable") if isinstance(pop, np.ndarray) else np.arange(len(cat))
        memo = self.similarity_columns
        for start in range(0, min(order.size, self._memo_capacity()), chunk):
            rows = [r for r in order[start : start + chunk].tolist() if r not in memo]
            if rows:
                for r, col in zip(rows, cat.vectors[rows] @ self.vectors.T, strict=True):
                    if len(memo) < self._memo_capacity():
                        memo.setdefault(r, col)

    def scene_mask(self, cat: Catalog, scene: str) -> np.ndarray:
        found = self.scene_masks.get(scene)
        if found is None:
            full = cat.scene_mask.get(scene)
            found = full[self.rows] if full is not None else np.zeros(self.rows.size, dtype=bool)
            self.scene_masks[scene] = found
        return found

    def model_position(self, cat: Catalog, model: EngagementModel, model_rows: np.ndarray) -> np.ndarray:
        """Position in ``model`` of each block row (``len(model.asset_ids)`` when not modelled), memoised
        per model object: a refit swaps the model without rebuilding the block."""
        memo = self.model_positions
        if memo is None or memo[0] is not model:
            m = len(model.asset_ids)
            by_row = np.full(len(cat), m, dtype=np.int64)
            present = np.flatnonzero(model_rows >= 0)
            by_row[model_rows[present]] = present
            memo = self.model_positions = (model, by_row[self.rows])
        return memo[1]


@dataclass
class EngagementModel:
    """Positive engagement (binary) of every user with the modelled assets, and EASE weights over them.

    ``weights[j, i]`` is how much engaging with asset j predicts engaging with asset i (zero diagonal).
    """

    asset_ids: list[str]
    position: dict[str, int]
    user_rows: dict[str, int]
    history: sparse.csr_matrix  # users × modelled assets
    weights: np.ndarray  # modelled × modelled, float32
    fitted_at: float = 0.0

    def engaged(self, user_id: str | None) -> np.ndarray:
        """Positions of the modelled assets the user engaged with positively (as of the last fit)."""
        r = self.user_rows.get(user_id or "")
        if r is None:
            return np.zeros(0, dtype=np.int64)
        return self.history.indices[self.history.indptr[r] : self.history.indptr[r + 1]]


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
    engagement: EngagementModel | None = None
    model_rows: np.ndarray | None = None  # catalog row of each modelled asset, -1 when not in this view
    stats_at: float = 0.0
    blocks: dict[str, ChannelBlock] = field(default_factory=dict)
    log_popularity: dict[str, np.ndarray] = field(default_factory=dict)  # log1p(popularity), per refresh
    fits: dict[tuple[str, tuple[str, ...]], np.ndarray] = field(default_factory=dict)
    freshness_base: dict[float, tuple[float, np.ndarray]] = field(default_factory=dict)  # ranking.freshness memo
    model_view: tuple[EngagementModel, np.ndarray] | None = None  # (engagement, model_rows) set together
    explain_features: dict[int, list[str]] = field(default_factory=dict)  # ranking.explain_features memo
    # The library's discovered topics (recommend/topics.py) and content types, as an index per row into
    # ``topic_names`` / ``type_names``; rows without one hold ``len(names)`` (the "none" slot).
    topics: topics_mod.Topics | None = None
    topic_of_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    topic_names: list[str] = field(default_factory=list)
    type_of_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    type_names: list[str] = field(default_factory=list)
    topic_key: str = ""  # what the topics were computed from (ids and raw vectors), to reuse them

    def __len__(self) -> int:
        return len(self.ids)

    def block(self, channel: str) -> ChannelBlock:
        """The channel's assets (built on first use; the view is rebuilt when assets change)."""
        blk = self.blocks.get(channel)
        if blk is None:
            mask = self.channel_mask.get(channel)
            rows = np.flatnonzero(mask) if mask is not None else np.zeros(0, dtype=np.int64)
            rows.setflags(write=False)  # handed out as candidate rows (ranking.candidate_rows): never edited
            vf, vu = self.valid_from[rows], self.valid_until[rows]
            timeless = bool(np.all(np.isneginf(vf)) and np.all(np.isposinf(vu)))
            blk = ChannelBlock(
                rows=rows,
                vectors=np.ascontiguousarray(self.vectors[rows]),
                features=self.features[rows].tocsr(),
                valid_from=None if timeless else vf,
                valid_until=None if timeless else vu,
            )
            self.blocks[channel] = blk
            threading.Thread(target=blk.warm_similarity, args=(self,), name="similarity-warm", daemon=True).start()
        return blk

    def lifecycle_fit(self, stage: str, scenes: tuple[str, ...]) -> np.ndarray:
        """How well each asset fits a lifecycle stage: 1 tagged for the stage, 0.8 in one of the
        stage's scenes, 0.5 untargeted, else 0 (memoised per stage and scene list)."""
        key = (stage, scenes)
        fit = self.fits.get(key)
        if fit is None:
            fit = np.where(self.no_stage, 0.5, 0.0)
            stage_mask = self.stage_mask.get(stage)
            if stage_mask is not None:
                fit = np.where(stage_mask, 1.0, fit)
            for scene in scenes:
                sm = self.scene_mask.get(scene)
                if sm is not None:
                    fit = np.maximum(fit, np.where(sm, 0.8, 0.0))
            self.fits[key] = fit
        return fit


def _ts(value: str | None, default: float) -> float:
    return from_iso(value).timestamp() if value else default


TIME_FIELDS = ("valid_from", "valid_until", "created_at")


def _bad_time(doc: dict[str, Any]) -> tuple[str, Any, str] | None:
    """(field, value, reason) of the first stored time of an asset that cannot be read, or None."""
    for name in TIME_FIELDS:
        value = doc.get(name)
        if value:
            try:
                from_iso(value)
            except BadStamp as exc:
                return name, value, str(exc)
    return None


def single_threaded_blas() -> None:
    """Pin BLAS to one thread for this process.

    Serving is many small matrix-vector products run by concurrent requests; OpenBLAS's own threads
    spin against each other and against the request threads on a small box (one product is an order of
    magnitude slower with 2 BLAS threads under load than with 1 (figures: bench/RESULTS.md, "Figures behind design choices")). Parallelism comes from
    requests, not from inside one product. Process-wide on purpose: the limit cannot be scoped to a
    thread, and toggling it per request would race between requests.
    """
    global _BLAS_PINNED
    if not _BLAS_PINNED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")
        _BLAS_PINNED = True


_BLAS_PINNED = False


def build_catalog(hub: Hub, previous: Catalog | None = None) -> Catalog:
    """The view of approved assets; ``previous`` lends its engagement model so a rebuild after an
    asset edit does not refit it in the request path."""
    single_threaded_blas()
    version = hub.version("assets")  # before reading: an edit made during the build triggers the next one
    store = hub.store
    docs_by_id, found, mat = store.assets_with_vectors(AssetFilter(statuses=("approved",)))
    # A record no reader can use (a time an older version wrote badly) is skipped and listed for an admin:
    # one record must never fail next content for everyone.
    bad = {i: why for i, d in docs_by_id.items() if (why := _bad_time(d)) is not None}
    bad_records.settle(hub, "asset", bad)
    ids = sorted(i for i in docs_by_id if i not in bad)
    n = len(ids)
    docs = [docs_by_id[i] for i in ids]
    dim = mat.shape[1] if mat.size else hub.embedder.dim if hub._embedder is not None else 0
    vectors = np.zeros((n, dim), dtype=np.float32)
    has_vector = np.zeros(n, dtype=bool)
    index = {a: i for i, a in enumerate(ids)}
    for row, aid in enumerate(found):
        if aid in index:  # not a record skipped as bad
            vectors[index[aid]] = mat[row]
            has_vector[index[aid]] = True
    tags = [sorted(d.get("tags") or []) for d in docs]
    topic_key = _topic_key(
        [f"{i}|{d.get('content_type') or ''}|{','.join(t)}" for i, d, t in zip(ids, docs, tags, strict=True)], vectors
    )
    content_types = [d.get("content_type") for d in docs]
    vectors = topics_mod.spread(vectors, has_vector, content_types)  # every comparison of vectors uses the spread ones
    if previous is not None and previous.topics is not None and previous.topic_key == topic_key:
        found_topics = previous.topics  # an edit that changed no vector, type or tag: the same topics
    else:
        texts = [topics_mod.topic_text(d) for d in docs]
        found_topics = topics_mod.discover(vectors, has_vector, texts, content_types, tags=tags)
    topic_of = topics_mod.assignments(found_topics, ids)
    topics_mod.save(hub, topic_of)
    type_names = sorted({d["content_type"] for d in docs if d.get("content_type")})
    type_index = {t: i for i, t in enumerate(type_names)}

    def masks(field_name: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n, dtype=bool))
        for i, d in enumerate(docs):
            for v in d.get(field_name) or []:
                out[v][i] = True
        return dict(out)

    feature_index: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, d in enumerate(docs):
        for f, fw in asset_features(d, topic_of.get(ids[i])):
            j = feature_index.setdefault(f, len(feature_index))
            rows.append(i)
            cols.append(j)
            vals.append(fw)
    features = sparse.csr_matrix((vals, (rows, cols)), shape=(n, max(len(feature_index), 1)), dtype=np.float32)
    cat = Catalog(
        ids=ids,
        index=index,
        docs=docs,
        vectors=vectors,
        has_vector=has_vector,
        channel_mask=masks("channels"),
        scene_mask=masks("scenes"),
        stage_mask=masks("stages"),
        no_stage=np.array([not d.get("stages") for d in docs], dtype=bool),
        valid_from=np.array([_ts(d.get("valid_from"), -np.inf) for d in docs]),
        valid_until=np.array([_ts(d.get("valid_until"), np.inf) for d in docs]),
        created=np.array([_ts(d.get("created_at"), 0.0) for d in docs]),
        feature_index=feature_index,
        features=features,
        version=version,
        topics=found_topics,
        topic_names=found_topics.names,
        topic_of_row=np.where(found_topics.of_row >= 0, found_topics.of_row, len(found_topics.names)),
        type_names=type_names,
        type_of_row=np.array(
            [type_index.get(d.get("content_type") or "", len(type_names)) for d in docs], dtype=np.int64
        ),
        topic_key=topic_key,
    )
    if previous is not None and previous.engagement is not None:
        attach_model(cat, previous.engagement)
    refresh_stats(hub, cat)
    return cat


def _topic_key(ids: list[str], vectors: np.ndarray) -> str:
    """A digest of what the topics are computed from: asset ids with their content types and tags (the editors'
    tags are hints to discovery, so a tag-only edit must refresh topics), and raw vectors."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update("\n".join(ids).encode())
    digest.update(np.ascontiguousarray(vectors).tobytes())
    return digest.hexdigest()


def refresh_stats(hub: Hub, cat: Catalog, *, refit: bool | None = None) -> None:
    """Asset statistics per channel and popularity from the counters; the engagement model when it is
    missing, older than ``MODEL_TTL`` or ``refit`` asks for it. The all-channel figures (``"*"``) are
    the sums over the channels (ingestion writes per-channel counters only; roll-up counters an older
    version wrote are skipped, not counted twice)."""
    n = len(cat)
    stats: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for key, fld, value in _yielding(hub.store.scan_counters(ASSET_STATS)):
        asset_id, _, channel = key.partition("|")
        i = cat.index.get(asset_id)
        etype = fld[2:] if fld.startswith("n:") else None
        if i is None or etype not in STAT_TYPES or channel == ALL_CHANNELS:
            continue
        arr = stats[channel].get(etype)
        if arr is None:
            arr = stats[channel][etype] = np.zeros(n)
        arr[i] = value
    if stats:
        stats[ALL_CHANNELS] = _summed(list(stats.values()))
    # Popularity counters hold w·2^((t − EPOCH)/H); dividing by today's scale turns them into decayed
    # engagement as of now, so log1p in ranking sees counts, not an arbitrary power of two.
    inv_scale = 1.0 / current_scale(utcnow(), hub.settings.profile_half_life_days)
    pop: dict[str, np.ndarray] = {}
    for channel, asset_id, value in _yielding(hub.store.scan_counters(POPULARITY)):
        i = cat.index.get(asset_id)
        if i is None or channel == ALL_CHANNELS:
            continue
        if channel not in pop:
            pop[channel] = np.zeros(n)
        pop[channel][i] = value * inv_scale
    if pop:
        pop[ALL_CHANNELS] = sum(pop.values(), np.zeros(n))
    cat.stats = {ch: ChannelStats(counts=c) for ch, c in stats.items()}
    cat.popularity = pop
    cat.log_popularity = {ch: np.log1p(v) for ch, v in pop.items()}
    model = cat.engagement
    if refit or model is None or time.monotonic() - model.fitted_at > MODEL_TTL:
        attach_model(cat, fit_engagement_model(hub))
    cat.stats_at = time.monotonic()


YIELD_EVERY = 256
"""Rows a background refresh handles between offers of the GIL (``_yielding``): well under the switch interval."""


def _yielding(rows: Iterator[T]) -> Iterator[T]:
    """``rows``, offering the GIL to other threads every ``YIELD_EVERY`` items.

    Why: the stats refresh runs on a background thread every ``STATS_TTL`` s and spends a long stretch of
    Python time on every counter row. A request waiting for the GIL meanwhile waits up to the interpreter's
    switch interval at every hand-off; offering the GIL every ``YIELD_EVERY`` rows bounds that stall, so the
    refresh shows up as a little throughput, not as latency spikes in p99."""
    for i, row in enumerate(rows):
        if not i % YIELD_EVERY:
            time.sleep(0)  # releases the GIL: a thread waiting for it runs now
        yield row


def _summed(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Element-wise sums of same-length arrays by name (the all-channel figures from the per-channel ones)."""
    total: dict[str, np.ndarray] = {}
    for part in parts:
        for name, arr in part.items():
            total[name] = total[name] + arr if name in total else arr.copy()
    return total


def attach_model(cat: Catalog, model: EngagementModel) -> None:
    """Point the view at a model (fitted for it or lent by the previous view)."""
    rows = np.array([cat.index.get(a, -1) for a in model.asset_ids], dtype=np.int64)
    cat.model_view = (model, rows)  # one attribute: a reader never pairs a model with another model's rows
    cat.model_rows = rows
    cat.engagement = model


def fit_engagement_model(
    hub: Hub,
    *,
    lam: float = EASE_LAMBDA,
    max_assets: int = MODEL_MAX_ASSETS,
    pairs: list[tuple[str, str]] | None = None,
) -> EngagementModel:
    """EASE over the users' positive engagement: B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹.

    X is binary (several events on one asset count once). Only the ``max_assets`` assets engaged by
    the most users are modelled; the Gram matrix is inverted through its Cholesky factor.
    ``pairs``: (user, asset) positive pairs to fit on instead of the store's (the learning job's snapshot).
    """
    if pairs is None:
        found = hub.store.event_counts(("user_id", "asset_id"), EventQuery(types=tuple(sorted(POSITIVE))))
        pairs = [(u, a) for (u, a), _, _ in _yielding(iter(found)) if u and a]  # refits run in the background
    users_per_asset: dict[str, int] = defaultdict(int)
    for _, a in pairs:
        users_per_asset[a] += 1
    ranked = sorted(users_per_asset, key=lambda a: (-users_per_asset[a], a))[:max_assets]
    asset_ids = sorted(ranked)
    position = {a: j for j, a in enumerate(asset_ids)}
    user_rows: dict[str, int] = {}
    rows, cols = [], []
    for u, a in _yielding(iter(pairs)):
        j = position.get(a)
        if j is not None:
            rows.append(user_rows.setdefault(u, len(user_rows)))
            cols.append(j)
    m = len(asset_ids)
    history = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(user_rows), m))
    history.sum_duplicates()
    history.data[:] = 1.0
    history.sort_indices()
    weights = _ease(history, lam) if m else np.zeros((0, 0), dtype=np.float32)
    return EngagementModel(
        asset_ids=asset_ids,
        position=position,
        user_rows=user_rows,
        history=history,
        weights=weights,
        fitted_at=time.monotonic(),
    )


def _ease(x: sparse.csr_matrix, lam: float) -> np.ndarray:
    gram = (x.T @ x).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += np.float32(lam)
    factor, info = lapack.spotrf(gram, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE Gram matrix is not positive definite (potrf info {info})")
    inv, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE inverse failed (potri info {info})")
    p = np.triu(inv)
    p += np.triu(inv, 1).T  # potri fills the upper triangle only
    b = p / -np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b.astype(np.float32, copy=False)


class CatalogHolder:
    """Single-flight rebuilds: one thread builds, everyone else keeps using the current view."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refreshing = False
        self.refit_requested = False
        self.current: Catalog | None = None

    def get(self, hub: Hub) -> Catalog:
        cat = self.current
        version = hub.version("assets")
        if cat is None or cat.version != version:
            with self._lock:
                cat = self.current
                if cat is None or cat.version != hub.version("assets"):
                    cat = self.current = build_catalog(hub, previous=cat)
            return cat
        if time.monotonic() - cat.stats_at > STATS_TTL and not self._refreshing:
            self._refreshing = True
            hub.start_background(lambda: self._refresh(hub, cat), "catalog-statistics")
        return cat

    def _refresh(self, hub: Hub, cat: Catalog) -> None:
        refit, self.refit_requested = self.refit_requested, False
        try:
            refresh_stats(hub, cat, refit=refit or None)  # asset edits of any process show through hub.version
        finally:
            self._refreshing = False

    def invalidate_stats(self, *, refit: bool = False) -> None:
        """Refresh statistics on the next request (``learning.after_ingest`` calls this every
        ``learning.STATS_EVERY`` new events, with ``refit`` every ``learning.MODEL_EVERY``)."""
        self.refit_requested = self.refit_requested or refit
        if self.current is not None:
            self.current.stats_at = 0.0


def catalog(hub: Hub) -> Catalog:
    holder = hub.cache.get("catalog")
    if holder is None:
        holder = hub.cache.setdefault("catalog", CatalogHolder())
    return holder.get(hub)


def catalog_is_current(hub: Hub) -> bool:
    """Whether ``catalog(hub)`` answers without building: this process holds a view of the current assets."""
    holder = hub.cache.get("catalog")
    cat = holder.current if holder is not None else None
    return cat is not None and cat.version == hub.version("assets")


def refresh_now(hub: Hub) -> Catalog:
    """Refresh statistics and refit the engagement model synchronously (after the demo load, in tests,
    from the CLI)."""
    cat = catalog(hub)
    refresh_stats(hub, cat, refit=True)
    return cat
