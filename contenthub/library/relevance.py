"""When is a semantic neighbour a match? A floor on cosine similarity, relative to the model.

Why relative: every embedding model has its own similarity scale — E5 puts almost any two texts above
0.7, other models put unrelated texts near 0 — so a fixed cosine cut-off tuned on one model is wrong for
the next. The floor is instead ``mean + SEMANTIC_Z × std`` of the scores of *random pairs*: each query of
a fixed bank of everyday sentences on unrelated topics (PROBES) against the passages of the others. A
query's neighbour earns its place when it is as far above that background as a real match usually is.

SEMANTIC_Z was calibrated on tests/data/search_relevance.jsonl (the demo library's relevance set) with
the default model: `bench/search.py --calibrate 2 2.5 2.75 3 4 5` prints NDCG@10 and the nonsense
"no match" share per z. Lower z adds little NDCG (0.7106 at 3 → 0.7202 at 2) but lets nonsense through
(100% → 73% answered "no match"); 3 is the lowest z with a margin over the 95% target (2.75: 96.7%).
Figures and the command are in bench/RESULTS.md.
"""

from __future__ import annotations

import numpy as np

from contenthub.embeddings import Embedder

SEMANTIC_Z = 3.0
"""How many standard deviations above the random-pair mean a semantic score must be (see module doc)."""

PROBES: tuple[str, ...] = (
    "明天北京的天气怎么样",
    "如何更换汽车轮胎",
    "股票市场今天大跌",
    "足球比赛的比分",
    "火山喷发的原因",
    "学习弹钢琴的方法",
    "高铁票退票规则",
    "量子计算机的原理",
    "古代罗马的历史",
    "怎样种植西红柿",
    "手机屏幕碎了怎么修",
    "马拉松训练计划",
    "房贷利率调整",
    "太阳系有几颗行星",
    "公司年度财务报表",
    "电脑蓝屏怎么办",
    "如何申请护照",
    "世界杯决赛",
    "钓鱼的技巧",
    "建筑工地安全规范",
    "How to fix a leaking faucet",
    "The history of the Roman Empire",
    "Best hiking trails in the Alps",
    "Quarterly earnings report",
    "How do airplanes fly",
    "Learning to play the guitar",
    "Tax filing deadline",
    "Rules of chess",
    "Installing Linux on a laptop",
    "Climate change and glaciers",
    "Train timetable to Berlin",
    "Repairing a bicycle chain",
    "Symptoms of the common cold",
    "Painting with watercolors",
    "Moon landing in 1969",
    "Football transfer news",
)


def probe_query_vectors(embedder: Embedder) -> np.ndarray:
    """PROBES encoded as queries (memoised per model): the random side of every background score."""
    key = "search.probe_queries"
    if key not in embedder.memo:
        embedder.memo[key] = embedder.encode_queries(list(PROBES))
    return embedder.memo[key]


def null_stats(embedder: Embedder) -> tuple[float, float]:
    """Mean and standard deviation of the cosine of random (query, passage) pairs for this model."""
    key = "search.null_stats"
    if key not in embedder.memo:
        q = probe_query_vectors(embedder)
        p = embedder.encode_passages(list(PROBES))
        scores = q @ p.T
        off = scores[~np.eye(len(PROBES), dtype=bool)]
        embedder.memo[key] = (float(off.mean()), float(off.std()))
    return embedder.memo[key]


def semantic_floor(embedder: Embedder, z: float = SEMANTIC_Z) -> float:
    mean, std = null_stats(embedder)
    return mean + z * std
