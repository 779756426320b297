"""In-memory matrix of asset vectors for the embedded store, with an approximate index once it is large.

Rebuilt from SQLite on start and kept in step with every write. Up to ANN_MIN vectors a kNN query is one
matrix-vector product over the matrix (exact). Past that, a faiss inverted-file index (IVF-Flat, inner
product) answers instead: it compares the query with √n centroids and scans only the NPROBE nearest lists,
so the cost grows with √n rather than n (figures in bench/RESULTS.md, search section). It is built on the
first search after the matrix passes ANN_MIN (the server's warm-up does that before it answers), follows
every upsert and removal, and is retrained when the matrix has doubled since (centroids of a tenth of the
data describe the rest poorly). Why faiss: maintained, CPU-only wheel, add/remove by id without a rebuild,
and it imports cleanly beside torch and rapidocr (usearch and faiss together with rapidocr do not).
"""

from __future__ import annotations

import threading

import faiss
import numpy as np

ANN_MIN = 20_000
"""Below this many vectors exact search is as fast as the index and needs no training."""
NPROBE = 16
TRAIN_SAMPLE = 20_000


class VectorIndex:
    def __init__(self, dim: int = 0) -> None:
        self._lock = threading.RLock()
        self.dim = dim
        self.ids: list[str] = []
        self.row: dict[str, int] = {}
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.keys = np.zeros(0, dtype=np.int64)
        """Per row, the store's integer key of the asset (SQLite rowid; -1 when unknown): a filter evaluated in SQL
        comes back as keys, matched against this column in one vectorised step (no id strings per row)."""
        self._capacity = 0
        self._ann: faiss.IndexIVFFlat | None = None  # keys are row numbers
        self._ann_trained_at = 0

    def __len__(self) -> int:
        return len(self.ids)

    def upsert(self, vectors: dict[str, np.ndarray], keys: dict[str, int] | None = None) -> None:
        """Add or replace vectors; ``keys`` gives each asset's integer key (see ``keys``)."""
        keys = keys or {}
        with self._lock:
            for asset_id, vec in vectors.items():
                v = np.asarray(vec, dtype=np.float32).reshape(-1)
                if self.dim == 0 or len(self.ids) == 0:
                    if self.dim != v.shape[0]:
                        self.dim = v.shape[0]
                        self.matrix = np.zeros((0, self.dim), dtype=np.float32)
                        self._capacity = 0
                if v.shape[0] != self.dim:
                    raise ValueError(f"vector for {asset_id} has dimension {v.shape[0]}, index has {self.dim}")
                if asset_id in self.row:
                    self.matrix[self.row[asset_id]] = v
                    if asset_id in keys:
                        self.keys[self.row[asset_id]] = keys[asset_id]
                    self._ann_put([self.row[asset_id]], replace=True)
                    continue
                if len(self.ids) >= self._capacity:
                    # Grow geometrically so bulk imports stay linear.
                    new_cap = max(64, self._capacity * 2)
                    grown = np.zeros((new_cap, self.dim), dtype=np.float32)
                    grown[: len(self.ids)] = self.matrix[: len(self.ids)]
                    grown_keys = np.full(new_cap, -1, dtype=np.int64)
                    grown_keys[: len(self.ids)] = self.keys[: len(self.ids)]
                    self.matrix, self.keys = grown, grown_keys
                    self._capacity = new_cap
                self.row[asset_id] = len(self.ids)
                self.matrix[len(self.ids)] = v
                self.keys[len(self.ids)] = keys.get(asset_id, -1)
                self.ids.append(asset_id)
                self._ann_put([len(self.ids) - 1])

    def unkeyed(self, asset_ids: list[str]) -> list[str]:
        """Those of the ids that have a vector but no integer key yet."""
        with self._lock:
            return [a for a in asset_ids if a in self.row and self.keys[self.row[a]] < 0]

    def set_keys(self, keys: dict[str, int]) -> None:
        with self._lock:
            for asset_id, key in keys.items():
                if asset_id in self.row:
                    self.keys[self.row[asset_id]] = key

    def remove(self, asset_id: str) -> None:
        with self._lock:
            i = self.row.pop(asset_id, None)
            if i is None:
                return
            last = len(self.ids) - 1
            if self._ann is not None:
                self._ann.remove_ids(np.array([i, last], dtype=np.int64))  # type: ignore[arg-type]  # the wrapper takes ids
            if i != last:
                moved = self.ids[last]
                self.matrix[i] = self.matrix[last]
                self.keys[i] = self.keys[last]
                self.ids[i] = moved
                self.row[moved] = i
                self._ann_put([i])
            self.ids.pop()

    def _ann_put(self, rows: list[int], *, replace: bool = False) -> None:
        """Keep a built index in step with rows just written (caller holds the lock)."""
        if self._ann is None:
            return
        keys = np.asarray(rows, dtype=np.int64)
        if replace:
            self._ann.remove_ids(keys)  # type: ignore[arg-type]  # the wrapper takes ids
        self._ann.add_with_ids(self.matrix[keys], keys)

    def _ensure_ann(self) -> faiss.IndexIVFFlat | None:
        """The approximate index when the matrix is large enough for one (caller holds the lock)."""
        n = len(self.ids)
        if n < ANN_MIN:
            self._ann = None
            return None
        if self._ann is None or n >= 2 * self._ann_trained_at:
            nlist = int(n**0.5)
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = self.matrix[np.random.default_rng(0).choice(n, min(n, TRAIN_SAMPLE), replace=False)]
            index.train(sample)
            index.add_with_ids(self.matrix[:n], np.arange(n, dtype=np.int64))
            index.nprobe = NPROBE
            self._ann, self._ann_trained_at = index, n
        return self._ann

    def rows_for(self, asset_ids: list[str]) -> tuple[list[str], np.ndarray]:
        with self._lock:
            found = [a for a in asset_ids if a in self.row]
            idx = [self.row[a] for a in found]
            return found, self.matrix[idx].copy() if idx else np.zeros((0, self.dim), dtype=np.float32)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The k nearest by inner product, best first: exact among the rows whose key is in ``allowed`` (integer
        keys) when given, else over all (approximate once there are ANN_MIN vectors)."""
        with self._lock:
            n = len(self.ids)
            if n == 0 or k <= 0:
                return []
            q = np.asarray(query, dtype=np.float32)
            if allowed is not None:
                idx = np.flatnonzero(np.isin(self.keys[:n], allowed))
                if idx.size == 0:
                    return []
                scores = self.matrix[idx] @ q
            else:
                ann = self._ensure_ann()
                if ann is not None:
                    scores_, rows = ann.search(q.reshape(1, -1), min(k, n))
                    return [(self.ids[r], float(sc)) for sc, r in zip(scores_[0], rows[0], strict=True) if r >= 0]
                scores = self.matrix[:n] @ q
                idx = None
            k = min(k, scores.shape[0])
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            return [(self.ids[i if idx is None else idx[i]], float(scores[i])) for i in top]
