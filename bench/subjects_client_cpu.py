"""Bench: the client CPU of one ``read_subjects`` (next content's profile read) on Elasticsearch, by client.

bench/next_content_cpu.py's data (``--assets`` assets, ``--events`` events of ``--users`` users) in a fresh
index prefix, then ``--reads`` reads of random users' profiles (``profiles.user_read``): with the sync client
one after another, and through ``read_subjects_async`` with each async transport elastic_transport offers
(httpx, httpx without response compression, aiohttp), one at a time and 16 at a time on one event loop.
Reports per read: this process's CPU (the serving process's cost), the wall time, and the node's CPU
(from /proc). Variants take turns for ``--rounds`` rounds. Prints one JSON object. Usage:
    python bench/subjects_client_cpu.py [--reads 400] [--rounds 2] [--es-url URL]
The ES URL defaults to CONTENTHUB_TEST_ES_URL (start a node with `bash scripts/elasticsearch.sh start`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from elastic_transport import AiohttpHttpNode, BaseNode, HttpxAsyncHttpNode
from elasticsearch import AsyncElasticsearch
from next_content_cpu import load, pid_cpu_s  # bench/next_content_cpu.py: same data
from recommend import settings_for  # bench/recommend.py: the bench's settings
from store import node_pid  # bench/store.py: the node's pid

from contenthub.audience.profiles import user_read
from contenthub.store.elastic import ElasticStore
from contenthub.store.elastic.client import ElasticBase

VARIANTS: dict[str, tuple[type[BaseNode], dict[str, str] | None]] = {
    "httpx": (HttpxAsyncHttpNode, None),
    "httpx, accept-encoding: identity": (HttpxAsyncHttpNode, {"accept-encoding": "identity"}),
    "aiohttp": (AiohttpHttpNode, None),
}


def with_transport(node_class: type[BaseNode], headers: dict[str, str] | None) -> Callable[..., Any]:
    """An ``ElasticBase._async_es`` making the running loop's client on ``node_class`` (closed by the bench)."""

    async def make(self: ElasticBase) -> AsyncElasticsearch:
        loop = asyncio.get_running_loop()
        found = self._async_clients.get(loop)
        if found is None:
            client = AsyncElasticsearch(
                self._client_urls, node_class=node_class, headers=headers, **self._client_options()
            )
            self._async_clients[loop] = found = (client, None)  # type: ignore[assignment]
        return found[0]

    return make


def per_read(n: int, cpu: float, wall: float, node: float) -> dict[str, float]:
    return {
        "client_cpu_ms": round(1000 * cpu / n, 3),
        "wall_ms": round(1000 * wall / n, 3),
        "node_cpu_ms": round(1000 * node / n, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=2000)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--reads", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--es-url", default=os.environ.get("CONTENTHUB_TEST_ES_URL", ""))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="subjects-cpu-"))
    prefix = f"subjcpu-{uuid.uuid4().hex[:8]}"
    settings = settings_for(tmp).model_copy(update={"store_url": args.es_url, "es_index_prefix": prefix})
    store = ElasticStore(args.es_url, settings)
    store.init()
    rng = random.Random(3)
    users = [f"u{rng.randrange(args.users):06d}" for _ in range(args.reads)]
    spec = user_read()
    node = node_pid(store)
    result: dict[str, Any] = {"bench": "subjects_client_cpu", "load_avg_1m_at_start": round(os.getloadavg()[0], 1)}
    rounds: list[dict[str, Any]] = []
    try:
        load(store, settings, args.assets, args.events, args.users)
        for _round in range(args.rounds):
            row: dict[str, Any] = {}
            for u in users[:20]:
                store.read_subjects([u], spec)
            t, w, nc = time.process_time(), time.perf_counter(), pid_cpu_s(node)
            for u in users:
                store.read_subjects([u], spec)
            row["sync (urllib3)"] = per_read(
                len(users), time.process_time() - t, time.perf_counter() - w, pid_cpu_s(node) - nc
            )
            for label, (node_class, headers) in VARIANTS.items():
                ElasticBase._async_es = with_transport(node_class, headers)  # type: ignore[method-assign]
                for at_once in (1, 16):

                    async def run(at_once: int = at_once) -> tuple[float, float, float]:
                        gate = asyncio.Semaphore(at_once)

                        async def one(u: str) -> None:
                            async with gate:
                                await store.read_subjects_async([u], spec)

                        for u in users[:20]:
                            await one(u)
                        t, w, nc = time.process_time(), time.perf_counter(), pid_cpu_s(node)
                        await asyncio.gather(*(one(u) for u in users))
                        spent = time.process_time() - t, time.perf_counter() - w, pid_cpu_s(node) - nc
                        client, _holder = store._async_clients.pop(asyncio.get_running_loop())
                        await client.close()
                        return spent

                    row[f"{label}, {at_once} at once"] = per_read(len(users), *asyncio.run(run()))
            rounds.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        store.drop()
        store.close()
    result["rounds"] = rounds
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
