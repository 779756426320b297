"""Sparse × dense products through scipy's own CSR kernels, called directly.

Why: next content multiplies a CSR matrix by a vector per request, and the batch ranker multiplies a
few CSR rows by dense matrices per block of users. scipy's ``@`` ends in these same kernels (so the
sums, and every value, are the same) but first spends longer on dispatch, checks and upcasts than the
product itself takes when it touches a few hundred entries (figures: bench/RESULTS.md, "Figures behind design choices"). The kernels live in a private
scipy module, so this is the one place that imports it, and every function falls back to scipy's
public matrices when it is missing or the types do not fit.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

try:
    from scipy.sparse import _sparsetools
except ImportError:  # pragma: no cover - a scipy that moved them
    _sparsetools = None


def matvec(mat: sparse.csr_matrix, w: np.ndarray) -> np.ndarray:
    """``mat @ w`` for a CSR matrix and a dense vector (``csr_matvec``)."""
    if _sparsetools is None or mat.dtype != w.dtype:
        return mat @ w
    out = np.zeros(mat.shape[0], dtype=w.dtype)
    _sparsetools.csr_matvec(mat.shape[0], mat.shape[1], mat.indptr, mat.indices, mat.data, w, out)
    return out


def matmat(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, x: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """(CSR arrays of ``shape``) @ x for a dense matrix ``x`` (``csr_matvecs``)."""
    if (
        _sparsetools is not None
        and indptr.dtype == indices.dtype
        and data.dtype == x.dtype
        and x.flags.c_contiguous
        and x.ndim == 2
        and x.shape[0] == shape[1]
    ):
        out = np.zeros((shape[0], x.shape[1]), dtype=x.dtype)
        _sparsetools.csr_matvecs(shape[0], shape[1], x.shape[1], indptr, indices, data, x.ravel(), out.ravel())
        return out
    return np.asarray(sparse.csr_matrix((data, indices, indptr), shape=shape) @ x)


def todense(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The dense array of CSR arrays of ``shape`` (``csr_todense``)."""
    out = np.zeros(shape, dtype=data.dtype)
    if _sparsetools is not None and indptr.dtype == indices.dtype:
        _sparsetools.csr_todense(*shape, indptr, indices, data, out)
        return out
    return sparse.csr_matrix((data, indices, indptr), shape=shape).toarray()
