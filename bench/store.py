"""Bench: the SQLite and Elasticsearch stores on the same machine and the same generated data.

For each backend: load N assets with 384-d vectors, ingest M events through ``add_events`` with the real
profile deriver (``counter_deltas``) in batches of 5,000 (what the batch endpoint does after validation),
then time searches (BM25 text search and filtered kNN, each alone and one after the other as the library's
hybrid search runs them), the recommender's catalog build, next content for users
(``recommend.service.next_for_user``, in process, catalog already built: one at a time, then from
``--concurrency`` threads as bots ask at once), cap reservations (what a journey's due send takes besides
its pick: a cap slot per period and the asset, create-if-absent documents) and reserved picks
(``next_for_user(..., reserve=True)``, what ``GET /v1/journeys/due`` does per send), both from
``--concurrency`` threads. With ``--http-seconds S``, next content is also measured over HTTP: ``contenthub
serve`` (uvicorn, one worker, as scripts/run.sh starts it) on the same store and data, warmed up, then
``--http-concurrency`` keep-alive clients (asyncio, bench/recommend.py's load generator) ask
``GET /v1/recommendations/users/{id}?channel=...&n=3`` for S seconds. Prints one JSON object.

The data is synthetic and deterministic (seeded): Chinese titles from a small vocabulary, Zipf-distributed
asset popularity, vectors random unit vectors (the store is measured, not the embedding model).
Elasticsearch runs with production settings (refresh_interval 1 s; no write waits for a refresh, the
next search of the writing process refreshes once). Usage:
    python bench/store.py [--assets 100000] [--events 1000000] [--es-url URL] [--backends sqlite,elasticsearch]
        [--concurrency 8] [--reservations 2000] [--picks 200] [--http-seconds 20 --http-concurrency 16]
The ES URL defaults to CONTENTHUB_TEST_ES_URL (start a node with `bash scripts/elasticsearch.sh start`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from recommend import _load, serving, wait_warm  # bench/recommend.py: `contenthub serve` and its load generator

from contenthub.audience import reservations
from contenthub.audience.caps import CapRule
from contenthub.audience.engagement import counter_deltas
from contenthub.config import DEFAULT_MODEL_DIR, Settings
from contenthub.embeddings import model_id_for
from contenthub.hub import Hub
from contenthub.library import taxonomy
from contenthub.library.demo_corpus import SCENES
from contenthub.recommend import service
from contenthub.recommend.catalog import build_catalog, refresh_now, refresh_stats
from contenthub.store.base import Store
from contenthub.store.query import AssetFilter
from contenthub.timeutil import to_iso

DIM = 384
# Random vectors of the default model's size, recorded as that model's: `contenthub serve` (--http-seconds)
# would otherwise re-embed every asset before serving.
MODEL = model_id_for(DEFAULT_MODEL_DIR)
BATCH = 5000
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
WORDS = [
    "护眼",
    "台灯",
    "咖啡",
    "手冲",
    "冷萃",
    "优惠券",
    "新人",
    "直播",
    "抽奖",
    "会员",
    "复购",
    "面膜",
    "防晒",
    "跑鞋",
    "瑜伽",
    "母婴",
    "奶粉",
    "宠物",
    "猫粮",
    "茶叶",
    "红茶",
    "口红",
    "香水",
    "家电",
    "净化器",
    "耳机",
    "露营",
    "帐篷",
    "早餐",
    "燕麦",
    "健身",
    "蛋白粉",
    "旅行",
    "酒店",
    "课程",
    "英语",
    "阅读",
    "书单",
    "装修",
    "收纳",
]
CHANNELS = ["mp_subscription", "mp_service", "wecom_1v1", "wecom_group", "moments", "channels", "xiaohongshu"]
KINDS = ["article", "poster", "video", "coupon", "script"]
CTYPES = ["educational", "practical", "entertainment", "interactive", "promotional", "brand_story"]
TYPES = (
    ["delivered"] * 40
    + ["open"] * 30
    + ["click"] * 18
    + ["favorite"] * 3
    + ["share"] * 3
    + ["convert"] * 4
    + ["mute"] * 1
    + ["served"] * 1
)


def make_assets(n: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        tags = rng.sample(WORDS, 3)
        created = NOW - timedelta(days=rng.uniform(0, 365))
        out.append(
            {
                "id": f"a{i:06d}",
                "title": f"{tags[0]}{rng.choice(['指南', '入门', '小课堂', '清单', '测评'])}：{tags[1]}与{tags[2]} 第{i}期",
                "body": f"{tags[0]}、{tags[1]}和{tags[2]}的实用内容，适合{rng.choice(WORDS)}爱好者。",
                "kind": rng.choice(KINDS),
                "content_type": rng.choice(CTYPES),
                "scenes": rng.sample(SCENES, 2),
                "channels": rng.sample(CHANNELS, 3),
                "tags": tags,
                "stages": [],
                "status": "approved" if rng.random() < 0.9 else "draft",
                "valid_from": None,
                "valid_until": to_iso(NOW + timedelta(days=rng.uniform(-30, 300))) if rng.random() < 0.1 else None,
                "created_at": to_iso(created),
                "updated_at": to_iso(created),
                "version": 1,
            }
        )
    return out


def make_vectors(ids: list[str], seed: int) -> Iterator[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    for i in range(0, len(ids), 2000):
        chunk = ids[i : i + 2000]
        m = rng.standard_normal((len(chunk), DIM)).astype(np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        yield dict(zip(chunk, m, strict=True))


def make_events(m: int, n_users: int, assets: list[dict[str, Any]], seed: int) -> Iterator[list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    n = len(assets)
    for start in range(0, m, BATCH):
        size = min(BATCH, m - start)
        users = rng.integers(0, n_users, size)
        picks = np.minimum(rng.zipf(1.3, size) - 1, n - 1)
        ages = rng.uniform(0, 90 * 86400, size)
        types = rng.integers(0, len(TYPES), size)
        batch = []
        for j in range(size):
            a = assets[int(picks[j])]
            etype = TYPES[int(types[j])]
            batch.append(
                {
                    "id": f"ev{start + j:08d}",
                    "type": etype,
                    "user_id": f"u{int(users[j]):06d}",
                    "asset_id": a["id"],
                    "channel": a["channels"][j % 3],
                    "group_id": None,
                    "recommendation_id": None,
                    "ts": to_iso(NOW - timedelta(seconds=float(ages[j]))),
                    "value": 49.0 if etype == "convert" else None,
                }
            )
        yield batch


def pct(samples: list[float]) -> dict[str, float]:
    xs = sorted(samples)
    return {
        "p50_ms": round(statistics.median(xs) * 1000, 2),
        "p99_ms": round(xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))] * 1000, 2),
        "mean_ms": round(statistics.fmean(xs) * 1000, 2),
        "n": len(xs),
    }


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def log(msg: str) -> None:
    print(f"[bench/store] {msg}", file=sys.stderr, flush=True)


def run_backend(name: str, store: Store, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    out: dict[str, Any] = {}
    assets = make_assets(args.assets, rng)
    by_id = {a["id"]: a for a in assets}

    t = time.perf_counter()
    # each chunk of assets with its vectors in one call, as the library stores what it embedded
    for i, vecs in zip(range(0, len(assets), 2000), make_vectors([a["id"] for a in assets], 11), strict=True):
        store.put_assets(assets[i : i + 2000], model_id=MODEL, vectors=vecs)
    out["asset_load"] = {
        "assets": len(assets),
        "seconds": round(time.perf_counter() - t, 1),
        "assets_per_s": round(len(assets) / (time.perf_counter() - t)),
    }
    log(f"{name}: {len(assets)} assets + vectors in {out['asset_load']['seconds']} s")

    t = time.perf_counter()
    stored = 0
    for k, batch in enumerate(make_events(args.events, args.users, assets, 13)):
        stored += len(store.add_events(batch, derive=lambda new: counter_deltas(new, by_id, 30.0)))
        if k % 20 == 0:
            log(f"{name}: {stored} events, {stored / (time.perf_counter() - t):.0f}/s")
    elapsed = time.perf_counter() - t
    out["ingest"] = {
        "events": stored,
        "seconds": round(elapsed, 1),
        "events_per_s": round(stored / elapsed),
        "batch": BATCH,
    }
    log(f"{name}: ingest {out['ingest']}")
    if args.catalog_only:
        return out  # the builds come when every store is loaded (catalog_builds)

    # searches: a one- or two-word query (BM25) and a filtered kNN around a random asset's vector
    flt = AssetFilter(statuses=("approved",), valid_at=NOW)
    qrng = random.Random(99)
    probe_ids = [a["id"] for a in qrng.sample(assets, min(len(assets), 50))]
    _, probe_vecs = store.get_vectors(probe_ids)
    noise = np.random.default_rng(5)
    text_t, knn_t, hybrid_t = [], [], []
    for i in range(args.queries + 5):
        words = qrng.sample(WORDS, qrng.choice([1, 2]))
        q = " ".join(words)
        v = probe_vecs[i % len(probe_vecs)] + 0.3 * noise.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM)
        v /= np.linalg.norm(v)
        scene_flt = AssetFilter(statuses=("approved",), valid_at=NOW, scenes=(qrng.choice(SCENES),))
        a = timed(lambda: store.text_search_assets(q, flt, limit=200))  # noqa: B023
        b = timed(lambda: store.knn_assets(v, scene_flt, k=50))  # noqa: B023
        if i >= 5:
            text_t.append(a)
            knn_t.append(b)
            hybrid_t.append(a + b)
    out["search"] = {"hybrid": pct(hybrid_t), "text_bm25": pct(text_t), "knn_filtered": pct(knn_t)}
    log(f"{name}: search {out['search']['hybrid']}")

    hub = Hub(settings=settings, store=store)
    taxonomy.ensure_defaults(store)
    out["catalog_build_s"] = round(timed(lambda: refresh_now(hub)), 1)
    log(f"{name}: catalog built in {out['catalog_build_s']} s")
    urng = random.Random(3)
    users = [f"u{urng.randrange(args.users):06d}" for _ in range(args.picks + 5)]
    channels = ["wecom_1v1", "moments", "mp_service"]
    samples = []
    for i, u in enumerate(users):
        d = timed(lambda: service.next_for_user(hub, u, channels[i % 3], n=3, now=NOW, seed=i))  # noqa: B023
        if i >= 5:
            samples.append(d)
    out["next_content"] = pct(samples)
    log(f"{name}: next content {out['next_content']}")
    out["next_content_concurrent"] = concurrent(
        lambda i: service.next_for_user(hub, users[i % len(users)], channels[i % 3], n=3, now=NOW, seed=i),
        args.picks,
        args.concurrency,
    )
    log(f"{name}: next content at concurrency {args.concurrency}: {out['next_content_concurrent']}")
    if args.http_seconds:
        paths = [f"/v1/recommendations/users/{u}?channel={channels[i % 3]}&n=3" for i, u in enumerate(users)]
        out["next_content_http"] = next_over_http(
            settings, paths, args.http_concurrency, args.http_seconds, node_pid(store), args.http_workers
        )
        log(f"{name}: next content over HTTP: {out['next_content_http']}")
    out["reservations"] = concurrent(lambda i: reserve_send(hub, i), args.reservations, args.concurrency)
    log(f"{name}: reservations {out['reservations']}")
    out["reserved_picks"] = concurrent(
        lambda i: service.next_for_user(hub, f"r{i:06d}", "wecom_1v1", n=1, now=NOW, seed=i, reserve=True),
        args.picks,
        args.concurrency,
    )
    log(f"{name}: reserved picks {out['reserved_picks']}")
    return out


class CatalogProfile:
    """``build_catalog`` on one store (what a changed library costs a request: assets, vectors, topics,
    statistics and the engagement model's fit), each build on a fresh hub (nothing lent from the last), with
    the wall time inside each store method (a method calling another counts in both), its calls, and for
    Elasticsearch the round trips and response bytes; then ``refresh_stats`` alone (the background refresh)."""

    def __init__(self, name: str, store: Store, settings: Settings) -> None:
        self.name, self.store, self.settings = name, store, settings
        taxonomy.ensure_defaults(store)
        self.calls: dict[str, list[float]] = {}
        self.restore = _time_store_methods(store, self.calls)
        self.wire = _count_round_trips(store)
        self.runs: list[dict[str, Any]] = []

    def build(self) -> None:
        self.calls.clear()
        self.wire.update(requests=0, response_bytes=0)
        t = time.perf_counter()
        self.cat = build_catalog(Hub(settings=self.settings, store=self.store))
        total = time.perf_counter() - t
        by_time = sorted(self.calls.items(), key=lambda kv: -kv[1][1])
        self.runs.append(
            {"build_s": round(total, 2), "store_s": {k: [v[0], round(v[1], 2)] for k, v in by_time}, **self.wire}
        )
        log(f"{self.name}: catalog build {self.runs[-1]}")

    def result(self) -> dict[str, Any]:
        self.calls.clear()
        self.wire.update(requests=0, response_bytes=0)
        t = time.perf_counter()
        refresh_stats(Hub(settings=self.settings, store=self.store), self.cat, refit=False)
        stats = {"refresh_stats_s": round(time.perf_counter() - t, 2), "store_s": dict(self.calls), **self.wire}
        self.restore()
        return {"builds": self.runs, "build_s": [r["build_s"] for r in self.runs], "stats_refresh": stats}


def catalog_builds(loaded: list[tuple[str, Store, Settings]], builds: int) -> dict[str, Any]:
    """``builds`` catalog builds per store, taking turns build by build, so on a shared box both stores'
    builds meet the same load; the ratio of each build to the SQLite build just before it is reported."""
    profiles = [CatalogProfile(name, store, settings) for name, store, settings in loaded]
    for _ in range(builds):
        for p in profiles:
            p.build()
    out: dict[str, Any] = {p.name: p.result() for p in profiles}
    if "sqlite" in out and "elasticsearch" in out:
        pairs = zip(out["elasticsearch"]["build_s"], out["sqlite"]["build_s"], strict=True)
        out["elasticsearch_over_sqlite"] = [round(e / q, 2) for e, q in pairs]
    return out


PROFILED = (
    "assets_with_vectors",
    "filter_assets",
    "get_assets",
    "get_vectors",
    "scan_counters",
    "event_counts",
    "get_doc",
    "put_doc",
    "list_docs",
)


def _time_store_methods(store: Store, calls: dict[str, list[float]]) -> Callable[[], None]:
    """Wrap the store methods the catalog build calls (instance attributes over the class's) so each call's
    wall time is added up; a generator's time is the time spent inside its ``next``."""

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*a: Any, **kw: Any) -> Any:
            cell = calls.setdefault(name, [0, 0.0])
            cell[0] += 1
            t = time.perf_counter()
            result = fn(*a, **kw)
            cell[1] += time.perf_counter() - t
            if isinstance(result, Iterator):
                return _timed_iter(result, cell)
            return result

        return timed_call

    wrapped = [name for name in PROFILED if hasattr(store, name)]  # (an older checkout lacks the newer ones)
    for name in wrapped:
        setattr(store, name, wrap(name, getattr(store, name)))

    def restore() -> None:
        for name in wrapped:
            delattr(store, name)

    return restore


def _timed_iter(it: Iterator[Any], cell: list[float]) -> Iterator[Any]:
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            cell[1] += time.perf_counter() - t
            return
        cell[1] += time.perf_counter() - t
        yield item


def _count_round_trips(store: Store) -> dict[str, int]:
    """Requests to the node and their response bytes (Elasticsearch only: the client's JSON decoder counts)."""
    wire: dict[str, int] = {"requests": 0, "response_bytes": 0}
    es = getattr(store, "es", None)
    if es is None:
        return wire
    for serializer in es.transport.serializers.serializers.values():
        loads = serializer.loads

        def counted(data: Any, _loads: Callable[[Any], Any] = loads) -> Any:
            wire["requests"] += 1
            wire["response_bytes"] += len(data)
            return _loads(data)

        serializer.loads = counted
    return wire


def close_store(store: Store, data_dir: Path, keep: bool) -> None:
    if not keep and store.backend == "elasticsearch":
        store.drop()  # type: ignore[attr-defined]
    store.close()
    if not keep and store.backend == "sqlite":
        shutil.rmtree(data_dir, ignore_errors=True)


def node_pid(store: Store) -> int | None:
    """The pid of the Elasticsearch node the store talks to, when it runs on this machine (its CPU is taken
    from the same cores as the server's, so it counts per request as much as ours)."""
    es = getattr(store, "es", None)
    if es is None:
        return None
    nodes = es.nodes.info(node_id="_local", metric="process")["nodes"]
    pid = int(next(iter(nodes.values()))["process"]["id"])
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def next_over_http(
    settings: Settings, paths: list[str], concurrency: int, seconds: float, node: int | None = None, workers: int = 1
) -> dict[str, Any]:
    """``contenthub serve`` on this run's store (same data folder; for Elasticsearch the same URL and index
    prefix), warmed up until it answers quickly, then ``concurrency`` clients for ``seconds``; with
    ``node``, the Elasticsearch node's CPU per request too."""
    store_env = {"CONTENTHUB_STORE_URL": settings.store_url, "CONTENTHUB_ES_INDEX_PREFIX": settings.es_index_prefix}
    saved = {k: os.environ.get(k) for k in store_env}
    os.environ.update(store_env)  # the server's environment is this one's plus the bench's settings
    try:
        with serving(settings.data_dir, workers) as (port, server):
            warm_s = wait_warm(port, server, workers)
            res = asyncio.run(
                _load("127.0.0.1", port, paths, concurrency, seconds, warmup=3.0, server_pid=server.pid, node_pid=node)
            )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"concurrency": concurrency, "workers": workers, "warm_up_s": round(warm_s, 1), **res}


RULE = CapRule(channel="wecom_1v1", per_day=1, per_month=4)


def reserve_send(hub: Hub, i: int) -> None:
    """What a journey's due send does besides the pick: take the cap slots of its periods and the asset
    (two create-if-absent writes per period plus one). Every fifth send asks for a target already served
    today, so the 'full' path is measured too."""
    target = f"t{i // 5 if i % 5 == 4 else i:07d}"
    _, full = reservations.take_cap_slot(hub, target, RULE, NOW, f"rec{i}")
    if full is None:
        reservations.take_asset(hub, target, "wecom_1v1", f"a{i % 1000:06d}", NOW, 30, f"rec{i}")


def concurrent(call: Callable[[int], Any], n: int, threads: int) -> dict[str, float]:
    """``n`` calls from ``threads`` threads (bots asking at once): calls per second and latency."""
    samples: list[float] = []

    def one(i: int) -> None:
        samples.append(timed(lambda: call(i)))

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - t
    return {"per_s": round(n / elapsed, 1), "concurrency": threads, **pct(samples)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--picks", type=int, default=200)
    ap.add_argument("--reservations", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--backends", default="sqlite,elasticsearch")
    ap.add_argument("--http-seconds", type=float, default=0.0, help="also measure next content over HTTP (0: not)")
    ap.add_argument("--http-concurrency", type=int, default=16)
    ap.add_argument("--http-workers", type=int, default=1, help="`contenthub serve --workers` for --http-seconds")
    ap.add_argument("--es-url", default=os.environ.get("CONTENTHUB_TEST_ES_URL", ""))
    ap.add_argument(
        "--catalog-only",
        action="store_true",
        help="after loading, only profile the catalog build (per store method, round trips, bytes)",
    )
    ap.add_argument("--catalog-builds", type=int, default=3, help="catalog builds with --catalog-only")
    ap.add_argument("--keep", action="store_true", help="keep the data (SQLite folder, ES indices)")
    args = ap.parse_args()

    result: dict[str, Any] = {
        "bench": "store",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_at_start": round(os.getloadavg()[0], 1),
        },
        "size": {"assets": args.assets, "events": args.events, "users": args.users, "vector_dim": DIM},
    }
    loaded: list[tuple[str, Store, Settings]] = []  # with --catalog-only: stores kept open for the builds
    for name in args.backends.split(","):
        tmp = Path(tempfile.mkdtemp(prefix=f"store-bench-{name}-"))
        if name == "sqlite":
            from contenthub.store.sqlite import SQLiteStore

            settings = Settings(data_dir=tmp)
            store: Store = SQLiteStore(tmp / "contenthub.db", settings.media_dir)
        else:
            if not args.es_url:
                result[name] = {"skipped": "no --es-url / CONTENTHUB_TEST_ES_URL"}
                continue
            from contenthub.store.elastic import ElasticStore

            settings = Settings(data_dir=tmp, store_url=args.es_url, es_index_prefix=f"bench-{uuid.uuid4().hex[:8]}")
            store = ElasticStore(args.es_url, settings)
            store.init()  # type: ignore[attr-defined]
            result.setdefault("elasticsearch_node", {})
            health = store.es.cluster.health()  # type: ignore[attr-defined]
            nodes = store.es.nodes.info(filter_path="nodes.*.version,nodes.*.jvm.mem.heap_max_in_bytes")  # type: ignore[attr-defined]
            node = next(iter(nodes["nodes"].values()))
            result["elasticsearch_node"] = {
                "version": node["version"],
                "nodes": health["number_of_nodes"],
                "heap_mb": node["jvm"]["mem"]["heap_max_in_bytes"] // 2**20,
            }
        try:
            result[name] = run_backend(name, store, settings, args)
        except BaseException:
            close_store(store, tmp, args.keep)
            raise
        loaded.append((name, store, settings))
        if not args.catalog_only:
            close_store(store, tmp, args.keep)
    if args.catalog_only:
        result["catalog"] = catalog_builds(loaded, args.catalog_builds)
        for _name, store, settings in loaded:
            close_store(store, settings.data_dir, args.keep)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
