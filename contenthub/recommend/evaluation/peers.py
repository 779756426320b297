"""The peers ContentHub's ranking is measured against, trained on the same split's train ratings.

Each returns a dense (users × items) score matrix for the rows of ``x`` — the binary matrix of train
positives (rating ≥ 4) that every peer learns from; ranking, candidate filtering and metrics happen
in the caller, identically for every method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import sparse


def popularity(x: sparse.csr_matrix) -> np.ndarray:
    """How many users rated each item positively in train (the same list for everyone)."""
    pop = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
    return np.broadcast_to(pop, x.shape)


def item_knn(x: sparse.csr_matrix) -> np.ndarray:
    """Item-based kNN: cosine between item columns of the positive matrix, all neighbours, summed over
    the user's positives (Sarwar et al. / Deshpande & Karypis without a neighbourhood cut)."""
    x = x.astype(np.float64)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    xn = x @ sparse.diags(1.0 / norms)
    sim = (xn.T @ xn).tocsr()
    sim.setdiag(0.0)
    sim.eliminate_zeros()
    return np.asarray((x @ sim).todense())


def _fitted(make: Callable[[], Any], x: sparse.csr_matrix) -> np.ndarray:
    """Build and fit an implicit model with BLAS limited to one thread (implicit's own advice), and
    return its (users × items) scores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = make()
        model.fit(x.astype(np.float32).tocsr(), show_progress=False)
    return np.asarray(model.user_factors) @ np.asarray(model.item_factors).T


def als(
    x: sparse.csr_matrix,
    *,
    factors: int,
    regularization: float,
    iterations: int = 20,
    alpha: float = 10.0,
    seed: int = 0,
    threads: int = 2,
) -> np.ndarray:
    """implicit's ALS (Hu, Koren & Volinsky) with confidence 1 + alpha · r."""
    from implicit.als import AlternatingLeastSquares

    return _fitted(
        lambda: AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            iterations=iterations,
            alpha=alpha,
            random_state=seed,
            num_threads=threads,
        ),
        x,
    )


def bpr(
    x: sparse.csr_matrix, *, factors: int = 64, iterations: int = 100, seed: int = 0, threads: int = 2
) -> np.ndarray:
    """implicit's BPR-MF (Rendle et al.) with its default learning rate and regularisation."""
    from implicit.bpr import BayesianPersonalizedRanking

    return _fitted(
        lambda: BayesianPersonalizedRanking(
            factors=factors, iterations=iterations, random_state=seed, num_threads=threads
        ),
        x,
    )
