"""Elasticsearch counters: one document per (collection, key), added to by compare-and-set once per batch."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from contenthub.store.elastic.client import APPLIED_RETENTION, MAX_RETRIES
from contenthub.store.elastic.documents import ElasticDocuments
from contenthub.store.es_docs import StoreError
from contenthub.store.es_docs import key_id as _key_id
from contenthub.store.es_docs import write_op as _write_op


class ElasticCounters(ElasticDocuments):
    # --- counters ----------------------------------------------------------------------
    def _apply_counters(self, deltas: dict[tuple[str, str], dict[str, float]], batch: str | None) -> None:
        """Read-modify-write of one doc per (collection, key), guarded by if_seq_no/if_primary_term and
        retried on conflict (no scripts in the server). Each doc is updated atomically; a doc that
        already holds ``batch`` is skipped, which makes re-applying a batch harmless."""
        if not deltas:
            return
        alias = self.schema.ensure("counters")
        pending = {_key_id(c, k): (c, k) for c, k in deltas}
        for _ignored in range(MAX_RETRIES):
            raws = self._mget("counters", list(pending))
            now = time.time()
            ops: list[Any] = []  # bulk (action, source) pairs, {"noop": True} for a key already holding the batch
            targets: list[str] = []
            for cid, (collection, key) in pending.items():
                raw = raws.get(cid)
                src: dict[str, Any] = (
                    raw.src if raw is not None else {"collection": collection, "key": key, "values": {}, "applied": {}}
                )
                applied = dict(src.get("applied") or {})
                if batch is not None and batch in applied:
                    targets.append(cid)
                    ops.append({"noop": True})
                    continue
                values = dict(src.get("values") or {})
                for field, delta in deltas[(collection, key)].items():
                    values[field] = float(values.get(field, 0.0)) + delta
                if batch is not None:
                    applied = {b: t for b, t in applied.items() if t > now - APPLIED_RETENTION}
                    applied[batch] = round(now, 1)
                ops.append(
                    _write_op(
                        alias, cid, {"collection": collection, "key": key, "values": values, "applied": applied}, raw
                    )
                )
                targets.append(cid)
            real = [(cid, op) for cid, op in zip(targets, ops, strict=True) if "noop" not in op]
            results = self._bulk([op for _ignored, op in real], parallel=True)  # one op per key
            done = {cid for cid, op in zip(targets, ops, strict=True) if "noop" in op}
            for (cid, _op), (_kind, r) in zip(real, results, strict=True):
                if r["status"] in (200, 201):
                    done.add(cid)
                elif r["status"] != 409:
                    raise StoreError(f"counter {cid}: {r.get('error')}")
            for cid in done:
                pending.pop(cid, None)
            if not pending:
                return
            time.sleep(random.uniform(0, 0.01))
        raise StoreError("gave up updating counters: too many concurrent writers")

    def add_to_counters(self, collection: str, updates: list[tuple[str, str, float]]) -> None:
        self._apply_counters(_sum_deltas((collection, k, f, v) for k, f, v in updates), None)

    def get_counters(self, collection: str, key: str) -> dict[str, float]:
        raw = self._get("counters", _key_id(collection, key), source_includes=["values"])
        return {f: float(v) for f, v in (raw.src.get("values") or {}).items()} if raw is not None else {}

    def scan_counters(self, collection: str) -> Iterator[tuple[str, str, float]]:
        self._refresh("counters")
        for hits in self._scan("counters", {"term": {"collection": collection}}, source=["key", "values"]):
            for h in hits:
                key = h["_source"]["key"]
                for field, value in (h["_source"].get("values") or {}).items():
                    yield key, field, float(value)

    def delete_counters(self, collection: str, key: str) -> None:
        self._delete_quietly("counters", _key_id(collection, key))


def _sum_deltas(deltas: Iterable[tuple[str, str, str, float] | list[Any]]) -> dict[tuple[str, str], dict[str, float]]:
    acc: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for collection, key, field, value in deltas:
        acc[(collection, key)][field] += float(value)
    return {k: dict(v) for k, v in acc.items()}
