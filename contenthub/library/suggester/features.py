"""Character n-gram features of an asset's text.

Why characters: Chinese has no spaces, and a word segmenter would be one more model to ship. One- to
three-character grams catch the words that carry a scene (首单, 回购, 直播间, 好久不见) and the
style marks that carry a channel (【品牌】, 回T退订, #话题). Digits are folded to ``0`` so that
"满199减80" and "满99减10" look alike — the amount never says which scene it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

NGRAM_MIN, NGRAM_MAX = 1, 3
MIN_DF = 2
MAX_FEATURES = 30000
_DIGITS = re.compile(r"\d")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, digits → 0, runs of white space → one space."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACES.sub(" ", _DIGITS.sub("0", text)).strip()


def ngrams(text: str) -> list[str]:
    """1- to 3-character grams within each white-space separated chunk."""
    out: list[str] = []
    for chunk in normalize(text).split(" "):
        n_chars = len(chunk)
        out.extend(chunk)
        out.extend([chunk[i : i + 2] for i in range(n_chars - 1)])
        out.extend([chunk[i : i + 3] for i in range(n_chars - 2)])
    return out


def _counts(texts: Iterable[str], index: dict[str, int], grow: bool) -> sparse.csr_matrix:
    """Raw gram counts; with ``grow`` unseen grams get new columns (fitting), else they are dropped."""
    indptr = [0]
    cols: list[int] = []
    for text in texts:
        if grow:
            cols.extend([index.setdefault(g, len(index)) for g in ngrams(text)])
        else:
            cols.extend([i for g in ngrams(text) if (i := index.get(g)) is not None])
        indptr.append(len(cols))
    m = sparse.csr_matrix(
        (np.ones(len(cols), dtype=np.float32), np.asarray(cols, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(indptr) - 1, len(index)),
    )
    m.sum_duplicates()
    return m


def _tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    m = counts.copy()
    m.data = (1.0 + np.log(m.data)) * idf[m.indices]
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m, dtype=np.float32)


@dataclass
class NgramVocab:
    """A fitted vocabulary with inverse document frequencies (sublinear tf × idf, rows L2-normalised)."""

    terms: list[str]
    idf: np.ndarray

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.terms)}

    @classmethod
    def fit(cls, texts: Sequence[str], *, min_df: int = MIN_DF, max_features: int = MAX_FEATURES) -> NgramVocab:
        return cls.fit_transform(texts, min_df=min_df, max_features=max_features)[0]

    @classmethod
    def fit_transform(
        cls, texts: Sequence[str], *, min_df: int = MIN_DF, max_features: int = MAX_FEATURES
    ) -> tuple[NgramVocab, sparse.csr_matrix]:
        """Fit on the texts and return their features (one tokenisation pass instead of two)."""
        index: dict[str, int] = {}
        counts = _counts(texts, index, grow=True)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        terms_all = np.empty(len(index), dtype=object)
        for t, i in index.items():
            terms_all[i] = t
        keep = np.flatnonzero(df >= min_df)
        order = sorted(keep.tolist(), key=lambda i: (-int(df[i]), terms_all[i]))[:max_features]
        keep = np.asarray(order, dtype=np.int64)
        n = len(texts)
        idf = (np.log((1 + n) / (1 + df[keep])) + 1.0).astype(np.float32)
        vocab = cls(terms=[str(terms_all[i]) for i in keep], idf=idf)
        return vocab, _tfidf(counts[:, keep].tocsr(), idf)

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        return _tfidf(_counts(texts, self.index, grow=False), self.idf)

    def to_doc(self) -> dict[str, Any]:
        return {"terms": self.terms, "idf": [round(float(x), 5) for x in self.idf]}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> NgramVocab:
        return cls(terms=list(doc["terms"]), idf=np.asarray(doc["idf"], dtype=np.float32))
