"""Topic discovery on libraries with known topics: how many true topics come back, merged or split.

Libraries are written by the simulator's generator (`bench/sim_world.py`, the same templates and
vocabulary the deployment simulation serves) with several seeds, several true topic counts (a subset of
its topics, or its topics plus the extra vocabularies below) and several library sizes, embedded with the
hub's model (`library.service.asset_text`, e5 passages) and run through the code under test exactly as the
catalog runs it (`topics.spread` per content type, then `topics.discover`).

Printed JSON, per library and summed per true topic count:
- ``found``: discovered topics; ``recovered``: true topics that are the majority of some discovered topic;
- ``merged``: true topics with no discovered topic of their own (the majority of the discovered topic
  holding most of their assets is another true topic) — a merged topic cannot be learned;
- ``split``: discovered topics beyond one per recovered true topic (more evidence needed, still learnable);
- ``ari`` / ``nmi``: adjusted Rand index / normalised mutual information of discovered vs true topics;
- ``nn_topic`` / ``nn_type``: share of an asset's 5 nearest neighbours (cosine, spread vectors) sharing its
  true topic / its content type (issue 18 item 2).

Configurations (``--configs``), each run on the tuning seeds (``--seeds``) and, separately reported, on
held-out seeds (``--heldout-seeds``, never looked at while choosing the method):
- ``balanced``: the grid above (``--topics`` × ``--sizes``), topic shares drawn by the simulator (Dirichlet 4);
- ``small``: small topics among large ones — 9 topics, three of 40–70 assets, three of 20–35, three of 6–12;
- ``unequal``: very unequal sizes — 6 topics, halving from 100–140 assets down to 6–9;
- ``synthetic``: no model — Gaussian vector clusters of 60/40/25/15/10/8 assets, two of them near each other,
  two topic words per text (the case that over-split to 11–14 topics in the fourth round).
The ``small`` and ``unequal`` libraries are each topic's assets written by the simulator's generator on its own
(one vocabulary per call), joined.

Vectors are cached per text under ``--cache`` (keyed by the model name and the sha1 of the text).

    PYTHONPATH=. python bench/topics.py [--configs balanced,small,unequal,synthetic] [--seeds 1,2,3]
        [--heldout-seeds 101,102,103] [--topics 5,8,12] [--sizes 150,250,400]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sim_world  # noqa: E402

from contenthub.embeddings import load_embedder, model_id_for  # noqa: E402
from contenthub.library.service import asset_text  # noqa: E402
from contenthub.recommend import topics  # noqa: E402

# Extra topics (tag, vocabulary) so a library can hold more true topics than the simulator's own.
EXTRA_TOPICS: list[tuple[str, str, list[str]]] = [
    (
        "money",
        "理财",
        ["基金定投", "存款利率", "记账", "信用卡", "理财产品", "养老金", "保险", "复利", "股票", "预算"],
    ),
    (
        "travel",
        "旅行",
        ["自驾游", "机票", "民宿", "行李箱", "签证", "景点", "攻略路线", "露营", "酒店", "古镇"],
    ),
    (
        "bake",
        "烘焙",
        ["面包", "烤箱", "黄油", "低筋面粉", "戚风蛋糕", "酵母", "曲奇", "奶油", "打发", "吐司"],
    ),
    (
        "garden",
        "园艺",
        ["多肉", "绿萝", "盆栽", "浇水", "花盆", "施肥", "阳台种菜", "月季", "土壤", "修剪"],
    ),
    (
        "car",
        "汽车",
        ["新能源车", "充电桩", "保养", "轮胎", "车险", "续航", "驾照", "洗车", "油耗", "行车记录仪"],
    ),
]
MODEL = Path("models/multilingual-e5-small")


class Cache:
    """Vectors by sha1 of the text, stored in one npz."""

    def __init__(self, path: Path, model_id: str) -> None:
        self.path = path
        self.model_id = model_id
        self.vec: dict[str, np.ndarray] = {}
        if path.exists():
            z = np.load(path, allow_pickle=False)
            if str(z["model"]) == model_id:
                self.vec = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def get(self, texts: list[str], encode: Any) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self.vec}.items())
        if todo:
            vecs = encode([t for _, t in todo])
            for (k, _), v in zip(todo, vecs, strict=True):
                self.vec[k] = np.asarray(v, dtype=np.float32)
            self.save()
        return np.stack([self.vec[k] for k in keys])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.vec)
        np.savez(self.path, model=self.model_id, keys=np.array(keys), vectors=np.stack([self.vec[k] for k in keys]))


def library(seed: int, n_topics: int, n_assets: int) -> sim_world.World:
    """A simulator library with ``n_topics`` true topics (its own first, then the extra vocabularies; which
    of its own are kept depends on the seed, so a subset is not always the same one)."""
    own = list(sim_world.TOPICS)
    rng = np.random.default_rng([seed, n_topics, 7])
    pool = [own[i] for i in rng.permutation(len(own))] + EXTRA_TOPICS
    saved = sim_world.TOPICS
    sim_world.TOPICS = pool[:n_topics]
    try:
        return sim_world.make_world(seed * 1000 + n_topics, n_assets, 1)
    finally:
        sim_world.TOPICS = saved


@dataclass
class Library:
    """What ``measure`` reads of a world: the assets (hub import lines), true topic and content type per asset."""

    assets: list[dict[str, Any]]
    topic: np.ndarray
    ctype: np.ndarray


def sized_library(seed: int, sizes: list[int]) -> Library:
    """A library whose topics have exactly ``sizes`` assets: each topic's assets written by the simulator's
    generator with that topic's vocabulary alone, joined (which vocabularies, in which order, depends on the
    seed)."""
    rng = np.random.default_rng([seed, len(sizes), 11])
    pool = list(sim_world.TOPICS) + EXTRA_TOPICS
    pool = [pool[i] for i in rng.permutation(len(pool))]
    saved = sim_world.TOPICS
    assets: list[dict[str, Any]] = []
    topic: list[int] = []
    ctype: list[int] = []
    try:
        for t, size in enumerate(sizes):
            sim_world.TOPICS = [pool[t], pool[t]]  # twice: the generator's users need a second topic to like
            world = sim_world.make_world(seed * 1000 + t, size, 1)
            for i, d in enumerate(world.assets):
                assets.append({**d, "id": f"t{t:02d}a{i:04d}"})
            topic += [t] * size
            ctype += world.ctype.tolist()
    finally:
        sim_world.TOPICS = saved
    order = rng.permutation(len(assets))  # the library is not stored topic by topic
    return Library([assets[i] for i in order], np.array(topic)[order], np.array(ctype)[order])


def small_sizes(seed: int) -> list[int]:
    """Three topics of 40–70 assets, three of 20–35, three of 6–12."""
    rng = np.random.default_rng([seed, 21])
    return [int(v) for v in [*rng.integers(40, 71, 3), *rng.integers(20, 36, 3), *rng.integers(6, 13, 3)]]


def unequal_sizes(seed: int) -> list[int]:
    """Six topics halving in size: from 100–140 assets down to 6–9."""
    rng = np.random.default_rng([seed, 22])
    top = int(rng.integers(100, 141))
    return [max(6, int(round(top / 2**i * rng.uniform(0.85, 1.15)))) for i in range(6)]


SYNTHETIC_WORDS = [list(v) for v in ("ABCDEF", "GHIJKL", "MNOPQR", "STUVWX", "abcdef", "ghijkl")]
PHRASES = ["限时优惠", "新手入门指南", "用户故事", "一文讲清楚", "会员价", "真实经历"]


def synthetic(seed: int, sizes: tuple[int, ...] = (60, 40, 25, 15, 10, 8), dim: int = 48) -> tuple[Library, np.ndarray]:
    """Gaussian vector clusters (no model), topics 0 and 1 near each other; each text holds two of its topic's
    words (Chinese words of ``tests/test_recommend_topics.py``'s kind are not needed: any shared token names it)."""
    rng = np.random.default_rng([seed, 23])
    centres = rng.normal(size=(len(sizes), dim))
    centres[1] = centres[0] + 0.6 * rng.normal(size=dim)
    assets: list[dict[str, Any]] = []
    truth: list[int] = []
    vecs: list[np.ndarray] = []
    vocab = [[f"词{w}{t}号" for w in SYNTHETIC_WORDS[t]] for t in range(len(sizes))]
    for t, size in enumerate(sizes):
        for _ in range(size):
            a, b = rng.choice(vocab[t], 2, replace=False)
            assets.append({"id": f"s{len(assets)}", "title": f"{rng.choice(PHRASES)}：{a}和{b}", "content_type": None})
            truth.append(t)
            vecs.append(centres[t] + 0.5 * rng.normal(size=dim))
    v = np.array(vecs, dtype=np.float32)
    return Library(assets, np.array(truth), np.zeros(len(assets), dtype=np.int64)), v / np.linalg.norm(
        v, axis=1, keepdims=True
    )


def neighbour_share(x: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1)[:, :k]
    return float((labels[nn] == labels[:, None]).mean())


def measure(world: sim_world.World | Library, vectors: np.ndarray) -> dict[str, Any]:
    docs = world.assets
    n = len(docs)
    present = np.ones(n, dtype=bool)
    types = [d.get("content_type") for d in docs]
    x = topics.spread(vectors, present, types)
    t0 = time.perf_counter()
    texts = [topics.topic_text(d) for d in docs]
    # the content types go in where the code under test takes them (main before this round did not)
    takes = inspect.signature(topics.discover).parameters
    extra: dict[str, Any] = {"groups": types} if "groups" in takes else {}
    if "tags" in takes:  # the editors' tags, where the code under test takes them (main before this round did not)
        extra["tags"] = [d.get("tags") or [] for d in docs]
    found = topics.discover(x, present, texts, **extra)
    seconds = time.perf_counter() - t0
    labels = found.of_row
    truth = world.topic
    k_true = int(len(set(truth.tolist())))
    k_found = len(found.names)
    majority = {}
    for c in range(k_found):
        members = truth[labels == c]
        if members.size:
            majority[c] = int(np.bincount(members).argmax())
    recovered = set(majority.values())
    merged = 0
    for t in set(truth.tolist()):
        home = int(np.bincount(labels[truth == t], minlength=max(k_found, 1)).argmax())
        if majority.get(home) != t:
            merged += 1
    return {
        "true": k_true,
        "found": k_found,
        "recovered": len(recovered),
        "merged": merged,
        "split": k_found - len(recovered),
        "ari": round(float(adjusted_rand_score(truth, labels)), 4),
        "nmi": round(float(normalized_mutual_info_score(truth, labels)), 4),
        "nn_topic": round(neighbour_share(x, truth), 4),
        "nn_type": round(neighbour_share(x, world.ctype), 4),
        "seconds": round(seconds, 3),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration (and per true topic count in the balanced grid), then over everything."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        key = f"balanced-{r['topics']}" if r["config"] == "balanced" else r["config"]
        groups.setdefault(key, []).append(r)
    groups["all"] = runs
    return {
        key: {
            "libraries": len(rs),
            "exact_k": sum(r["found"] == r["true"] for r in rs),
            "merged_topics": sum(r["merged"] for r in rs),
            "libraries_with_a_merge": sum(r["merged"] > 0 for r in rs),
            "extra_topics": sum(r["split"] for r in rs),
            "ari": round(float(np.mean([r["ari"] for r in rs])), 4),
            "nmi": round(float(np.mean([r["nmi"] for r in rs])), 4),
            "nn_topic": round(float(np.mean([r["nn_topic"] for r in rs])), 4),
            "nn_type": round(float(np.mean([r["nn_type"] for r in rs])), 4),
            "seconds": round(float(np.sum([r["seconds"] for r in rs])), 2),
        }
        for key, rs in groups.items()
        if rs
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="balanced,small,unequal,synthetic")
    ap.add_argument("--seeds", default="1,2,3", help="Tuning seeds.")
    ap.add_argument("--heldout-seeds", default="", help="Held-out seeds, reported apart (e.g. 101,102,103).")
    ap.add_argument("--topics", default="5,8,12", help="True topic counts (at most 8 + the extra vocabularies).")
    ap.add_argument("--sizes", default="150,250,400", help="Library sizes (assets).")
    ap.add_argument(
        "--sim-seeds",
        default="",
        help="Also the deployment simulator's own libraries (bench/simulate.py's worlds, 250 assets) of these seeds.",
    )
    ap.add_argument("--cache", default="/tmp/bench-topics/vectors.npz")
    ap.add_argument("--model", default=str(MODEL))
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    embedder = load_embedder(Path(args.model)) if set(configs) - {"synthetic"} or args.sim_seeds else None
    cache = Cache(Path(args.cache), model_id_for(Path(args.model)))

    def embedded(world: sim_world.World | Library) -> np.ndarray:
        assert embedder is not None
        return cache.get([asset_text(d) for d in world.assets], embedder.encode_passages)

    def run(seed: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []

        def add(config: str, k: int, world: sim_world.World | Library, vectors: np.ndarray) -> None:
            out.append({"config": config, "topics": k, "assets": len(world.assets), "seed": seed})
            out[-1].update(measure(world, vectors))
            print(json.dumps(out[-1], ensure_ascii=False), file=sys.stderr)

        for config in configs:
            if config == "balanced":
                for k in [int(v) for v in args.topics.split(",")]:
                    for size in [int(v) for v in args.sizes.split(",")]:
                        world = library(seed, k, size)
                        add(config, k, world, embedded(world))
            elif config in ("small", "unequal"):
                sizes = small_sizes(seed) if config == "small" else unequal_sizes(seed)
                lib = sized_library(seed, sizes)
                add(config, len(sizes), lib, embedded(lib))
            elif config == "synthetic":
                lib, vectors = synthetic(seed)
                add(config, 6, lib, vectors)
            else:
                raise SystemExit(f"unknown configuration {config!r}")
        return out

    tuning = [r for s in args.seeds.split(",") if s for r in run(int(s))]
    heldout = [r for s in args.heldout_seeds.split(",") if s for r in run(int(s))]
    result: dict[str, Any] = {"summary": summarise(tuning) if tuning else {}}
    if heldout:
        result["summary_heldout"] = summarise(heldout)
    sim: list[dict[str, Any]] = []
    for seed in [int(v) for v in args.sim_seeds.split(",") if v]:
        world = sim_world.make_world(seed, 250, 1)
        sim.append({"config": "simulator", "topics": len(sim_world.TOPICS), "assets": 250, "seed": seed})
        sim[-1].update(measure(world, embedded(world)))
        print(json.dumps(sim[-1], ensure_ascii=False), file=sys.stderr)
    if sim:
        result["summary_simulator"] = summarise(sim)
    result.update({"runs": tuning, "runs_heldout": heldout, "runs_simulator": sim})
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
