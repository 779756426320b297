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
2. ``discover``: each asset's spread e5 vector beside its spread keyword vector (TF-IDF of its words,
   reduced by LSA), cut into topics by spectral clustering of a mutual nearest-neighbour graph with k at the
   eigengap (``choose_k``), fitted on a seeded sample so it is deterministic and bounded in cost, then
   corrected by the editors' tags where they are clear (``tag_hints``). Each
   cluster is named by its most distinctive keywords: words (jieba for Chinese, whitespace words
   otherwise) whose share of the cluster's assets most exceeds their share of the whole library.

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
from scipy import sparse
from scipy.sparse.csgraph import laplacian
from scipy.sparse.linalg import eigsh
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from contenthub import doccache
from contenthub.hub import Hub

COLLECTION = "topics"
DOC_ID = "assignments"
K_MAX = 40
"""At most this many topics (and at most one per ``MIN_TOPIC_ASSETS`` assets)."""
MIN_TOPIC_ASSETS = 4
NEIGHBOURS = 15
"""Nearest neighbours each asset looks at for the (mutual) graph the topics are cut from: more than the 10 of the
symmetrised graph this replaced, as a mutual graph keeps fewer of them (with 10, a format's stock phrase split a
topic of the equal-size test library; bench/RESULTS.md, fifth round)."""
SPLIT_TOLERANCE = 0.3
"""A larger k wins when its eigengap is within this share of the largest (prefer splitting to merging)."""
KEYWORD_DIMS = 100
"""Dimensions the keyword TF-IDF is reduced to before it joins the e5 vector."""
TAG_CARRIERS = 2
"""An editors' tag counts as a hint about topics once at least this many assets carry it."""
TAG_CONCENTRATION = 0.8
"""A tag names one topic when at least this share of its carriers sit together (in one topic, or two merged)."""
DENSE_EIGEN = 600
"""Up to this many assets the Laplacian is decomposed densely; above, by Lanczos (scipy's eigsh)."""
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


def neighbour_graph(x: np.ndarray, neighbours: int = NEIGHBOURS) -> sparse.csr_matrix:
    """The mutual ``neighbours``-nearest-neighbour graph by cosine: two assets are linked, weighted by their
    cosine, when each is among the other's nearest; a one-way link weighs next to nothing (1e-6, as does a
    link of cosine ≤ 0 — across topics, between spread vectors), which keeps the graph connected.

    Why mutual: an asset of a topic with fewer than ``neighbours`` other assets must take its remaining
    nearest from another topic, and a symmetrised graph kept those links at full weight, so a topic of 9
    assets among topics of 60 was tied to its nearest neighbour topic and merged with it; the other topic's
    assets have closer neighbours of their own, so those links are one-way and drop out (von Luxburg 2007,
    §2.2 and §8.1: the mutual graph does not join regions of different density)."""
    n = x.shape[0]
    nn = min(neighbours, n - 1)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    idx = np.argpartition(-sim, nn - 1, axis=1)[:, :nn]
    rows = np.repeat(np.arange(n), nn)
    cols = idx.ravel()
    a = sparse.csr_matrix((np.maximum(sim[rows, cols], 0.0) + 1e-6, (rows, cols)), shape=(n, n))
    mutual = a.minimum(a.T)
    linked = a.maximum(a.T)
    return (mutual + (linked - mutual).sign() * 1e-6).tocsr()


def spectrum(a: sparse.csr_matrix, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` smallest eigenvalues (ascending) and eigenvectors of the graph's normalised Laplacian."""
    lap = laplacian(a, normed=True)
    n = a.shape[0]
    if n <= DENSE_EIGEN:
        vals, vecs = np.linalg.eigh(lap.toarray())
        return vals[:count], vecs[:, :count]
    # The smallest of L = I − S are the largest of S = D^-½ A D^-½; Lanczos finds those fast and a fixed
    # start vector keeps the result the same in every process.
    s = sparse.identity(n, format="csr") - lap
    vals, vecs = eigsh(s, k=count, which="LA", v0=np.ones(n))
    order = np.argsort(-vals)
    return 1.0 - vals[order], vecs[:, order]


def choose_k(x: np.ndarray, seed: int = SEED) -> tuple[int, np.ndarray]:
    """(k, per-row cluster label) of ``x`` (unit rows) by the eigengap of its nearest-neighbour graph.

    Why not the silhouette of k-means (what this did before): with topics of unequal size and two topics
    closer to each other than to the rest, the best silhouette is often the k that merges them — measured
    by ``bench/topics.py`` on libraries with known topics, where an asset's nearest neighbours share its topic
    ~99% of the time and yet k-means + silhouette merged a true topic in about half of them. A merged topic
    cannot be learned (every user gets one rate for both); the neighbour graph keeps them apart because
    topics are nearly disconnected in it, which the gap after the k-th smallest Laplacian eigenvalue shows
    (spectral clustering, von Luxburg 2007, §8.3). Among gaps within ``SPLIT_TOLERANCE`` of the largest the
    largest k wins: a split topic only needs more evidence, a merged one is lost.
    """
    n = x.shape[0]
    k_max = max(2, min(K_MAX, n // MIN_TOPIC_ASSETS, n - 2))
    graph = neighbour_graph(x)
    vals, vecs = spectrum(graph, k_max + 1)
    gaps = np.diff(vals)  # gaps[i]: between the (i+1)-th and (i+2)-th smallest, i.e. after k = i + 1
    ks = np.arange(1, gaps.size + 1)
    allowed = ks >= 2
    if not allowed.any():
        return 1, np.zeros(n, dtype=np.int64)
    best = float(gaps[allowed].max())
    k = int(ks[allowed & (gaps >= best * (1.0 - SPLIT_TOLERANCE))].max())
    emb = vecs[:, :k]
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(emb).labels_.astype(np.int64)
    return int(labels.max()) + 1, labels


def tag_hints(labels: np.ndarray, tags: list[list[str]], x: np.ndarray) -> np.ndarray:
    """Labels corrected by the editors' tags, where they say something clear: topics whose most carried tag
    is the same tag, which they hold between them (``TAG_CONCENTRATION`` of its carriers), merge; a topic
    holding most carriers of two or more tags that seldom share an asset splits, each tag's carriers a part
    and every other asset of it joining the part whose centre (of ``x``) is nearest.

    Why: about half the assets of a real library carry their topic as a tag, and the tags decide the cases
    the vectors cannot — topics of 6–9 assets, whose spread vectors share the one direction left after the
    large topics' mean is taken away, fall together into one cluster (护眼 beside 汽车), and a large topic's
    inner structure can open gaps that split it. A tag spread over many topics (``干货``, ``福利``) is no
    hint: it is never concentrated. A library without tags keeps the clustering's labels."""
    labels = labels.copy()
    carriers: dict[str, set[int]] = {}
    for i, ts in enumerate(tags):
        for t in set(ts):
            carriers.setdefault(t, set()).add(i)
    hints = {t: np.array(sorted(c)) for t, c in carriers.items() if len(c) >= TAG_CARRIERS}
    if not hints:
        return labels
    names = sorted(hints)

    def counts() -> np.ndarray:  # counts[t, c]: carriers of tag t in topic c
        k = int(labels.max()) + 1
        return np.stack([np.bincount(labels[hints[t]], minlength=k) for t in names])

    # merge: topics led by the same tag that holds its carriers between them
    held = counts()
    sizes = np.bincount(labels, minlength=held.shape[1])
    lead = held.argmax(axis=0)
    for ti in range(len(names)):
        led = np.flatnonzero((lead == ti) & (held[ti] >= np.maximum(TAG_CARRIERS, 0.25 * sizes)))
        if led.size >= 2 and held[ti, led].sum() >= TAG_CONCENTRATION * hints[names[ti]].size:
            labels[np.isin(labels, led)] = led[0]
    _, labels = np.unique(labels, return_inverse=True)
    # split: a topic holding most carriers of two or more tags that seldom go together
    held = counts()
    for c in range(held.shape[1]):
        members = np.flatnonzero(labels == c)
        chosen: list[np.ndarray] = []
        for ti in np.argsort(-held[:, c], kind="stable").tolist():
            t = names[ti]
            if held[ti, c] < TAG_CARRIERS or held[ti, c] < TAG_CONCENTRATION * hints[t].size:
                break
            own = hints[t][labels[hints[t]] == c]
            if all(np.intersect1d(own, o).size * 2 < min(own.size, o.size) for o in chosen):
                chosen.append(own)
        if len(chosen) < 2:
            continue
        centres = np.stack([x[o].mean(axis=0) for o in chosen])
        part = (x[members] @ centres.T).argmax(axis=1)
        for p, own in enumerate(chosen):  # a tag's carriers stay with their tag (those of two: nearest)
            alone = np.setdiff1d(own, np.concatenate([o for q, o in enumerate(chosen) if q != p]))
            part[np.searchsorted(members, alone)] = p
        first = int(labels.max()) + 1
        labels[members[part > 0]] = first + part[part > 0] - 1
    return labels.astype(np.int64)


def name_topics(labels: np.ndarray, docs: list[set[str]], k: int) -> list[str]:
    """A distinct name per cluster from its ``KEYWORDS`` most distinctive words (lift of document share,
    smoothed so a word of one asset does not win), ``topic-<i>`` when a cluster has no words. ``docs``: each
    asset's ``words``."""
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


def keyword_vectors(
    docs: list[set[str]], fit: np.ndarray, groups: list[str | None] | None, seed: int = SEED
) -> np.ndarray:
    """Each asset's keywords as a unit vector: TF-IDF over its ``words`` (fitted on the ``fit`` rows, words of
    at least two assets), reduced to at most ``KEYWORD_DIMS`` dimensions by truncated SVD (latent semantic
    analysis) and spread like the e5 vectors (``spread``, per content type), so a format's stock phrases
    cancel as they do there. Zero rows when the library has too few shared words."""
    n = len(docs)
    tfidf = TfidfVectorizer(analyzer=sorted, min_df=2, sublinear_tf=True)
    try:
        tfidf.fit([docs[i] for i in fit.tolist()])
    except ValueError:  # no word is shared by two assets
        return np.zeros((n, 0), dtype=np.float32)
    m = tfidf.transform(docs)
    dims = min(KEYWORD_DIMS, m.shape[1] - 1, fit.size - 1)
    if dims < 2:
        return np.zeros((n, 0), dtype=np.float32)
    svd = TruncatedSVD(dims, random_state=seed).fit(m[fit])
    z = svd.transform(m).astype(np.float32)
    return spread(z, np.ones(n, dtype=bool), groups)


def discover(
    vectors: np.ndarray,
    present: np.ndarray,
    texts: list[str],
    groups: list[str | None] | None = None,
    seed: int = SEED,
    tags: list[list[str]] | None = None,
) -> Topics:
    """Topics of a library of spread vectors (``spread``), the texts that name them and each asset's content
    type (``groups``, as given to ``spread``).

    What is clustered is each asset's spread e5 vector beside its spread keyword vector (``keyword_vectors``),
    each of unit length: the model's sense of the text and the library's own distinctive words are two views of
    the topic, and the words are what names it. Measured by ``bench/topics.py`` (libraries with known topics),
    the two together split and merged fewer true topics than either alone (see bench/RESULTS.md)."""
    n = vectors.shape[0]
    of_row = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(present)
    if rows.size < MIN_ASSETS:
        return Topics(of_row=of_row, names=[], centres=np.zeros((0, vectors.shape[1]), dtype=np.float32))
    rng = np.random.default_rng(seed)
    fit = np.arange(rows.size) if rows.size <= FIT_SAMPLE else np.sort(rng.choice(rows.size, FIT_SAMPLE, replace=False))
    docs = [words(texts[i]) for i in rows.tolist()]
    kept_groups = [groups[i] for i in rows.tolist()] if groups is not None else None
    x = np.hstack([vectors[rows], keyword_vectors(docs, fit, kept_groups, seed)])
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    k, fit_labels = choose_k(x[fit], seed)
    centres = np.stack([x[fit][fit_labels == c].mean(axis=0) for c in range(k)])
    labels = (x @ centres.T).argmax(axis=1)
    labels[fit] = fit_labels  # the clustering's own labels; the rest go to the nearest centre
    if tags is not None:
        labels = tag_hints(labels, [list(tags[i] or []) for i in rows.tolist()], x)
        k = int(labels.max()) + 1
    of_row[rows] = labels
    names = name_topics(labels, docs, k)
    e5_centres = np.stack([vectors[rows][labels == c].mean(axis=0) for c in range(k)])
    e5_centres /= np.maximum(np.linalg.norm(e5_centres, axis=1, keepdims=True), 1e-9)
    return Topics(of_row=of_row, names=names, centres=e5_centres.astype(np.float32))


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
