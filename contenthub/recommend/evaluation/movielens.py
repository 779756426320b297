"""`contenthub eval movielens DIR`: the DESIGN.md protocol on ml-latest-small, ours against peers.

Ours runs through the real pipeline: every movie becomes an approved asset on one channel (title
embedded with the configured model; genres and train-period user tags as asset tags), every train
rating becomes engagement events ingested with ``events.ingest`` into a temporary SQLite hub, and
each evaluated user is ranked by the production scoring code (``offline.rank_for_evaluation``) over
exactly the protocol's candidates. The peers (popularity, item-kNN, implicit ALS and BPR) learn from
the same split's train positives. Our tuning happens on a validation split carved from train the same
way (``split="validation"``), never on the test split; ALS's best-of-grid is chosen on the split being
reported, which can only flatter the peer.

Rating → events (``EventMapping``), and why:
- every rating → ``delivered``: the movie reached the user; it feeds the per-channel quality
  posterior (share of deliveries that were engaged) exactly as a real delivery would;
- rating ≥ 4 → ``click`` (positive, weight 2): the protocol's own relevance threshold;
- 2.5–3.5 → nothing more: seen but lukewarm is a delivery without engagement. (Mapping it to ``open``,
  a weak positive, was tried on the validation split: feeding lukewarm ratings into the engagement
  model as positives cost about 0.01 NDCG@10.)
- ≤ 2 → ``mute`` (negative): "not for me" — subtracts from the user's tag weights and blocks the asset.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from contenthub.config import Settings
from contenthub.embeddings import Embedder, model_id_for
from contenthub.hub import Hub, open_hub
from contenthub.library.models import MAX_TAG_LEN, MAX_TAGS, Asset, clean_tags
from contenthub.library.service import asset_text
from contenthub.recommend import events, learning
from contenthub.recommend.catalog import catalog, refresh_now
from contenthub.recommend.evaluation import peers
from contenthub.recommend.evaluation.offline import rank_for_evaluation
from contenthub.recommend.evaluation.protocol import (
    POSITIVE_RATING,
    Ratings,
    Split,
    evaluate,
    split_ratings,
    top_k,
)
from contenthub.recommend.strategies import DEFAULTS, Strategy, put_strategy
from contenthub.timeutil import to_iso

CHANNEL = "app_push"  # no platform cap, so nothing but the ranking decides
NO_GENRE = "(no genres listed)"
INGEST_BATCH = 10000
ALS_GRID = tuple((f, r) for f in (32, 64, 128) for r in (0.01, 0.1))

# Tuned on the validation split (see bench/RESULTS.md), never on test: the engagement model alone gave
# NDCG@10 0.1405; a little tag affinity 0.1418; adding similarity, popularity or quality did not help.
MOVIELENS_STRATEGY = Strategy(
    id="movielens",
    description="Offline MovieLens tuning: the engagement model plus a little tag affinity; no exploration, no MMR.",
    weights={
        "similarity": 0.0,
        "affinity": 0.1,
        "collaborative": 1.0,
        "quality": 0.0,
        "popularity": 0.0,
        "freshness": 0.0,
        "lifecycle": 0.0,
    },
    exploration=False,
    diversity=1.0,
)
PRIOR_ID = "default-prior"
HALF_LIFE_DAYS = 30.0  # the production default; 3650 days gave the same validation NDCG@10


@dataclass(frozen=True)
class EventMapping:
    """Which engagement events one rating becomes (see the module docstring for the reasons)."""

    positive: tuple[str, ...] = ("click",)  # rating ≥ 4.0
    neutral: tuple[str, ...] = ()  # 2.5 – 3.5
    negative: tuple[str, ...] = ("mute",)  # ≤ 2.0
    delivered: bool = True  # every rating also is a delivery

    def types_for(self, rating: float) -> tuple[str, ...]:
        base = ("delivered",) if self.delivered else ()
        if rating >= POSITIVE_RATING:
            return base + self.positive
        if rating <= 2.0:
            return base + self.negative
        return base + self.neutral


@dataclass
class MovieLens:
    ratings: Ratings
    titles: dict[int, str]
    genres: dict[int, list[str]]
    tags: list[tuple[int, int, str, int]]  # (user, movie, tag, ts)

    @property
    def items(self) -> np.ndarray:
        return np.array(sorted(self.titles), dtype=np.int64)


@dataclass
class OursConfig:
    strategy: Strategy = field(default_factory=lambda: MOVIELENS_STRATEGY.model_copy(deep=True))
    mapping: EventMapping = field(default_factory=EventMapping)
    half_life_days: float = HALF_LIFE_DAYS


# --- data -------------------------------------------------------------------------------------


def load(directory: Path) -> MovieLens:
    """Read ratings.csv, movies.csv and tags.csv (read in place; nothing is copied)."""
    d = Path(directory)
    for name in ("ratings.csv", "movies.csv", "tags.csv"):
        if not (d / name).exists():
            raise FileNotFoundError(f"{d / name} is missing; DIR must be an unpacked ml-latest-small")
    cols: dict[str, list[Any]] = defaultdict(list)
    with (d / "ratings.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cols["user"].append(int(row["userId"]))
            cols["item"].append(int(row["movieId"]))
            cols["rating"].append(float(row["rating"]))
            cols["ts"].append(int(row["timestamp"]))
    ratings = Ratings(
        np.array(cols["user"], dtype=np.int64),
        np.array(cols["item"], dtype=np.int64),
        np.array(cols["rating"], dtype=np.float64),
        np.array(cols["ts"], dtype=np.int64),
    )
    titles: dict[int, str] = {}
    genres: dict[int, list[str]] = {}
    with (d / "movies.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            m = int(row["movieId"])
            titles[m] = row["title"].strip()
            genres[m] = [g for g in row["genres"].split("|") if g and g != NO_GENRE]
    tags: list[tuple[int, int, str, int]] = []
    with (d / "tags.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            tags.append((int(row["userId"]), int(row["movieId"]), row["tag"], int(row["timestamp"])))
    return MovieLens(ratings=ratings, titles=titles, genres=genres, tags=tags)


def make_split(ml: MovieLens, which: str) -> Split:
    """``test``: the protocol's split. ``validation``: the same rule applied again to its train part."""
    split = split_ratings(ml.ratings)
    if which == "test":
        return split
    if which == "validation":
        return split_ratings(split.train)
    raise ValueError(f"split must be 'test' or 'validation', not {which!r}")


def train_period_tags(ml: MovieLens, split: Split) -> dict[int, list[str]]:
    """User tags a movie got during its tagger's train period: at or before the tagger's last train
    rating, and never on a movie that is in the tagger's held-out part (that would leak the answer)."""
    last_train: dict[int, int] = {}
    for u, t in zip(split.train.user.tolist(), split.train.ts.tolist(), strict=True):
        last_train[u] = max(t, last_train.get(u, t))
    held_out = set(zip(split.test.user.tolist(), split.test.item.tolist(), strict=True))
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for u, m, tag, ts in ml.tags:
        if u in last_train and ts <= last_train[u] and (u, m) not in held_out:
            t = " ".join(tag.lower().split())
            if t and len(t) <= MAX_TAG_LEN:
                counts[m][t] += 1
    return {m: [t for t, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))] for m, c in counts.items()}


def asset_id(movie: int) -> str:
    return f"ml{movie:06d}"  # zero-padded: string order is movie id order, so ties break the same way


def user_id(user: int) -> str:
    return f"ml-u{user}"


def asset_docs(ml: MovieLens, tags_by_movie: dict[int, list[str]], *, created_at: str) -> list[dict[str, Any]]:
    """One approved video asset per movie on CHANNEL: genres first, then train-period tags (most used first)."""
    docs = []
    for m in sorted(ml.titles):
        seen = {g.lower() for g in ml.genres[m]}
        extra = [t for t in tags_by_movie.get(m, []) if t not in seen]
        tags = clean_tags((ml.genres[m] + extra)[:MAX_TAGS])
        docs.append(
            Asset(
                id=asset_id(m),
                title=ml.titles[m][:200],
                kind="video",
                content_type="entertainment",
                channels=[CHANNEL],
                tags=tags,
                status="approved",
                created_by="movielens",
                created_at=created_at,
                updated_by="movielens",
                updated_at=created_at,
            ).model_dump()
        )
    return docs


# --- vectors ------------------------------------------------------------------------------------


class VectorCache:
    """Passage vectors on disk keyed by (model id, sha1 of the exact text), so reruns skip the model."""

    def __init__(self, directory: Path, model_id: str) -> None:
        self.path = Path(directory) / f"vectors-{model_id}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as z:
                self.vectors = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def missing(self, texts: Sequence[str]) -> list[str]:
        return list(dict.fromkeys(t for t in texts if self.key(t) not in self.vectors))

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        for t, v in zip(texts, vectors, strict=True):
            self.vectors[self.key(t)] = np.asarray(v, dtype=np.float32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]))
        tmp.replace(self.path)

    def get(self, text: str) -> np.ndarray:
        return self.vectors[self.key(text)]


def embed_texts(hub: Hub, texts: Sequence[str], cache: VectorCache, progress: bool = False) -> np.ndarray:
    todo = cache.missing(texts)
    if todo:
        cache.add(todo, hub.embedder.encode_passages(todo, batch_size=64, progress=progress))
    return np.stack([cache.get(t) for t in texts])


# --- engagement ---------------------------------------------------------------------------------


def rating_events(train: Ratings, mapping: EventMapping) -> Iterator[dict[str, Any]]:
    """Train ratings as engagement events, oldest first (ids are stable, so re-ingesting is harmless)."""
    order = np.lexsort((train.item, train.ts))
    for r in order.tolist():
        u, m, ts = int(train.user[r]), int(train.item[r]), int(train.ts[r])
        when = to_iso(datetime.fromtimestamp(ts, UTC))
        for etype in mapping.types_for(float(train.rating[r])):
            yield {
                "id": f"ml-{u}-{m}-{etype}",
                "type": etype,
                "user_id": user_id(u),
                "asset_id": asset_id(m),
                "channel": CHANNEL,
                "ts": when,
            }


def ingest_all(hub: Hub, evs: Iterator[dict[str, Any]]) -> dict[str, int]:
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        res = events.ingest(hub, batch)
        totals["accepted"] += res.accepted
        totals["duplicates"] += res.duplicates
        totals["rejected"] += len(res.rejected)
        if res.rejected:
            raise RuntimeError(f"ingestion rejected events, first: {res.rejected[0].reason}")
        batch.clear()

    for ev in evs:
        batch.append(ev)
        if len(batch) >= INGEST_BATCH:
            flush()
    if batch:
        flush()
    return totals


# --- the run ------------------------------------------------------------------------------------


def build_hub(
    ml: MovieLens,
    split: Split,
    work_dir: Path,
    cfg: OursConfig,
    *,
    embedder: Embedder | None = None,
    progress: bool = False,
    timings: dict[str, float] | None = None,
) -> Hub:
    """A fresh SQLite hub holding the movies as assets and the split's train ratings as events."""
    timings = timings if timings is not None else {}
    hub_dir = Path(work_dir) / "hub"
    shutil.rmtree(hub_dir, ignore_errors=True)
    settings = Settings(
        data_dir=hub_dir,
        profile_half_life_days=cfg.half_life_days,
        session_secret="eval",
        phone_salt="eval",
        learn_every_events=0,
    )  # learning runs once, below: deterministic
    hub = open_hub(settings, embedder=embedder)
    model_id = embedder.model_id if embedder is not None else model_id_for(settings.model_path)
    started = time.perf_counter()
    docs = asset_docs(ml, train_period_tags(ml, split), created_at=to_iso(datetime(2000, 1, 1, tzinfo=UTC)))
    cache = VectorCache(Path(work_dir), model_id)
    vecs = embed_texts(hub, [asset_text(d) for d in docs], cache, progress=progress)
    timings["embed_s"] = time.perf_counter() - started
    for i in range(0, len(docs), 2000):
        hub.store.put_assets(docs[i : i + 2000])
    hub.store.put_vectors(model_id, {d["id"]: v for d, v in zip(docs, vecs, strict=True)})
    hub.touch("assets")
    started = time.perf_counter()
    catalog(hub)  # the library's topics are found (and stored for ingestion) before the events arrive
    timings["topics_s"] = time.perf_counter() - started
    started = time.perf_counter()
    totals = ingest_all(hub, rating_events(split.train, cfg.mapping))
    timings["ingest_s"] = time.perf_counter() - started
    timings["events"] = totals["accepted"]
    started = time.perf_counter()
    refresh_now(hub)
    timings["catalog_s"] = time.perf_counter() - started
    put_strategy(hub, cfg.strategy)
    # What a brand runs: the built-in default after the product's own learning job ran on these events
    # (the prior is kept as "default-prior" to show what learning changed).
    put_strategy(hub, DEFAULTS["default"].model_copy(update={"id": PRIOR_ID}))
    started = time.perf_counter()
    learned = learning.learn(hub, "default")
    timings["learn_s"] = time.perf_counter() - started
    hub.cache["movielens.learning"] = learned.to_dict()
    return hub


def ours_ranker(hub: Hub, split: Split, strategy: str, items: np.ndarray) -> Callable[[int, np.ndarray], list[int]]:
    """``rank(user, candidate movies)`` through the production ranking, asked right after the user's
    last train rating (so recency is measured from the user's own moment, not from today)."""
    last: dict[int, int] = {}
    for u, t in zip(split.train.user.tolist(), split.train.ts.tolist(), strict=True):
        last[u] = max(t, last.get(u, t))
    ids = np.array([asset_id(int(m)) for m in items], dtype=object)

    def rank(u: int, cands: np.ndarray) -> list[int]:
        now = datetime.fromtimestamp(last.get(u, 0) + 1, UTC)
        top = rank_for_evaluation(
            hub, user_id(u), CHANNEL, ids[np.searchsorted(items, cands)].tolist(), n=10, strategy=strategy, now=now
        )
        return [int(a[2:]) for a in top]

    return rank


def positives_matrix(train: Ratings, items: np.ndarray) -> tuple[sparse.csr_matrix, dict[int, int]]:
    users = np.unique(train.user)
    urow = {int(u): i for i, u in enumerate(users.tolist())}
    icol = {int(m): j for j, m in enumerate(items.tolist())}
    keep = train.rating >= POSITIVE_RATING
    rows = [urow[int(u)] for u in train.user[keep]]
    cols = [icol[int(m)] for m in train.item[keep]]
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(users.size, items.size))
    x.data[:] = 1.0
    return x, urow


def matrix_ranker(
    scores: np.ndarray, urow: dict[int, int], items: np.ndarray
) -> Callable[[int, np.ndarray], list[int]]:
    """``rank(user, candidates)`` from a (users × items) score matrix whose columns follow sorted ``items``."""

    def rank(u: int, cands: np.ndarray) -> list[int]:
        row = scores[urow[u]] if u in urow else np.zeros(items.size)
        return top_k(cands, row[np.searchsorted(items, cands)])

    return rank


def run_peers(split: Split, items: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    x, urow = positives_matrix(split.train, items)
    out: dict[str, Any] = {}

    def measure(name: str, make: Callable[[], np.ndarray], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        scores = make()
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        res = evaluate(matrix_ranker(scores, urow, items), split, items)
        return {**res, **(extra or {}), "fit_s": round(fit_s, 2), "rank_s": round(time.perf_counter() - started, 2)}

    out["popularity"] = measure("popularity", lambda: peers.popularity(x))
    out["item_knn"] = measure("item_knn", lambda: peers.item_knn(x))
    grid = []
    for f, reg in ALS_GRID:
        grid.append(
            measure(
                "als",
                functools.partial(peers.als, x, factors=f, regularization=reg, seed=seed),
                {"factors": f, "regularization": reg},
            )
        )
    best = max(grid, key=lambda r: r["ndcg@10"])
    out["als"] = {
        **best,
        "grid": [{k: r[k] for k in ("factors", "regularization", "ndcg@10", "recall@10")} for r in grid],
    }
    out["bpr"] = measure("bpr", lambda: peers.bpr(x, factors=64, iterations=100, seed=seed), {"factors": 64})
    return out


def run(
    directory: Path,
    work_dir: Path,
    *,
    split_name: str = "test",
    cfg: OursConfig | None = None,
    with_peers: bool = True,
    extra_strategies: Sequence[str] = ("default",),
    embedder: Embedder | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The whole protocol; returns the JSON-ready report."""
    cfg = cfg or OursConfig()
    started_all = time.perf_counter()
    ml = load(directory)
    split = make_split(ml, split_name)
    items = ml.items
    timings: dict[str, float] = {}
    hub = build_hub(ml, split, Path(work_dir), cfg, embedder=embedder, progress=progress, timings=timings)
    try:
        results: dict[str, Any] = {}
        for strat in (cfg.strategy.id, *[s for s in extra_strategies if s != cfg.strategy.id]):
            started = time.perf_counter()
            res = evaluate(ours_ranker(hub, split, strat, items), split, items)
            name = "ours" if strat == cfg.strategy.id else f"ours[{strat}]"
            results[name] = {**res, "strategy": strat, "rank_s": round(time.perf_counter() - started, 2)}
        learning_report = hub.cache.get("movielens.learning")
    finally:
        hub.close()
    if with_peers:
        results.update(run_peers(split, items))
    ours = results["ours"]["ndcg@10"]
    peer_names = [k for k in ("popularity", "item_knn", "als", "bpr") if k in results]
    return {
        "protocol": "DESIGN.md MovieLens: per-user (timestamp, movieId) sort, last ceil(20%) test, positives >= 4.0, "
        "candidates = movies without a train rating, binary NDCG@10 / Recall@10 (denominator min(10, |P|))",
        "split": split_name,
        "data": {
            "dir": str(directory),
            "ratings": len(ml.ratings),
            "movies": int(items.size),
            "train_ratings": len(split.train),
            "test_ratings": len(split.test),
            "evaluated_users": len(split.positives()),
        },
        "ours_config": {
            "strategy": cfg.strategy.model_dump(),
            "events": asdict(cfg.mapping),
            "half_life_days": cfg.half_life_days,
            "channel": CHANNEL,
        },
        "results": {
            k: {m: (round(v, 4) if isinstance(v, float) else v) for m, v in r.items()} for k, r in results.items()
        },
        "ours_above_every_peer": all(ours > results[p]["ndcg@10"] for p in peer_names) if peer_names else None,
        "default_above_every_peer": (
            all(results["ours[default]"]["ndcg@10"] > results[p]["ndcg@10"] for p in peer_names)
            if peer_names and "ours[default]" in results
            else None
        ),
        "learning": learning_report,
        "timings_s": {
            **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in timings.items()},
            "total_s": round(time.perf_counter() - started_all, 1),
        },
    }


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
