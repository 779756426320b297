"""Elasticsearch counters: one document per (collection, key), added to by compare-and-set once per batch,
with no read before the write when this process wrote the document last (``KnownCounters``)."""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from contenthub.config import Settings
from contenthub.store.elastic.client import APPLIED_RETENTION, MAX_RETRIES
from contenthub.store.elastic.documents import ElasticDocuments
from contenthub.store.es_docs import Raw, StoreError
from contenthub.store.es_docs import key_id as _key_id
from contenthub.store.es_docs import write_op as _write_op

KNOWN_COUNTERS = 50_000
"""Counter documents whose last write this process remembers (least recently written dropped first): a
batch touching only these writes without reading. Each holds the document's fields; on bench/store.py's
data (17,144 counter documents, 22 fields on average) that is about 1.3 KB each, so ~65 MB when full."""


@dataclass(frozen=True)
class Known:
    """A counter document as this process last wrote it: the concrete index it landed in and the
    ``_seq_no``/``_primary_term`` that write got, which the next compare-and-set names."""

    index: str
    raw: Raw


class KnownCounters:
    """The counter documents this process wrote, so the next batch's compare-and-set needs no read of
    them. Never trusted for a value: a write naming a stale ``_seq_no`` (another process wrote the key
    since, or it was deleted or overwritten) is refused with 409 by the primary shard, and the key is then
    read and written again. Only entries of the index the alias points at now are used, so a migration
    (`store migrate` copies into a new index whose ``_seq_no`` restart) never meets an old number."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._docs: OrderedDict[str, Known] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ids: Iterable[str], index: str) -> dict[str, Raw]:
        with self._lock:
            return {cid: k.raw for cid in ids if (k := self._docs.get(cid)) is not None and k.index == index}

    def put(self, cid: str, known: Known) -> None:
        with self._lock:
            self._docs[cid] = known
            self._docs.move_to_end(cid)
            while len(self._docs) > self._limit:
                self._docs.popitem(last=False)

    def forget(self, cid: str) -> None:
        with self._lock:
            self._docs.pop(cid, None)

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()


class ElasticCounters(ElasticDocuments):
    def _init_client(self, url: str, settings: Settings, prefix: str | None) -> None:
        super()._init_client(url, settings, prefix)
        self._known_counters = KnownCounters(KNOWN_COUNTERS)

    def drop(self) -> None:
        super().drop()
        self._known_counters.clear()

    def _counter_index(self, alias: str) -> str | None:
        """The concrete index behind the counters alias now (one small cluster-state read per batch)."""
        found = self.es.indices.get_alias(name=alias)
        return next(iter(found)) if len(found) == 1 else None

    # --- counters ----------------------------------------------------------------------
    def _apply_counters(self, deltas: dict[tuple[str, str], dict[str, float]], batch: str | None) -> None:
        """Add ``deltas`` with one conditional write per (collection, key) doc (``if_seq_no`` /
        ``if_primary_term``; no scripts in the server), retried on conflict. A doc this process wrote
        last is written from what it wrote (``KnownCounters``), with no read; the others are read first
        (one mget). Each doc is updated atomically; a doc that already holds ``batch`` is skipped, which
        makes re-applying a batch harmless."""
        if not deltas:
            return
        alias = self.schema.ensure("counters")
        pending = {_key_id(c, k): (c, k) for c, k in deltas}
        index = self._counter_index(alias)
        for attempt in range(MAX_RETRIES):
            known = self._known_counters.get(pending, index) if index is not None and attempt == 0 else {}
            unknown = [cid for cid in pending if cid not in known]
            raws = {**known, **(self._mget("counters", unknown) if unknown else {})}
            now = time.time()
            writes: list[tuple[str, Any]] = []  # (counter id, bulk op)
            sources: dict[str, dict[str, Any]] = {}
            done: set[str] = set()
            for cid, (collection, key) in pending.items():
                raw = raws.get(cid)
                src: dict[str, Any] = (
                    raw.src if raw is not None else {"collection": collection, "key": key, "values": {}, "applied": {}}
                )
                applied = dict(src.get("applied") or {})
                if batch is not None and batch in applied:
                    done.add(cid)
                    continue
                values = dict(src.get("values") or {})
                for field, delta in deltas[(collection, key)].items():
                    values[field] = float(values.get(field, 0.0)) + delta
                if batch is not None:
                    applied = {b: t for b, t in applied.items() if t > now - APPLIED_RETENTION}
                    applied[batch] = round(now, 1)
                sources[cid] = {"collection": collection, "key": key, "values": values, "applied": applied}
                writes.append((cid, _write_op(alias, cid, sources[cid], raw)))
            results = self._bulk([op for _ignored, op in writes], parallel=True)  # one op per key
            for (cid, _op), (_kind, r) in zip(writes, results, strict=True):
                if r["status"] in (200, 201):
                    done.add(cid)
                    self._known_counters.put(
                        cid, Known(r["_index"], Raw(sources[cid], r["_seq_no"], r["_primary_term"]))
                    )
                elif r["status"] == 409:
                    self._known_counters.forget(cid)  # someone else wrote it: read it next round
                else:
                    self._known_counters.forget(cid)
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
        cid = _key_id(collection, key)
        self._known_counters.forget(cid)
        self._delete_quietly("counters", cid)


def _sum_deltas(deltas: Iterable[tuple[str, str, str, float] | list[Any]]) -> dict[tuple[str, str], dict[str, float]]:
    acc: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for collection, key, field, value in deltas:
        acc[(collection, key)][field] += float(value)
    return {k: dict(v) for k, v in acc.items()}
