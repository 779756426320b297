"""Reaching a library through its own tag vocabulary when the query's words are not in it.

Why: an English query against a Chinese library (``lamp``, ``cat food``) matches no word, and the
multilingual model cannot rescue it by a score on whole assets: a short English query scores its right
Chinese assets about as high as nonsense scores its best ones, so no floor on that score separates them
(bench/RESULTS.md, issue 23). Compared with the library's *tag names* instead — short phrases like the
query itself, both encoded as queries, the E5 way for symmetric pairs — the right tag stands far out of
the query's scores over all tags (``lamp`` → 学习灯, 护眼台灯), while nonsense spreads evenly. The tag is
then the translation: the assets carrying it are matches.

A tag is a bridge when its score passes two tests, the two sides of cross-lingual retrieval's
"hubness" problem (a point near everything is nobody's real neighbour):

- *the query's side*: its z-score within the query's own scores over the n tags reaches the one-sided
  Bonferroni bound ``Φ⁻¹(1 − BRIDGE_ALPHA / n)`` — the height noise alone reaches with chance
  BRIDGE_ALPHA somewhere among n tags, so a bigger vocabulary asks for more;
- *the tag's side*: the score is at least HUB_Z standard deviations above that tag's scores against
  random sentences (relevance.PROBES), so a tag that is close to everything (a number such as ``618``)
  is not picked for every query that is close to nothing.

Nothing here is tuned to a library: both statistics come from the model and the vocabulary at hand.
Bridging runs only when the query's words match nothing (see library/search.py), so it never changes
the results of a query the library already understands.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from contenthub.embeddings import Embedder
from contenthub.hub import Hub
from contenthub.library import relevance
from contenthub.store.query import AssetFilter

BRIDGE_ALPHA = 0.05
"""Chance that noise alone lifts some tag of the vocabulary to the query-side bound (see module doc)."""
HUB_Z = 1.0
"""How far above its own random-sentence scores a tag's score must be (standard deviations)."""
MIN_TAGS = 20
"""Below this many distinct tags a query's score distribution over them says too little to stand out of."""
MAX_BRIDGES = 3
"""At most this many tags translate one query (the closest first)."""

_lock = threading.Lock()


@dataclass(frozen=True)
class Vocabulary:
    """The library's tag names with their vectors and, per tag, the mean/std of its random-pair scores."""

    version: int
    names: tuple[str, ...]
    vectors: np.ndarray
    null_mean: np.ndarray
    null_std: np.ndarray


def _tag_vectors(emb: Embedder, names: list[str]) -> np.ndarray:
    """Tag vectors from a per-model memo: only tags never seen by this model are encoded."""
    memo: dict[str, np.ndarray] = emb.memo.setdefault("bridge.tag_vectors", {})
    new = [t for t in names if t not in memo]
    if new:
        for t, v in zip(new, emb.encode_queries(new, batch_size=64), strict=True):
            memo[t] = v
    return np.stack([memo[t] for t in names]) if names else np.zeros((0, emb.dim), dtype=np.float32)


def vocabulary(hub: Hub) -> Vocabulary:
    """The current tag vocabulary, rebuilt when assets changed (``hub.touch("assets")``, any process)."""
    version = hub.version("assets")
    vocab: Vocabulary | None = hub.cache.get("bridge.vocabulary")
    if vocab is not None and vocab.version == version:
        return vocab
    with _lock:
        vocab = hub.cache.get("bridge.vocabulary")
        if vocab is not None and vocab.version == version:
            return vocab
        emb = hub.embedder
        names = sorted(hub.store.asset_facet_counts("tags", AssetFilter()))
        vectors = _tag_vectors(emb, names)
        probes = relevance.probe_query_vectors(emb)
        null = probes @ vectors.T if names else np.zeros((len(probes), 0), dtype=np.float32)
        vocab = Vocabulary(version, tuple(names), vectors, null.mean(axis=0), null.std(axis=0))
        hub.cache["bridge.vocabulary"] = vocab
        return vocab


def query_bound(n: int, alpha: float = BRIDGE_ALPHA) -> float:
    """The z a tag's score must reach within the query's scores over n tags (one-sided Bonferroni)."""
    return NormalDist().inv_cdf(1.0 - alpha / n)


def bridge_tags(
    vocab: Vocabulary,
    qv: np.ndarray,
    *,
    allowed: tuple[str, ...] = (),
    alpha: float | None = None,
    hub_z: float | None = None,
) -> list[tuple[str, float]]:
    """The tags that translate the query (name, cosine), closest first; empty when none stands out.

    ``allowed``: when the search is already limited to some tags, only those can be bridges."""
    n = len(vocab.names)
    if n < MIN_TAGS:
        return []
    scores = vocab.vectors @ qv
    spread = float(scores.std())
    if spread <= 0.0:
        return []
    z_query = (scores - float(scores.mean())) / spread
    z_tag = (scores - vocab.null_mean) / np.maximum(vocab.null_std, 1e-6)
    bound = query_bound(n, BRIDGE_ALPHA if alpha is None else alpha)
    hub_z = HUB_Z if hub_z is None else hub_z
    out = [
        (vocab.names[i], float(scores[i]))
        for i in np.argsort(-scores)
        if z_query[i] >= bound and z_tag[i] >= hub_z and (not allowed or vocab.names[i] in allowed)
    ]
    return out[:MAX_BRIDGES]
