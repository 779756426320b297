"""Signal (b): a classifier trained on the library's confirmed tags.

Kernel ridge regression on two feature blocks — character n-gram TF-IDF and the asset's embedding,
both L2-normalised so neither dominates by scale — with one output per label (multi-hot targets:
an asset may carry two scenes). Why ridge rather than logistic regression: with 400–3,000 assets
the dual problem is one n×n linear solve for *all* labels at once, so training and the k-fold
validation that fits the combination weights take a second or two on a shared CPU; the scores are
calibrated afterwards anyway (``calibration``). After fitting, the dual solution is turned into
ordinary weight matrices so predicting one asset costs a sparse row times a matrix.

Editor feedback enters as sample weights: a corrected asset counts several times as much as a
bulk-imported one, because it marks exactly where the suggester was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.linalg import LinAlgError, cho_factor, cho_solve

RIDGE_LAMBDA = 1.0  # both blocks have unit norm, so a unit penalty is the neutral choice
EMBEDDING_WEIGHT = 1.0  # the embedding block counts as much as the n-gram block
SOURCE_SCALE = 3.0  # source intercept: 3² = 9 against a kernel diagonal of 2, so it is cheap to use


def centre_embeddings(embeddings: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Subtract the library's mean vector and re-normalise.

    Why: sentence embeddings share a large common direction (any two Chinese marketing texts have a
    cosine of ~0.8), so raw dot products are nearly constant and a handful of new, oddly weighted
    examples would push their labels onto *every* asset. Centred, unrelated texts score near zero.
    """
    e = np.atleast_2d(embeddings).astype(np.float64) - mean
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    return e / np.maximum(norms, 1e-9)


@dataclass
class RidgeModel:
    w_ngram: np.ndarray  # (n-gram features × labels)
    w_embedding: np.ndarray  # (embedding dim × labels), applied to centred embeddings
    bias: np.ndarray  # (labels,)
    emb_mean: np.ndarray  # the training embeddings' mean

    def scores(self, x_ngram: sparse.csr_matrix, embeddings: np.ndarray) -> np.ndarray:
        e = centre_embeddings(embeddings, self.emb_mean)
        return np.asarray(x_ngram @ self.w_ngram) + e @ self.w_embedding + self.bias


def kernel(
    x_ngram: sparse.csr_matrix,
    embeddings: np.ndarray,
    emb_weight: float | None = None,
    sources: np.ndarray | None = None,
) -> np.ndarray:
    """Linear kernel over both blocks; ``embeddings`` already centred (``centre_embeddings``).

    ``sources`` (0 = ordinary confirmed asset, 1 = asset with editor feedback) adds one training-only
    feature per non-zero source: a source intercept. Why: feedback comes in bursts about one problem —
    twenty corrections of reactivation vs. win-back — often worded unlike the rest of the library.
    Without it the classifier learns "texts worded like these are reactivation or win-back" and
    pushes the two labels onto every similar-looking asset. The intercept absorbs what the burst has
    in common; only the differences between the corrected assets carry over to new ones. New assets
    have no source feature, so it never enters a prediction.
    """
    emb_weight = EMBEDDING_WEIGHT if emb_weight is None else emb_weight
    k = (x_ngram @ x_ngram.T).toarray().astype(np.float64)
    k += (emb_weight**2) * (embeddings.astype(np.float64) @ embeddings.T.astype(np.float64))
    if sources is not None:
        same = (sources[:, None] == sources[None, :]) & (sources[:, None] != 0)
        k += SOURCE_SCALE**2 * same
    return k


def _solve(k: np.ndarray, targets: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """α for min Σ wᵢ‖yᵢ − f(xᵢ)‖² + λ‖f‖²: (K + λ·diag(1/w)) α = Y."""
    a = k + np.diag(lam / np.maximum(weights, 1e-6))
    try:
        return cho_solve(cho_factor(a, lower=True, check_finite=False), targets, check_finite=False)
    except LinAlgError:  # duplicates with tiny weights can make it semi-definite in floating point
        return np.linalg.lstsq(a, targets, rcond=None)[0]


def centre(targets: np.ndarray, weights: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted label means as the bias, and targets minus it; unknown cells (``known`` False) get 0 —
    they pull the score neither up nor down."""
    wk = weights[:, None] * known
    mean = (targets * wk).sum(0) / np.maximum(wk.sum(0), 1e-9)
    return mean, np.where(known, targets - mean, 0.0)


def fit(
    x_ngram: sparse.csr_matrix,
    embeddings: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    known: np.ndarray | None = None,
    *,
    emb_mean: np.ndarray,
    k: np.ndarray | None = None,
    lam: float | None = None,
    emb_weight: float | None = None,
) -> RidgeModel:
    """``embeddings`` centred with ``emb_mean`` (kept in the model to centre new assets alike)."""
    lam = RIDGE_LAMBDA if lam is None else lam
    emb_weight = EMBEDDING_WEIGHT if emb_weight is None else emb_weight
    known = np.ones_like(targets, dtype=bool) if known is None else known
    k = kernel(x_ngram, embeddings, emb_weight) if k is None else k
    bias, yc = centre(targets, weights, known)
    alpha = _solve(k, yc, weights, lam)
    w_ngram = np.asarray(x_ngram.T @ alpha, dtype=np.float32)
    w_emb = ((emb_weight**2) * (embeddings.T.astype(np.float64) @ alpha)).astype(np.float32)
    return RidgeModel(
        w_ngram=w_ngram,
        w_embedding=w_emb,
        bias=bias.astype(np.float32),
        emb_mean=np.asarray(emb_mean, dtype=np.float32),
    )


def folds_for(n: int, seed: int = 0) -> np.ndarray:
    """Fold number per example: 5 folds for small libraries, 3 once there is plenty of data."""
    n_folds = 5 if n < 1000 else 3
    f = np.arange(n) % n_folds
    np.random.default_rng(seed).shuffle(f)
    return f


def out_of_fold(
    k: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    known: np.ndarray,
    folds: np.ndarray,
    *,
    lam: float | None = None,
) -> np.ndarray:
    """Scores for every example from a model that did not see it: the validation data for the weights."""
    lam = RIDGE_LAMBDA if lam is None else lam
    out = np.zeros_like(targets, dtype=np.float64)
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        bias, yc = centre(targets[tr], weights[tr], known[tr])
        alpha = _solve(k[np.ix_(tr, tr)], yc, weights[tr], lam)
        out[te] = k[np.ix_(te, tr)] @ alpha + bias
    return out
