"""Search quality on a graded relevance set: NDCG@10, precision@5 and the share of nonsense answered "no match".

Pure metric functions plus one loop over :func:`library.search.search`, so the test suite and
bench/search.py measure the same thing. The set's format: one JSON object per line with ``q``, ``kind``
("zh", "en", "pinyin", "typo", "filter", "nonsense"), ``filters`` (AssetFilter facet → values) and
``relevant`` (asset id → grade 1 or 2); see tests/data/search_queries.py.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from contenthub.hub import Hub
from contenthub.library import relevance
from contenthub.library.search import SearchRequest, search

FACETS = ("scenes", "channels", "kinds", "content_types", "statuses", "tags", "stages")


def load_relevance(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def ndcg_at_k(ranked: list[str], grades: dict[str, int], k: int = 10) -> float:
    """Σ (2^g − 1) / log2(rank + 1) over the first k, divided by the same for the ideal order."""
    dcg = sum((2 ** grades.get(a, 0) - 1) / math.log2(i + 2) for i, a in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def precision_at_k(ranked: list[str], grades: dict[str, int], k: int = 5) -> float:
    return sum(1 for a in ranked[:k] if grades.get(a, 0) > 0) / k


def request_for(row: dict[str, Any], limit: int = 10) -> SearchRequest:
    req = SearchRequest(q=row["q"], limit=limit)
    for facet, values in (row.get("filters") or {}).items():
        if facet not in FACETS:
            raise ValueError(f"unknown filter {facet!r} in the relevance set; known: {', '.join(FACETS)}")
        setattr(req, facet, tuple(values))
    return req


def evaluate(hub: Hub, rows: list[dict[str, Any]], *, semantic_z: float = relevance.SEMANTIC_Z) -> dict[str, Any]:
    ndcg: dict[str, list[float]] = defaultdict(list)
    p5: list[float] = []
    nonsense = empty = 0
    for row in rows:
        page = search(hub, request_for(row), semantic_z=semantic_z)
        ranked = [h.asset.id for h in page.items]
        if row["kind"] == "nonsense":
            nonsense += 1
            empty += page.total == 0
            continue
        ndcg[row["kind"]].append(ndcg_at_k(ranked, row["relevant"]))
        p5.append(precision_at_k(ranked, row["relevant"]))
    every = [x for xs in ndcg.values() for x in xs]
    return {
        "queries": len(every),
        "ndcg@10": round(sum(every) / len(every), 4),
        "precision@5": round(sum(p5) / len(p5), 4),
        "ndcg@10_by_kind": {k: round(sum(v) / len(v), 4) for k, v in sorted(ndcg.items())},
        "nonsense_queries": nonsense,
        "nonsense_no_match": round(empty / nonsense, 4) if nonsense else None,
    }
