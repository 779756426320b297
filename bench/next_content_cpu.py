"""Bench: CPU per next-content HTTP request in one process, SQLite beside Elasticsearch, and where it goes.

For each backend: bench/store.py's generated data (``--assets`` assets with vectors, ``--events`` events
with the real profile deriver), the catalog built, then ``GET /v1/recommendations/users/{id}?channel=
wecom_1v1&n=3`` through the whole app (middleware, auth, route) over an in-process ASGI transport, one
request at a time, so the process CPU per request is the server's own (no load generator, no queueing).
Each store read the request makes is timed by CPU as well (``store_cpu_ms``: calls and CPU ms per
request, by method), which is what separates the two backends. Prints one JSON object. Usage:
    python bench/next_content_cpu.py [--assets 2000] [--events 20000] [--requests 400] [--es-url URL]
The ES URL defaults to CONTENTHUB_TEST_ES_URL (start a node with `bash scripts/elasticsearch.sh start`).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx
from elasticsearch._async.client._base import BaseClient as AsyncBaseClient
from elasticsearch._sync.client._base import BaseClient
from recommend import ADMIN_KEY, settings_for  # bench/recommend.py: the bench's admin key and settings
from store import MODEL, make_assets, make_events, make_vectors, node_pid  # bench/store.py: same data, node

from contenthub.app import create_app
from contenthub.audience.engagement import counter_deltas
from contenthub.hub import Hub
from contenthub.library import taxonomy
from contenthub.recommend.catalog import refresh_now
from contenthub.store.base import Store

IDLE_S = 5.0
READS = (
    "read_subjects",
    "read_subjects_async",
    "get_doc",
    "get_docs",
    "query_events",
    "get_counters",
    "doc_versions",
    "list_docs",
)


def load(store: Store, settings: Any, n_assets: int, n_events: int, n_users: int) -> None:
    assets = make_assets(n_assets, random.Random(7))
    by_id = {a["id"]: a for a in assets}
    for i, vecs in zip(range(0, len(assets), 2000), make_vectors([a["id"] for a in assets], 11), strict=True):
        store.put_assets(assets[i : i + 2000], model_id=MODEL, vectors=vecs)
    for batch in make_events(n_events, n_users, assets, 13):
        store.add_events(batch, derive=lambda new: counter_deltas(new, by_id, 30.0))
    taxonomy.ensure_defaults(store)
    refresh_now(Hub(settings=settings, store=store))


def timed_reads(cls: type) -> tuple[dict[str, float], Counter[str]]:
    """Wrap the store class's read methods with a CPU-time accumulator (this process only). Only the
    outermost read of a thread is counted: SQLite's ``read_subjects`` is made of the single reads."""
    spent: dict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    depth = threading.local()
    for name in READS:
        method = getattr(cls, name, None)
        if method is None:
            continue

        def wrapper(*a: Any, _m: Any = method, _n: str = name, **k: Any) -> Any:
            if getattr(depth, "n", 0):
                return _m(*a, **k)
            depth.n = 1
            t = time.process_time()
            try:
                return _m(*a, **k)
            finally:
                depth.n = 0
                spent[_n] += time.process_time() - t
                calls[_n] += 1

        async def awaited(*a: Any, _m: Any = method, _n: str = name, **k: Any) -> Any:
            # requests go one at a time, so the process's CPU across the awaits is this read's
            t = time.process_time()
            try:
                return await _m(*a, **k)
            finally:
                spent[_n] += time.process_time() - t
                calls[_n] += 1

        setattr(cls, name, functools.wraps(method)(awaited if inspect.iscoroutinefunction(method) else wrapper))
    return spent, calls


def counted_requests() -> Counter[str]:
    """Count the Elasticsearch clients' HTTP requests by endpoint (the round trips a request makes), sync and async."""
    sent: Counter[str] = Counter()
    real = BaseClient.perform_request

    def counting(self: Any, *a: Any, **k: Any) -> Any:
        sent[k.get("endpoint_id") or "other"] += 1
        return real(self, *a, **k)

    async def counting_async(self: Any, *a: Any, **k: Any) -> Any:
        sent[k.get("endpoint_id") or "other"] += 1
        return await real_async(self, *a, **k)

    BaseClient.perform_request = counting  # type: ignore[method-assign]
    real_async = AsyncBaseClient.perform_request
    AsyncBaseClient.perform_request = counting_async  # type: ignore[method-assign]
    return sent


def pid_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process, from /proc (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(settings: Any, paths: list[str], cls: type, node: int | None = None) -> dict[str, Any]:
    app = create_app(settings)
    spent, calls = timed_reads(cls)
    sent = counted_requests()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        for p in paths[:50]:  # warm-up: memos filled, connections open
            r = await client.get(p, headers=headers)
            r.raise_for_status()
        spent.clear()
        calls.clear()
        sent.clear()
        idle0 = pid_cpu_s(node)
        await asyncio.sleep(IDLE_S)  # the node's own background work (merges, refreshes) at rest, to subtract
        idle = pid_cpu_s(node) - idle0
        t, w, nc = time.process_time(), time.perf_counter(), pid_cpu_s(node)
        for p in paths:
            (await client.get(p, headers=headers)).raise_for_status()
        cpu, wall, node_cpu = time.process_time() - t, time.perf_counter() - w, pid_cpu_s(node) - nc
    n = len(paths)
    return {
        "requests": n,
        "cpu_ms_per_request": round(1000 * cpu / n, 2),
        "wall_ms_per_request": round(1000 * wall / n, 2),
        **(
            {
                "node_cpu_ms_per_request": round(1000 * node_cpu / n, 2),
                "node_idle_cpu_ms_per_s": round(1000 * idle / IDLE_S, 1),
            }
            if node is not None
            else {}
        ),
        "store_cpu_ms_per_request": round(1000 * sum(spent.values()) / n, 2),
        "store_reads": {
            k: {"calls_per_request": round(calls[k] / n, 2), "cpu_ms": round(1000 * spent[k] / n, 3)} for k in spent
        },
        "es_requests_per_request": {k: round(v / n, 2) for k, v in sorted(sent.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=2000)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--backends", default="sqlite,elasticsearch")
    ap.add_argument("--es-url", default=os.environ.get("CONTENTHUB_TEST_ES_URL", ""))
    args = ap.parse_args()
    rng = random.Random(3)
    paths = [
        f"/v1/recommendations/users/u{rng.randrange(args.users):06d}?channel=wecom_1v1&n=3"
        for _ in range(args.requests)
    ]
    result: dict[str, Any] = {"bench": "next_content_cpu", "load_avg_1m_at_start": round(os.getloadavg()[0], 1)}
    for name in args.backends.split(","):
        tmp = Path(tempfile.mkdtemp(prefix=f"next-cpu-{name}-"))
        settings = settings_for(tmp)
        store: Store
        if name == "sqlite":
            from contenthub.store.sqlite import SQLiteStore

            store = SQLiteStore(tmp / "contenthub.db", settings.media_dir)
        else:
            if not args.es_url:
                result[name] = {"skipped": "no --es-url / CONTENTHUB_TEST_ES_URL"}
                continue
            from contenthub.store.elastic import ElasticStore

            settings = settings.model_copy(
                update={"store_url": args.es_url, "es_index_prefix": f"nextcpu-{uuid.uuid4().hex[:8]}"}
            )
            store = ElasticStore(args.es_url, settings)
            store.init()  # type: ignore[attr-defined]
        cls = type(store)
        try:
            load(store, settings, args.assets, args.events, args.users)
            result[name] = asyncio.run(measure(settings, paths, cls, node_pid(store)))
        finally:
            if name != "sqlite":
                store.drop()  # type: ignore[attr-defined]
            store.close()
    if "cpu_ms_per_request" in result.get("sqlite", {}) and "cpu_ms_per_request" in result.get("elasticsearch", {}):
        result["es_over_sqlite_cpu"] = round(
            result["elasticsearch"]["cpu_ms_per_request"] / result["sqlite"]["cpu_ms_per_request"], 2
        )
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
