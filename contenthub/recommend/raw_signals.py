"""The raw (unscaled) similarity, affinity and collaborative values of a block of audiences over candidates.

One function, ``raw_values``, for a request (``ranking.score_candidates``: a block of one audience) and the
batch (``batch``: blocks of users). Each signal is a sparse row per audience times a dense matrix whose rows
belong to assets (or features) and whose columns are the candidates:

- similarity: the audience vector is Σ wᵢ·vector(assetᵢ) over the assets it engaged with, so its cosine with
  the candidates is Σ wᵢ·(cosines of assetᵢ with the candidates) — the rows of ``Columns.similarity``
  (memoised per asset: the channel block's columns for a request, ``batch``'s lazy matrix for a block);
  an audience known only by a dense vector (a group mixing more assets than the memo serves) takes the
  plain product with the candidates' vectors;
- affinity: the candidates' sparse features times the audiences' dense tag weights;
- collaborative: the audience's engaged modelled assets times their EASE weight rows restricted to the
  candidates (``model_columns``), 0 on candidates the model does not hold.

All products go through scipy's CSR kernels (``csr``), so a user gets the same float sums on both paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from contenthub.recommend import csr


class Rows:
    """Rows r0:r1 of a CSR matrix as views of its arrays (or one audience's row made from its entries),
    multiplied by dense matrices with scipy's own CSR kernel called directly. A scipy matrix per block cost
    its constructor's checks (~16 µs, three a block) and the ``@`` dispatch (zeros, upcast, checks: a third
    of the collaborative product, whose rows hold ~2.5 entries); the kernel and so every value are the same."""

    __slots__ = ("data", "indices", "indptr", "shape")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> None:
        self.indptr, self.indices, self.data, self.shape = indptr, indices, data, shape

    @classmethod
    def of(cls, m: sparse.csr_matrix, r0: int, r1: int) -> Rows:
        lo, hi = m.indptr[r0], m.indptr[r1]
        return cls(m.indptr[r0 : r1 + 1] - lo, m.indices[lo:hi], m.data[lo:hi], (r1 - r0, m.shape[1]))

    @classmethod
    def one(cls, weights: np.ndarray) -> Rows:
        """One audience whose entries are the rows 0..k−1 of the dense matrix it is multiplied by."""
        k = weights.size
        return cls(
            np.array([0, k], dtype=np.int32),
            np.arange(k, dtype=np.int32),
            np.asarray(weights, dtype=np.float32),
            (1, k),
        )

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        return csr.matmat(self.indptr, self.indices, self.data, x, self.shape)

    def toarray(self) -> np.ndarray:
        return csr.todense(self.indptr, self.indices, self.data, self.shape)


@dataclass
class Audiences:
    """A block of audiences (one row each) as ``raw_values`` reads them; a signal left None is not computed."""

    recent: Rows | None = None  # engaged assets' weights, indexing the rows of ``Columns.similarity``
    vectors: np.ndarray | None = None  # or: audiences × dim dense vectors (``Columns.vectors``)
    tags: np.ndarray | None = None  # features × audiences, float32, C-ordered: tag weights
    engaged: Rows | None = None  # engaged modelled assets (1.0 each), indexing the rows of ``Columns.collaborative``


@dataclass
class Columns:
    """The candidate side: dense matrices whose columns are the candidates."""

    similarity: np.ndarray | None = None  # assets × candidates: each asset's cosines with the candidates
    vectors: np.ndarray | None = None  # candidates × dim, for ``Audiences.vectors``
    features: sparse.csr_matrix | None = None  # candidates × features, float32
    collaborative: np.ndarray | None = None  # modelled assets × candidates (``model_columns``), or × model items
    # with ``collaborative_at``: the model item of each candidate (the model's size: not modelled, value 0),
    # gathered after the product — one audience sums k rows of the model once, then gathers the candidates
    collaborative_at: np.ndarray | None = None


def model_columns(weights: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The EASE weight rows of modelled assets ``rows`` at model columns ``columns`` (one per candidate):
    ``Columns.collaborative`` for those rows."""
    return np.take(weights[rows], columns, axis=1)


def transposed(a: np.ndarray, step: int = 128) -> np.ndarray:
    """A C-ordered copy of ``a.T``, copied in column strips that stay in cache (numpy's plain strided copy
    is several times slower)."""
    if a.shape[1] == 1:
        return a.reshape(1, a.shape[0])
    out = np.empty((a.shape[1], a.shape[0]), dtype=a.dtype)
    for c0 in range(0, a.shape[0], step):
        out[:, c0 : c0 + step] = a[c0 : c0 + step].T
    return out


def raw_values(aud: Audiences, cols: Columns) -> dict[str, np.ndarray]:
    """Audiences × candidates float32 arrays of each signal both sides hold (before any exclusion or scaling)."""
    out: dict[str, np.ndarray] = {}
    if aud.recent is not None and cols.similarity is not None:
        out["similarity"] = np.asarray(aud.recent @ cols.similarity, dtype=np.float32)
    elif aud.vectors is not None and cols.vectors is not None:
        out["similarity"] = np.asarray(aud.vectors @ cols.vectors.T, dtype=np.float32)
    if aud.tags is not None and cols.features is not None:
        feat = cols.features
        if aud.tags.shape[1] == 1:  # one audience: the kernel's one-vector form, the same sums in the same order
            out["affinity"] = np.asarray(csr.matvec(feat, aud.tags[:, 0]), dtype=np.float32)[None, :]
        else:
            out["affinity"] = transposed(
                np.asarray(csr.matmat(feat.indptr, feat.indices, feat.data, aud.tags, feat.shape), dtype=np.float32)
            )
    if aud.engaged is not None and cols.collaborative is not None:
        collab = np.asarray(aud.engaged @ cols.collaborative, dtype=np.float32)
        if cols.collaborative_at is not None:
            padded = np.concatenate([collab, np.zeros((collab.shape[0], 1), dtype=np.float32)], axis=1)
            collab = padded[:, cols.collaborative_at]
        out["collaborative"] = collab
    return out
