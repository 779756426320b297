"""Bench: what each Elasticsearch request of a next-content read costs — client CPU, node CPU, wall —
and what variants of those requests would cost, on the same node and data.

Why: on one machine the node, the API server and the load generator share the cores, so the node's CPU
per request counts as much as the server's. bench/next_content_cpu.py gives the totals per HTTP request;
this takes them apart by call. Loads bench/store.py's generated data (``--assets``, ``--events``,
``--users``) into a fresh index prefix, then, for each variant, ``--calls`` reads of random users one at
a time (after a warm-up of the same size), and reports per call: ``client_cpu_ms`` (this process),
``node_cpu_ms`` (the node's utime+stime from /proc, so the node must run on this machine), ``wall_ms``.
Variants are run in ``--rounds`` rounds, in turn, so the box's drift falls on all alike. Prints JSON.
Usage: python bench/next_content_calls.py --es-url URL [--assets 2000] [--events 20000] [--users 2000]
       [--calls 400] [--rounds 2] [--variants a,b,...]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from next_content_cpu import load, pid_cpu_s  # bench/next_content_cpu.py: the same data
from recommend import settings_for
from store import node_pid

from contenthub.audience.profiles import user_read
from contenthub.store import elastic_query as eq
from contenthub.store.elastic import ElasticStore
from contenthub.store.elastic.client import INTERNAL_EVENT_FIELDS
from contenthub.store.es_docs import key_id
from contenthub.store.query import EventQuery


def variants(store: ElasticStore) -> dict[str, Callable[[str], Any]]:
    """name → one read for user ``u``: the store's own read, its two requests alone, and alternatives."""
    spec = user_read()
    es = store.es
    events = store._alias("events")
    docs = store._alias("docs")
    counters = store._alias("counters")
    header = {"index": events, "ignore_unavailable": True, "allow_no_indices": True}

    def body(u: str, **extra: Any) -> dict[str, Any]:
        q = EventQuery(user_ids=(u,), limit=spec.newest)
        return {
            "query": eq.event_query(q),
            "sort": eq.event_sort(True),
            "size": spec.newest,
            "_source": {"excludes": list(INTERNAL_EVENT_FIELDS)},
            "track_total_hits": False,
            **extra,
        }

    def mget_specs(u: str) -> list[dict[str, Any]]:
        return [
            {"_index": docs, "_id": key_id(spec.docs, u)},
            {"_index": counters, "_id": key_id(spec.counters, u), "_source": ["values"]},
        ]

    def one_msearch(u: str) -> Any:
        """Documents and counters by an ids query in the same _msearch as the events: one request, but
        only as fresh as the last refresh."""
        return es.msearch(
            searches=[
                {"index": docs},
                {"query": {"ids": {"values": [key_id(spec.docs, u)]}}, "size": 1},
                {"index": counters},
                {"query": {"ids": {"values": [key_id(spec.counters, u)]}}, "size": 1, "_source": ["values"]},
                header,
                body(u),
            ]
        )

    json_h = {"accept": "application/json", "content-type": "application/json"}
    nd_h = {"accept": "application/json", "content-type": "application/x-ndjson"}
    mget_filter = "docs.found,docs._source,docs._seq_no,docs._primary_term,docs.error"
    msearch_filter = "responses.hits.hits._source,responses.error,responses.status"

    def ndjson(lines: list[dict[str, Any]]) -> bytes:
        return b"".join(orjson.dumps(line) + b"\n" for line in lines)

    return {
        "read_subjects": lambda u: store.read_subjects([u], spec),
        "mget_filter_path": lambda u: es.mget(docs=mget_specs(u), filter_path=mget_filter),
        "msearch_filter_path": lambda u: es.msearch(searches=[header, body(u)], filter_path=msearch_filter),
        "mget_perform_request": lambda u: es.perform_request(
            "POST", "/_mget", headers=json_h, body=orjson.dumps({"docs": mget_specs(u)})
        ),
        "msearch_perform_request": lambda u: es.perform_request(
            "POST", "/_msearch", headers=nd_h, body=ndjson([header, body(u)])
        ),
        "mget_perform_request_filter": lambda u: es.perform_request(
            "POST",
            "/_mget",
            params={"filter_path": mget_filter},
            headers=json_h,
            body=orjson.dumps({"docs": mget_specs(u)}),
        ),
        "msearch_perform_request_filter": lambda u: es.perform_request(
            "POST", "/_msearch", params={"filter_path": msearch_filter}, headers=nd_h, body=ndjson([header, body(u)])
        ),
        "mget": lambda u: es.mget(docs=mget_specs(u)),
        "get_x2": lambda u: (
            es.options(ignore_status=404).get(index=docs, id=key_id(spec.docs, u)),
            es.options(ignore_status=404).get(index=counters, id=key_id(spec.counters, u), source_includes=["values"]),
        ),
        "msearch": lambda u: es.msearch(searches=[header, body(u)]),
        "msearch_no_sort_id": lambda u: es.msearch(searches=[header, {**body(u), "sort": [{"ts": "desc"}]}]),
        "msearch_docvalues": lambda u: es.msearch(
            searches=[
                header,
                {
                    **body(u),
                    "_source": False,
                    "docvalue_fields": ["id", "type", "user_id", "asset_id", "channel", "group_id", "ts", "value"],
                },
            ]
        ),
        "msearch_source_includes": lambda u: es.msearch(
            searches=[
                header,
                {**body(u), "_source": {"includes": ["id", "type", "user_id", "asset_id", "channel", "ts", "value"]}},
            ]
        ),
        "msearch_request_cache": lambda u: es.msearch(searches=[{**header, "request_cache": True}, body(u)]),
        "search": lambda u: es.search(index=events, **body(u)),
        "size0": lambda u: es.msearch(searches=[header, {**body(u), "size": 0}]),
        "one_msearch": one_msearch,
    }


def run(fn: Callable[[str], Any], users: list[str], node: int | None) -> dict[str, float]:
    for u in users:  # warm-up
        fn(u)
    n0, c0, w0 = pid_cpu_s(node), time.process_time(), time.perf_counter()
    for u in users:
        fn(u)
    n = len(users)
    return {
        "client_cpu_ms": 1000 * (time.process_time() - c0) / n,
        "node_cpu_ms": 1000 * (pid_cpu_s(node) - n0) / n,
        "wall_ms": 1000 * (time.perf_counter() - w0) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=2000)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="")
    ap.add_argument("--es-url", default=os.environ.get("CONTENTHUB_TEST_ES_URL", ""))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="next-calls-"))
    settings = settings_for(tmp).model_copy(
        update={"store_url": args.es_url, "es_index_prefix": f"nextcalls-{uuid.uuid4().hex[:8]}"}
    )
    store = ElasticStore(args.es_url, settings)
    store.init()
    result: dict[str, Any] = {"bench": "next_content_calls", "load_avg_1m_at_start": round(os.getloadavg()[0], 1)}
    try:
        load(store, settings, args.assets, args.events, args.users)
        node = node_pid(store)
        rng = random.Random(3)
        users = [f"u{rng.randrange(args.users):06d}" for _ in range(args.calls)]
        table = variants(store)
        names = [n for n in (args.variants.split(",") if args.variants else table) if n]
        got: dict[str, list[dict[str, float]]] = defaultdict(list)
        for _round in range(args.rounds):
            for name in names:
                got[name].append(run(table[name], users, node))
                print(name, {k: round(v, 3) for k, v in got[name][-1].items()}, file=sys.stderr, flush=True)
        result["per_call"] = {
            name: {k: [round(r[k], 3) for r in rs] for k in ("client_cpu_ms", "node_cpu_ms", "wall_ms")}
            for name, rs in got.items()
        }
        result["load_avg_1m_at_end"] = round(os.getloadavg()[0], 1)
    finally:
        store.drop()
        store.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
