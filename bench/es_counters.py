"""Bench: two ways to keep exact event counters on Elasticsearch without scripts, on the same batches.

- ``per_key_cas`` (what store/elastic/counters.py does): one document per (collection, key); a batch's deltas are
  added by read (mget) → add → conditional write (``if_seq_no``), retried on conflict; each document
  remembers the batches it took, so re-applying a batch after a crash changes nothing. Reads are one
  real-time GET.
- ``delta_docs``: one document per (batch, collection, key) holding that batch's deltas, created with
  ``op_type=create`` and an id derived from the batch (re-sending a batch is a 409: exact without any
  bookkeeping); a read sums a key's delta documents with a nested terms/sum aggregation — a search, so
  it needs a refresh first and grows with the number of batches until something folds them.

Same generated events and deriver as bench/store.py (profile, asset statistics and popularity deltas of
batches of 5,000 events). Prints JSON: write throughput (increments/s) and read latency of each design.
Usage: python bench/es_counters.py --es-url URL [--events 100000] [--reads 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.store import make_assets, make_events, pct
from contenthub.audience.engagement import counter_deltas
from contenthub.config import Settings
from contenthub.store.base import flat_deltas
from contenthub.store.elastic import ElasticStore

DELTA_MAPPING = {
    "dynamic": False,
    "properties": {
        "collection": {"type": "keyword"},
        "key": {"type": "keyword"},
        "batch": {"type": "keyword"},
        "v": {"type": "nested", "properties": {"f": {"type": "keyword"}, "x": {"type": "double"}}},
    },
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--es-url", default=os.environ.get("CONTENTHUB_TEST_ES_URL", ""))
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--assets", type=int, default=5000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--reads", type=int, default=200)
    args = ap.parse_args()
    assets = make_assets(args.assets, random.Random(7))
    by_id = {a["id"]: a for a in assets}
    batches = [counter_deltas(b, by_id, 30.0) for b in make_events(args.events, args.users, assets, 13)]
    increments = sum(len(flat_deltas(d)) for d in batches)
    rng = random.Random(5)
    probe = [rng.choice(d) for d in batches for _ in range(max(1, args.reads // len(batches)))][: args.reads]
    prefix = f"bench-counters-{uuid.uuid4().hex[:6]}"
    store = ElasticStore(args.es_url, Settings(data_dir=Path(tempfile.mkdtemp()), es_index_prefix=prefix))
    out: dict[str, Any] = {
        "bench": "es_counters",
        "events": args.events,
        "batches": len(batches),
        "increments": increments,
        "load_avg_1m_at_start": round(os.getloadavg()[0], 1),
    }
    try:
        store.init()
        # per-key documents, compare-and-set (the store's own code path, with batch ids as after a crash)
        t = time.perf_counter()
        for deltas in batches:
            store._apply_counters({(c, k): f for c, k, f in deltas}, uuid.uuid4().hex[:16])
        elapsed = time.perf_counter() - t
        reads = []
        for c, k, _ in probe:
            t = time.perf_counter()
            store.get_counters(c, k)
            reads.append(time.perf_counter() - t)
        out["per_key_cas"] = {
            "seconds": round(elapsed, 1),
            "increments_per_s": round(increments / elapsed),
            "read": pct(reads),
        }

        # delta documents, folded by aggregation at read time
        index = f"{prefix}-deltas"
        store.es.indices.create(index=index, mappings=DELTA_MAPPING, settings={"number_of_replicas": 0})
        t = time.perf_counter()
        for deltas in batches:
            batch = uuid.uuid4().hex[:16]
            ops: list[Any] = []
            for c, k, fields in deltas:
                ops.append(
                    (
                        {"create": {"_index": index, "_id": f"{batch}|{c}|{k}"[:500]}},
                        {"collection": c, "key": k, "batch": batch, "v": [{"f": f, "x": x} for f, x in fields.items()]},
                    )
                )
            store._bulk(ops)
        elapsed = time.perf_counter() - t
        store.es.indices.refresh(index=index)
        reads = []
        for c, k, _ in probe:
            t = time.perf_counter()
            store.es.search(
                index=index,
                size=0,
                query={"bool": {"filter": [{"term": {"collection": c}}, {"term": {"key": k}}]}},
                aggs={
                    "v": {
                        "nested": {"path": "v"},
                        "aggs": {
                            "f": {"terms": {"field": "v.f", "size": 10_000}, "aggs": {"x": {"sum": {"field": "v.x"}}}}
                        },
                    }
                },
            )
            reads.append(time.perf_counter() - t)
        out["delta_docs"] = {
            "seconds": round(elapsed, 1),
            "increments_per_s": round(increments / elapsed),
            "read_after_refresh": pct(reads),
        }
    finally:
        store.drop()
        store.es.indices.delete(index=f"{prefix}-deltas", ignore_unavailable=True)
        store.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
