"""Topics the library discovers in itself: vectors spread apart, clustered, each cluster named.

Why: raw e5 passage vectors of one brand's library sit at cosine 0.91–0.94 to each other (they share
language, register and format), so nearest neighbours agreed on the *format* far more often than on
the *topic*. Two documented transforms fix that:

1. ``spread``: subtract from each asset the mean vector of its content type (the editors' label: a
   promotion, a tutorial, a story), or the library's mean when the type has fewer than
   ``MIN_TYPE_ASSETS`` assets or none, and re-normalise. What every asset of a format shares — the
   language, the register, "限时优惠" — cancels, and what is left tells topics apart; the format itself
   is not lost, it is the asset's content type, which ranking matches on its own (the "type" signal).
   Measured on the test library of tests/zh_library.py (6 topics × 3 formats): an asset's 5 nearest
   neighbours shared its topic 75% / format 85% with raw e5 vectors, 78% / 84% centred on the library
   mean only, 94% / 51% with the top principal component removed as well, and 99% / 33% (chance)
   centred per content type. Every place the recommender compares vectors (user interest vector,
   similarity signal, MMR, reasons) uses the spread vectors.
2. ``discover``: spherical k-means (k-means on the unit vectors, which orders points by cosine) with
   k chosen by the best mean cosine silhouette over a fixed grid of k (``K_GRID``, at most
   √(n/2)), fitted on a seeded sample so it is deterministic and bounded in cost. Each cluster is named
   by its most distinctive keywords: words (jieba for Chinese, whitespace words otherwise) whose share
   of the cluster's assets most exceeds their share of the whole library.

A topic id is its name (``"护眼·眼睛·屏幕"``), so the same data gives the same ids in every process,
and a topic keeps its id across rebuilds while its keywords hold. The topic becomes an implicit tag
beside the editors' tags: the engagement feature ``o:<topic id>`` (``engagement.asset_features``), which
profiles count and ranking matches. Topics are recomputed on every catalog rebuild (any asset change),
and the asset → topic map is stored (``COLLECTION``) so ingestion in any process counts the same topics.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import jieba
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from contenthub import doccache
from contenthub.hub import Hub

COLLECTION = "topics"
DOC_ID = "assignments"
K_GRID = (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 20, 24, 32)
MIN_ASSETS = 12
"""Below this many assets with vectors there is nothing to cluster (every asset is its own topic)."""
MIN_TYPE_ASSETS = 3
"""Content types with fewer assets are centred on the library mean (a type's own mean would erase them)."""
FIT_SAMPLE = 2000
"""Assets the clustering is fitted on (every asset is then assigned to its nearest centre)."""
SEED = 18
KEYWORDS = 3
_WORD = re.compile(r"[\w\u4e00-\u9fff]{2,}")
_STOP = frozenset(
    [
        "的",
        "了",
        "和",
        "是",
        "在",
        "有",
        "也",
        "都",
        "就",
        "让",
        "与",
        "及",
        "或",
        "一个",
        "我们",
        "你们",
        "他们",
        "这个",
        "那个",
        "什么",
        "怎么",
        "如何",
        "可以",
        "不是",
        "没有",
        "就是",
        "还是",
        "一起",
        "一下",
        "这样",
        "还有",
        "因为",
        "所以",
        "但是",
        "而且",
        "the",
        "and",
        "for",
        "with",
        "you",
        "your",
        "that",
        "this",
        "from",
        "are",
        "was",
        "have",
        "has",
        "not",
        "but",
        "all",
        "can",
        "will",
        "our",
        "its",
        "into",
        "how",
        "what",
        "why",
        "when",
        "who",
        "new",
        "more",
    ]
)

jieba.setLogLevel(60)  # jieba prints its dictionary loading to stderr otherwise


@dataclass(frozen=True)
class Topics:
    """The library's topics: per catalog row the topic index (-1 without a vector), and the topics' names."""

    of_row: np.ndarray  # int64, per catalog row
    names: list[str]  # topic index → id/name
    centres: np.ndarray  # topic index → unit centre (spread space)


def spread(vectors: np.ndarray, present: np.ndarray, groups: list[str | None] | None = None) -> np.ndarray:
    """Vectors centred on the mean of their group (content type) or of the library, re-normalised; rows
    without a vector stay zero."""
    out = np.zeros_like(vectors, dtype=np.float32)
    if not present.any():
        return out
    rows = vectors[present].astype(np.float32)
    centre = np.broadcast_to(rows.mean(axis=0, keepdims=True), rows.shape).copy()
    if groups is not None:
        kept = [g for g, p in zip(groups, present.tolist(), strict=True) if p]
        by_group: dict[str, list[int]] = {}
        for i, g in enumerate(kept):
            if g:
                by_group.setdefault(g, []).append(i)
        for members in by_group.values():
            if len(members) >= MIN_TYPE_ASSETS:
                centre[members] = rows[members].mean(axis=0)
    centred = rows - centre
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    norms[norms < 1e-9] = 1.0
    out[present] = centred / norms
    return out


def words(text: str) -> set[str]:
    """The distinct keywords of a text: jieba's segmentation, kept when ≥ 2 letters and not a stop word."""
    return {w.lower() for w in jieba.lcut(text) if _WORD.fullmatch(w) and w.lower() not in _STOP and not w.isdigit()}


def choose_k(x: np.ndarray, seed: int = SEED) -> tuple[int, np.ndarray]:
    """(k, centres) of the best mean cosine silhouette over ``K_GRID`` (k ≤ √(n/2)) on ``x`` (unit rows)."""
    n = x.shape[0]
    k_max = max(2, int(np.sqrt(n / 2)))
    best: tuple[float, int, np.ndarray] | None = None
    for k in K_GRID:
        if k > k_max or k >= n:
            break
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
        if len(set(km.labels_.tolist())) < 2:
            continue
        score = float(silhouette_score(x, km.labels_, metric="cosine"))
        if best is None or score > best[0]:
            best = (score, k, km.cluster_centers_)
    if best is None:
        return 1, x.mean(axis=0, keepdims=True)
    return best[1], best[2]


def name_topics(labels: np.ndarray, texts: list[str], k: int) -> list[str]:
    """A distinct name per cluster from its ``KEYWORDS`` most distinctive words (lift of document share,
    smoothed so a word of one asset does not win), ``topic-<i>`` when a cluster has no words."""
    docs = [words(t) for t in texts]
    n = max(len(docs), 1)
    overall = Counter(w for d in docs for w in d)
    names: list[str] = []
    for c in range(k):
        members = [docs[i] for i in np.flatnonzero(labels == c).tolist()]
        size = max(len(members), 1)
        inside = Counter(w for d in members for w in d)
        scored = sorted(inside, key=lambda w: (-(inside[w] / size - overall[w] / n) * np.sqrt(inside[w]), w))
        name = "·".join(scored[:KEYWORDS]) or f"topic-{c}"
        while name in names:
            name += f"-{c}"
        names.append(name)
    return names


def discover(vectors: np.ndarray, present: np.ndarray, texts: list[str], seed: int = SEED) -> Topics:
    """Topics of a library of spread vectors (``spread``) and the texts that name them."""
    n = vectors.shape[0]
    of_row = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(present)
    if rows.size < MIN_ASSETS:
        return Topics(of_row=of_row, names=[], centres=np.zeros((0, vectors.shape[1]), dtype=np.float32))
    rng = np.random.default_rng(seed)
    fit_rows = rows if rows.size <= FIT_SAMPLE else np.sort(rng.choice(rows, FIT_SAMPLE, replace=False))
    k, centres = choose_k(vectors[fit_rows], seed)
    centres = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-9)
    labels = (vectors[rows] @ centres.T).argmax(axis=1)
    of_row[rows] = labels
    names = name_topics(labels, [texts[i] for i in rows.tolist()], k)
    return Topics(of_row=of_row, names=names, centres=centres.astype(np.float32))


def assignments(topics: Topics, ids: list[str]) -> dict[str, str]:
    """asset id → topic id."""
    return {ids[i]: topics.names[t] for i, t in enumerate(topics.of_row.tolist()) if t >= 0}


def save(hub: Hub, found: dict[str, str]) -> None:
    """Store the asset → topic map when it changed, so ingestion in every process counts the same topics."""
    doc = hub.store.get_doc(COLLECTION, DOC_ID)
    if doc is None or doc.get("topics") != found:
        hub.store.put_doc(COLLECTION, DOC_ID, {"id": DOC_ID, "topics": found})
        hub.touch(COLLECTION)


def stored(hub: Hub) -> dict[str, str]:
    """The stored asset → topic map (memoised per process until the next save in any process)."""

    def load() -> dict[str, str]:
        doc = hub.store.get_doc(COLLECTION, DOC_ID)
        return dict(doc.get("topics") or {}) if doc else {}

    return doccache.cached(hub, COLLECTION, DOC_ID, load)


def topic_text(doc: dict[str, Any]) -> str:
    """What names a topic: the title, the editors' tags and the body."""
    return " ".join(p for p in (doc.get("title") or "", " ".join(doc.get("tags") or []), doc.get("body") or "") if p)
