"""The MovieLens protocol of DESIGN.md as pure functions: split, candidates, metrics.

Per user, ratings sorted by (timestamp, item id); the last 20% (ceil, at least 1) are test, the rest
train. Test positives are test ratings ≥ 4.0; users without one are not evaluated. Candidates are
every catalogue item the user has no train rating for. NDCG@10 and Recall@10 use binary relevance;
recall's denominator is min(10, #positives); both are averaged over evaluated users.

No I/O and no recommender imports, so the tests can check every formula on a hand-made table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

POSITIVE_RATING = 4.0
TEST_SHARE_DENOMINATOR = 5  # 20% as an exact integer ratio: ceil(n / 5), never float rounding
K = 10


@dataclass(frozen=True)
class Ratings:
    """Columns of a ratings table (one row per rating)."""

    user: np.ndarray  # int64
    item: np.ndarray  # int64
    rating: np.ndarray  # float64
    ts: np.ndarray  # int64, seconds

    def __len__(self) -> int:
        return int(self.user.size)

    def take(self, rows: np.ndarray) -> Ratings:
        return Ratings(self.user[rows], self.item[rows], self.rating[rows], self.ts[rows])


@dataclass(frozen=True)
class Split:
    train: Ratings
    test: Ratings

    def positives(self) -> dict[int, set[int]]:
        """Test positives per user; users with none are absent (they are not evaluated)."""
        out: dict[int, set[int]] = {}
        keep = self.test.rating >= POSITIVE_RATING
        for u, i in zip(self.test.user[keep].tolist(), self.test.item[keep].tolist(), strict=True):
            out.setdefault(u, set()).add(i)
        return out

    def train_items(self) -> dict[int, np.ndarray]:
        """Items each user rated in train (any rating), sorted."""
        return _group_items(self.train)


def n_test(n: int) -> int:
    """Size of a user's test part: 20% of ``n`` rounded up, at least 1."""
    return max(1, -(-n // TEST_SHARE_DENOMINATOR))


def split_ratings(r: Ratings) -> Split:
    """Per-user temporal split: sort by (user, timestamp, item); the last n_test(n) rows are test."""
    order = np.lexsort((r.item, r.ts, r.user))
    users = r.user[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], users.size]
    is_test = np.zeros(users.size, dtype=bool)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        is_test[e - n_test(e - s) : e] = True
    return Split(train=r.take(order[~is_test]), test=r.take(order[is_test]))


def candidates(all_items: np.ndarray, train_items: np.ndarray | None) -> np.ndarray:
    """Every catalogue item (sorted) the user has no train rating for."""
    items = np.unique(all_items)
    if train_items is None or train_items.size == 0:
        return items
    return items[~np.isin(items, train_items)]


def top_k(cands: np.ndarray, scores: np.ndarray, k: int = K) -> list[int]:
    """The ``k`` best candidates by score; ties go to the earlier candidate (smaller item id)."""
    return cands[np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]].tolist()


def ndcg_at_k(ranked: Sequence[int], positives: set[int], k: int = K) -> float:
    """Binary-relevance NDCG: DCG = Σ rel_i / log2(i + 1) over the top k; ideal puts min(k, |P|) hits first."""
    if not positives:
        raise ValueError("NDCG is undefined without positives")
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in positives)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(positives))))
    return dcg / idcg


def recall_at_k(ranked: Sequence[int], positives: set[int], k: int = K) -> float:
    """Hits in the top k divided by min(k, |P|)."""
    if not positives:
        raise ValueError("recall is undefined without positives")
    hits = sum(1 for item in ranked[:k] if item in positives)
    return hits / min(k, len(positives))


def evaluate(
    rank: Callable[[int, np.ndarray], Sequence[int]],
    split: Split,
    all_items: np.ndarray,
    k: int = K,
) -> dict[str, float]:
    """Mean NDCG@k and Recall@k of ``rank(user, candidates) -> top items`` over evaluated users."""
    positives = split.positives()
    train_items = split.train_items()
    ndcg, recall = [], []
    for u in sorted(positives):
        cands = candidates(all_items, train_items.get(u))
        ranked = list(rank(u, cands))[:k]
        if len(set(ranked)) != len(ranked) or not set(ranked) <= set(cands.tolist()):
            raise ValueError(f"ranking for user {u} repeats items or leaves the candidate set")
        ndcg.append(ndcg_at_k(ranked, positives[u], k))
        recall.append(recall_at_k(ranked, positives[u], k))
    return {
        f"ndcg@{k}": float(np.mean(ndcg)) if ndcg else 0.0,
        f"recall@{k}": float(np.mean(recall)) if recall else 0.0,
        "users": len(ndcg),
    }


def _group_items(r: Ratings) -> dict[int, np.ndarray]:
    order = np.lexsort((r.item, r.user))
    users, items = r.user[order], r.item[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if users.size else np.array([], dtype=int)
    ends = np.r_[starts[1:], users.size]
    return {int(users[s]): items[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)}
