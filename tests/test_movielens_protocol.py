"""The MovieLens protocol of DESIGN.md on hand-made ratings: split, candidates, metrics — and the eval's
own pipeline end to end on a tiny synthetic ml-latest-small (never the real data)."""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from contenthub.recommend.evaluation import movielens as ml
from contenthub.recommend.evaluation.protocol import (
    Ratings,
    candidates,
    evaluate,
    n_test,
    ndcg_at_k,
    recall_at_k,
    split_ratings,
    top_k,
)


def table(rows: list[tuple[int, int, float, int]]) -> Ratings:
    u, i, r, t = zip(*rows, strict=True)
    return Ratings(np.array(u), np.array(i), np.array(r, dtype=float), np.array(t))


def pairs(r: Ratings) -> list[tuple[int, int]]:
    return list(zip(r.user.tolist(), r.item.tolist(), strict=True))


def test_test_share_is_ceil_of_twenty_percent_at_least_one() -> None:
    assert [n_test(n) for n in (1, 2, 4, 5, 6, 10, 11, 15, 20, 21)] == [1, 1, 1, 1, 2, 2, 3, 3, 4, 5]


def test_split_sorts_by_timestamp_then_movie_and_holds_out_the_tail() -> None:
    rows = [
        # user 1: six ratings -> last 2 are test; movies 30 and 20 share a timestamp (20 sorts first)
        (1, 10, 4.0, 100),
        (1, 30, 5.0, 500),
        (1, 20, 3.0, 500),
        (1, 40, 2.0, 50),
        (1, 50, 4.5, 300),
        (1, 60, 1.0, 200),
        # user 2: one rating -> it is the test part, train is empty
        (2, 10, 5.0, 10),
        # user 3: five ratings -> one test rating, and it is negative (user not evaluated)
        (3, 10, 5.0, 1),
        (3, 20, 5.0, 2),
        (3, 30, 5.0, 3),
        (3, 40, 5.0, 4),
        (3, 50, 2.0, 5),
    ]
    split = split_ratings(table(rows))
    assert sorted(pairs(split.test)) == [(1, 20), (1, 30), (2, 10), (3, 50)]
    assert sorted(pairs(split.train)) == [(1, 10), (1, 40), (1, 50), (1, 60), (3, 10), (3, 20), (3, 30), (3, 40)]
    assert split.positives() == {1: {30}, 2: {10}}, "rating 3.0 and 2.0 are not positives; user 3 drops out"
    train = split.train_items()
    assert train[1].tolist() == [10, 40, 50, 60] and 2 not in train


def test_candidates_are_all_movies_without_a_train_rating() -> None:
    movies = np.array([70, 10, 20, 30, 40, 50, 60])
    assert candidates(movies, np.array([10, 40, 50, 60])).tolist() == [20, 30, 70]
    assert candidates(movies, None).tolist() == [10, 20, 30, 40, 50, 60, 70]
    # a held-out movie rated below 4 stays a candidate (it is simply not relevant)
    split = split_ratings(table([(1, 10, 4.0, 1), (1, 20, 4.0, 2), (1, 30, 4.0, 3), (1, 40, 4.0, 4), (1, 50, 1.0, 5)]))
    assert 50 in candidates(movies, split.train_items()[1]).tolist()


def test_ndcg_and_recall_binary_formulas() -> None:
    ranked = [5, 9, 7, 1]
    positives = {5, 7}
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(ranked, positives) == pytest.approx(dcg / idcg)
    assert recall_at_k(ranked, positives) == 1.0
    assert ndcg_at_k([9, 8], {5}) == 0.0 and recall_at_k([9, 8], {5}) == 0.0
    # more than ten positives: recall's denominator is 10, NDCG's ideal has ten hits
    many = set(range(100, 115))
    top = list(range(100, 110))
    assert recall_at_k(top, many) == 1.0 and ndcg_at_k(top, many) == pytest.approx(1.0)
    assert recall_at_k([100, 1, 2, 3, 4, 5, 6, 7, 8, 9], many) == pytest.approx(0.1)
    # only the first ten count
    assert recall_at_k([0] * 0 + list(range(1, 11)) + [5], {5, 200}) == pytest.approx(0.5)
    assert ndcg_at_k(list(range(20, 30)) + [5], {5}) == 0.0


def test_top_k_breaks_ties_by_movie_id() -> None:
    cands = np.array([3, 8, 11, 20])
    assert top_k(cands, np.array([0.5, 0.9, 0.5, 0.1]), k=3) == [8, 3, 11]


def test_evaluate_means_over_users_with_positives_and_checks_rankings() -> None:
    rows = [(1, m, 4.0, m) for m in (1, 2, 3, 4)] + [(1, 5, 5.0, 9)]  # user 1: test = movie 5
    rows += [(2, m, 4.0, m) for m in (1, 2, 3, 4)] + [(2, 6, 4.0, 9)]  # user 2: test = movie 6
    rows += [(3, m, 4.0, m) for m in (1, 2, 3, 4)] + [(3, 5, 1.0, 9)]  # user 3: not evaluated
    split = split_ratings(table(rows))
    movies = np.arange(1, 8)
    seen: list[tuple[int, list[int]]] = []

    def rank(u: int, cands: np.ndarray) -> list[int]:
        seen.append((u, cands.tolist()))
        return [5, 6, 7]

    res = evaluate(rank, split, movies)
    assert seen == [(1, [5, 6, 7]), (2, [5, 6, 7])]
    assert res["users"] == 2
    assert res["ndcg@10"] == pytest.approx((1.0 + 1 / math.log2(3)) / 2)
    assert res["recall@10"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="candidate"):
        evaluate(lambda u, c: [1], split, movies)  # movie 1 was rated in train


def test_validation_split_is_carved_from_train_only() -> None:
    rows = [(1, m, 4.0, m) for m in range(1, 11)]
    data = ml.MovieLens(
        ratings=table(rows), titles={m: f"M{m}" for m in range(1, 11)}, genres={m: [] for m in range(1, 11)}, tags=[]
    )
    test = ml.make_split(data, "test")
    val = ml.make_split(data, "validation")
    assert sorted(test.test.item.tolist()) == [9, 10]
    assert sorted(val.test.item.tolist()) == [7, 8] and sorted(val.train.item.tolist()) == list(range(1, 7))


def test_train_period_tags_leave_out_held_out_movies_and_later_tags() -> None:
    rows = [(1, m, 4.0, 10 * m) for m in range(1, 6)]  # test part: movie 5 (ts 50)
    data = ml.MovieLens(
        ratings=table(rows),
        titles={m: f"M{m}" for m in range(1, 6)},
        genres={m: ["Drama"] for m in range(1, 6)},
        tags=[(1, 2, "Pixar", 15), (1, 5, "twist", 20), (1, 3, "late", 45), (9, 3, "stranger", 1)],
    )
    tags = ml.train_period_tags(data, ml.make_split(data, "test"))
    assert tags == {2: ["pixar"]}, "held-out movie, after-train and unknown-user tags are all dropped"


def _write_dataset(d: Path) -> None:
    """Two taste clusters (comedies 1–4, thrillers 5–8) plus a popular movie 9."""
    d.mkdir()
    titles = {
        1: "Funny Farm (1988)",
        2: "Laugh Out Loud (1999)",
        3: "Comedy Club (2001)",
        4: "Big Jokes (2005)",
        5: "Dark Alley (1995)",
        6: "Night Chase (1998)",
        7: "Silent Knife (2003)",
        8: "Cold Case (2007)",
        9: "Everybody Likes It (2000)",
    }
    with (d / "movies.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["movieId", "title", "genres"])
        for m, t in titles.items():
            w.writerow([m, t, "Comedy" if m <= 4 else "Thriller" if m <= 8 else "Drama"])
    rows = []
    for u in range(1, 13):
        group = [1, 2, 3, 4] if u % 2 else [5, 6, 7, 8]
        order = [9] + group[(u // 2) % 4 :] + group[: (u // 2) % 4]
        for k, m in enumerate(order):
            rows.append((u, m, 5.0 if m != 9 else 3.0, 1_000_000 + 1000 * u + k))
    with (d / "ratings.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["userId", "movieId", "rating", "timestamp"])
        w.writerows(rows)
    with (d / "tags.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["userId", "movieId", "tag", "timestamp"])
        w.writerow([1, 2, "slapstick", 1_001_001])


def test_end_to_end_on_a_tiny_dataset(tmp_path: Path, embedder) -> None:
    """The whole eval (real pipeline, real model, peers) runs and ours finds each user's cluster."""
    _write_dataset(tmp_path / "ml")
    # ALS and BPR come from `implicit`, a bench-only extra (it compiles from source here); without it the
    # pipeline and the other peers are still checked.
    has_implicit = importlib.util.find_spec("implicit") is not None
    report = ml.run(tmp_path / "ml", tmp_path / "work", embedder=embedder, with_peers=has_implicit, extra_strategies=())
    res = report["results"]
    assert report["data"]["evaluated_users"] == 12 and res["ours"]["users"] == 12
    if has_implicit:
        assert set(res) == {"ours", "popularity", "item_knn", "als", "bpr"}
        assert len(res["als"]["grid"]) == 6
    # each user's held-out movie is the last of their cluster, among 4 movies of the other cluster:
    # co-engagement, genre affinity and similarity must all put it first
    assert res["ours"]["ndcg@10"] > 0.95
    assert list((tmp_path / "work").glob("vectors-*.npz")), "vectors are cached in the work dir"
    again = ml.run(tmp_path / "ml", tmp_path / "work", embedder=embedder, with_peers=False, extra_strategies=())
    assert again["results"]["ours"] == {**res["ours"], "rank_s": again["results"]["ours"]["rank_s"]}
