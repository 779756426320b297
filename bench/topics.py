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

Vectors are cached per text under ``--cache`` (keyed by the model name and the sha1 of the text).

    PYTHONPATH=. python bench/topics.py [--seeds 1,2,3] [--topics 5,8,12] [--sizes 150,250,500]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
import time
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


def neighbour_share(x: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1)[:, :k]
    return float((labels[nn] == labels[:, None]).mean())


def measure(world: sim_world.World, vectors: np.ndarray) -> dict[str, Any]:
    docs = world.assets
    n = len(docs)
    present = np.ones(n, dtype=bool)
    types = [d.get("content_type") for d in docs]
    x = topics.spread(vectors, present, types)
    t0 = time.perf_counter()
    texts = [topics.topic_text(d) for d in docs]
    # the content types go in where the code under test takes them (main before this round did not)
    extra = {"groups": types} if "groups" in inspect.signature(topics.discover).parameters else {}
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3,4")
    ap.add_argument("--topics", default="5,8,12", help="True topic counts (at most 8 + the extra vocabularies).")
    ap.add_argument("--sizes", default="150,250,500", help="Library sizes (assets).")
    ap.add_argument(
        "--sim-seeds",
        default="",
        help="Also the deployment simulator's own libraries (bench/simulate.py's worlds, 250 assets) of these seeds.",
    )
    ap.add_argument("--cache", default="/tmp/bench-topics/vectors.npz")
    ap.add_argument("--model", default=str(MODEL))
    args = ap.parse_args()
    embedder = load_embedder(Path(args.model))
    cache = Cache(Path(args.cache), model_id_for(Path(args.model)))
    runs: list[dict[str, Any]] = []
    for k in [int(v) for v in args.topics.split(",")]:
        for size in [int(v) for v in args.sizes.split(",")]:
            for seed in [int(v) for v in args.seeds.split(",")]:
                world = library(seed, k, size)
                vectors = cache.get([asset_text(d) for d in world.assets], embedder.encode_passages)
                runs.append({"topics": k, "assets": size, "seed": seed, **measure(world, vectors)})
                print(json.dumps(runs[-1], ensure_ascii=False), file=sys.stderr)
    for seed in [int(v) for v in args.sim_seeds.split(",") if v]:
        world = sim_world.make_world(seed, 250, 1)
        vectors = cache.get([asset_text(d) for d in world.assets], embedder.encode_passages)
        runs.append({"topics": "simulator", "assets": 250, "seed": seed, **measure(world, vectors)})
        print(json.dumps(runs[-1], ensure_ascii=False), file=sys.stderr)
    summary: dict[str, Any] = {}
    for k in sorted({r["topics"] for r in runs}, key=str):
        rs = [r for r in runs if r["topics"] == k]
        summary[str(k)] = {
            "libraries": len(rs),
            "exact_k": sum(r["found"] == r["true"] for r in rs),
            "merged_topics": sum(r["merged"] for r in rs),
            "libraries_with_a_merge": sum(r["merged"] > 0 for r in rs),
            "extra_topics": sum(r["split"] for r in rs),
            "ari": round(float(np.mean([r["ari"] for r in rs])), 4),
            "nmi": round(float(np.mean([r["nmi"] for r in rs])), 4),
            "nn_topic": round(float(np.mean([r["nn_topic"] for r in rs])), 4),
            "nn_type": round(float(np.mean([r["nn_type"] for r in rs])), 4),
        }
    generated = [r for r in runs if r["topics"] != "simulator"]
    summary["all_generated"] = {
        "libraries": len(generated),
        "merged_topics": sum(r["merged"] for r in generated),
        "libraries_with_a_merge": sum(r["merged"] > 0 for r in generated),
        "extra_topics": sum(r["split"] for r in generated),
        "ari": round(float(np.mean([r["ari"] for r in generated])), 4) if generated else None,
        "nmi": round(float(np.mean([r["nmi"] for r in generated])), 4) if generated else None,
    }
    print(json.dumps({"summary": summary, "runs": runs}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
