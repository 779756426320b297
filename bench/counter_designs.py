"""Bench: two script-free designs of exact counters on Elasticsearch, same node, same deltas, same run.

- ``kept``: one document per (collection, key), written by compare-and-set (``if_seq_no`` /
  ``if_primary_term``) from what this process wrote last (the store's ``_apply_counters``: no read unless
  another writer got there first); read by one real-time GET.
- ``delta_docs``: one document per (batch, collection, key) created with ``op_type=create`` under a
  deterministic id (the batch's id and the key: a retried batch creates nothing twice), no read at write
  time; read by summing the key's delta documents (a search after a refresh: a GET cannot sum).

The deltas are those of bench/store.py's events (the real profile deriver, batches of 5,000), summed per
batch as ``add_events`` sums them. Writes are timed alone (events are not written); reads are
``get_counters`` of ``--reads`` random users' profiles after every batch is in. Prints one JSON object.
    python bench/counter_designs.py --es-url URL [--assets 10000] [--events 100000] [--users 10000]
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
from collections import defaultdict
from pathlib import Path
from typing import Any

from store import BATCH, log, make_assets, make_events, pct  # bench/store.py: the same data

from contenthub.audience.engagement import counter_deltas
from contenthub.config import Settings
from contenthub.store.base import flat_deltas
from contenthub.store.elastic import ElasticStore
from contenthub.store.elastic.counters import _sum_deltas
from contenthub.store.es_docs import key_id


def delta_write(store: ElasticStore, alias: str, deltas: dict[tuple[str, str], dict[str, float]], batch: str) -> None:
    ops = [
        (
            {"create": {"_index": alias, "_id": f"{key_id(c, k)}/{batch}"}},
            {"collection": c, "key": k, "values": fields},
        )
        for (c, k), fields in deltas.items()
    ]
    bad = [r for _op, r in store._bulk(ops, parallel=True) if r["status"] not in (201, 409)]
    if bad:
        raise RuntimeError(bad[0])


def delta_read(store: ElasticStore, alias: str, collection: str, key: str) -> dict[str, float]:
    store.es.indices.refresh(index=alias)  # what read-your-own-writes costs a reader after a write
    acc: dict[str, float] = defaultdict(float)
    resp = store.es.search(
        index=alias,
        query={"bool": {"filter": [{"term": {"collection": collection}}, {"term": {"key": key}}]}},
        size=10_000,
        source=["values"],
    )
    for h in resp["hits"]["hits"]:
        for f, v in h["_source"]["values"].items():
            acc[f] += float(v)
    return dict(acc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--es-url", default=os.environ.get("CONTENTHUB_TEST_ES_URL", ""))
    args = ap.parse_args()
    assets = make_assets(args.assets, random.Random(7))
    by_id = {a["id"]: a for a in assets}
    batches = [
        _sum_deltas(flat_deltas(counter_deltas(b, by_id, 30.0)))
        for b in make_events(args.events, args.users, assets, 13)
    ]
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), store_url=args.es_url)
    out: dict[str, Any] = {
        "bench": "counter_designs",
        "load_avg_1m_at_start": round(os.getloadavg()[0], 1),
        "events": args.events,
        "batch": BATCH,
        "keys_per_batch": round(sum(map(len, batches)) / len(batches)),
    }
    users = [f"u{random.Random(3).randrange(args.users):06d}" for _ in range(args.reads)]
    for design in ("kept", "delta_docs"):
        store = ElasticStore(args.es_url, settings, prefix=f"bench-cd-{uuid.uuid4().hex[:8]}")
        try:
            alias = store.schema.ensure("counters")
            t = time.perf_counter()
            for deltas in batches:
                batch = uuid.uuid4().hex[:16]
                if design == "kept":
                    store._apply_counters(deltas, batch)
                else:
                    delta_write(store, alias, deltas, batch)
            write_s = time.perf_counter() - t
            reads = []
            for u in users:
                t = time.perf_counter()
                if design == "kept":
                    store.get_counters("profile", u)
                else:
                    delta_read(store, alias, "profile", u)
                reads.append(time.perf_counter() - t)
            store.es.indices.refresh(index=alias)
            docs = store.es.count(index=alias)["count"]
            out[design] = {
                "write_s": round(write_s, 2),
                "events_per_s_counters_only": round(args.events / write_s),
                "documents": docs,
                "read_profile": pct(reads),
            }
            log(f"{design}: {out[design]}")
        finally:
            store.drop()
            store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
