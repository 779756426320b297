"""Search benchmark: relevance on the demo library and latency at 10,000 and 100,000 assets, per store.

Prints JSON. Usage:
  PYTHONPATH=. .venv/bin/python bench/search.py [--stores sqlite,elasticsearch] [--es-url URL]
      [--sizes 10000,100000] [--queries 300] [--calibrate 2 2.5 3 4]

- quality: the 400-asset demo library (`contenthub demo`'s assets, embedded with the configured model)
  searched with every query of tests/data/search_relevance.jsonl: NDCG@10, precision@5 (graded queries) and
  the share of nonsense queries answered with no match. ``--calibrate Z…`` repeats it per semantic z
  (library/relevance.py) on SQLite.
- ocr (``--ocr``): the demo posters (270×480 PNG, two printed lines each) read one after another by
  library.ocr after the engine is loaded: seconds per poster and whether every printed line was read.
- latency (``--keep DIR`` keeps and reuses the loaded stores; ``load_s`` is null when reused): N generated demo assets stored directly (no per-asset embedding: each asset gets the real vector
  of the demo title it shares its position modulo 400 with, plus small noise, renormalised — the vector
  distribution of a real library at a fraction of the embedding time), then the relevance set's queries,
  cycled with random facet filters, through ``library.search.search`` in hybrid mode: query embedding,
  word/pinyin match and count, kNN with filters, fusion and loading the page. p50/p99 ms per store.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contenthub.config import DEFAULT_MODEL_DIR, Settings  # noqa: E402
from contenthub.demo import _load_assets  # noqa: E402
from contenthub.embeddings import Embedder, load_embedder  # noqa: E402
from contenthub.hub import Hub, open_hub  # noqa: E402
from contenthub.library import ocr, ocr_jobs, search, search_eval  # noqa: E402
from contenthub.library.demo_corpus import generate_assets, generate_media_bytes, poster_text  # noqa: E402
from contenthub.store.query import AssetFilter  # noqa: E402
from contenthub.timeutil import to_iso, utcnow  # noqa: E402

RELEVANCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "search_relevance.jsonl"
SCENES = [None, None, "education", "first_order", "holiday", "live_preview", "membership"]
CHANNELS = [None, None, "wecom_group", "moments", "mp_subscription"]


def open_bench_hub(store: str, emb: Embedder, es_url: str | None, keep: Path | None = None, n: int = 0) -> Hub:
    """A fresh store, or with ``keep`` the one kept there for this size by an earlier run (reused if full)."""
    if keep is not None:
        tmp = keep / f"{store}-{n}"
        tmp.mkdir(parents=True, exist_ok=True)
        prefix = f"bench-search-keep-{n}"
    else:
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-search-{store}-"))
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
    if store == "sqlite":
        settings = Settings(data_dir=tmp)
    else:
        settings = Settings(data_dir=tmp, store_url=es_url or "", es_index_prefix=prefix)
    return open_hub(settings, embedder=emb)


def drop(hub: Hub, keep: bool = False) -> None:
    if hub.store.backend == "elasticsearch" and not keep:
        hub.store.drop()  # type: ignore[attr-defined]
    hub.close()


def quality(hub: Hub, rows: list[dict[str, Any]], zs: list[float] | None) -> dict[str, Any]:
    t = time.perf_counter()
    _load_assets(hub, 400, False)
    ocr_jobs.wait_idle(hub)  # the demo posters' printed text, read in the background
    out: dict[str, Any] = {"load_s": round(time.perf_counter() - t, 1)}
    out.update(search_eval.evaluate(hub, rows))
    if zs:
        out["calibration"] = {str(z): search_eval.evaluate(hub, rows, semantic_z=z) for z in zs}
    return out


def fill(hub: Hub, n: int, base: np.ndarray) -> float:
    """Store n generated assets with vectors near the demo library's real ones; returns seconds."""
    t = time.perf_counter()
    rng = np.random.default_rng(1)
    now = to_iso(utcnow())
    docs = generate_assets(n, seed=11)
    for start in range(0, n, 1000):
        batch = []
        for i, d in enumerate(docs[start : start + 1000], start=start):
            d = {k: v for k, v in d.items() if k not in ("vertical", "brand")}
            batch.append(
                {
                    **d,
                    "id": f"bench-{i:06d}",
                    "status": "approved" if i % 10 else "draft",
                    "created_at": now,
                    "updated_at": now,
                    "created_by": "bench",
                    "updated_by": "bench",
                    "version": 1,
                    "body": d["body"],
                }
            )
        hub.store.put_assets(batch)
        vecs = base[[i % len(base) for i in range(start, start + len(batch))]]
        vecs = vecs + rng.normal(0, 0.01, vecs.shape).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        hub.store.put_vectors(hub.embedder.model_id, {a["id"]: v for a, v in zip(batch, vecs, strict=True)})
    return time.perf_counter() - t


def latency(hub: Hub, rows: list[dict[str, Any]], n_queries: int) -> dict[str, Any]:
    """Per query, ``p50/p99``: the whole search as a user waits for it — a query vector cache miss, as for a new
    query (encoding, matching, kNN, fusion, counting, loading the page; the code may overlap its parts). Then, for
    the breakdown, the same query's embedding alone (``encode``, again a miss) and the search with that vector cached
    (``after_encode``: the store side)."""
    rng = random.Random(3)
    search.warm_up(hub)
    lat: list[float] = []
    enc: list[float] = []
    rest: list[float] = []
    totals = []
    cache = hub.embedder.memo.setdefault("search.query_vectors", {})
    for i in range(n_queries):
        row = rows[i % len(rows)]
        req = search_eval.request_for(row, limit=20)
        if not row.get("filters"):
            s, c = rng.choice(SCENES), rng.choice(CHANNELS)
            req.scenes, req.channels = ((s,) if s else ()), ((c,) if c else ())
        q = search.clean_query(req.q)
        cache.pop(q, None)
        t = time.perf_counter()
        page = search.search(hub, req)
        lat.append((time.perf_counter() - t) * 1000)
        cache.pop(q, None)
        t = time.perf_counter()
        search.query_vector(hub.embedder, q)
        enc.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        search.search(hub, req)
        rest.append((time.perf_counter() - t) * 1000)
        totals.append(page.total)

    def pct(xs: list[float]) -> dict[str, float]:
        xs = sorted(xs)
        return {
            "p50_ms": round(statistics.median(xs), 1),
            "p99_ms": round(xs[int(0.99 * (len(xs) - 1))], 1),
            "max_ms": round(xs[-1], 1),
        }

    return {
        "queries": n_queries,
        **pct(lat),
        "encode": pct(enc),
        "after_encode": pct(rest),
        "median_total": statistics.median(totals),
    }


def ocr_throughput() -> dict[str, Any]:
    """Seconds per demo poster read by library.ocr (the engine loaded first, as the worker keeps it)."""
    posters = []
    for i, a in enumerate(generate_assets(400)[:60]):
        if a["kind"] == "poster":
            data, _ = generate_media_bytes("poster", seed=i)
            path = Path(tempfile.mkdtemp(prefix="bench-ocr-")) / f"p{i}.png"
            path.write_bytes(data)
            posters.append((path, poster_text(i)))
    ocr.read_text(posters[0][0], "image/png")
    times, found = [], 0
    for path, lines in posters:
        t = time.perf_counter()
        text = ocr.read_text(path, "image/png")
        times.append(time.perf_counter() - t)
        found += all(line in text for line in lines)
    return {
        "posters": len(posters),
        "size_px": "270x480",
        "seconds": round(sum(times), 2),
        "posters_per_s": round(len(times) / sum(times), 2),
        "p50_s": round(statistics.median(times), 2),
        "all_lines_read": f"{found}/{len(posters)}",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", default="sqlite,elasticsearch")
    ap.add_argument("--es-url", default=os.environ.get("CONTENTHUB_TEST_ES_URL"))
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--model", type=Path, default=Path(os.environ.get("CONTENTHUB_MODEL_PATH", DEFAULT_MODEL_DIR)))
    ap.add_argument("--calibrate", type=float, nargs="*", default=None)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--ocr", action="store_true", help="Also time OCR of the demo posters.")
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="Keep the latency stores under this folder (Elasticsearch: indices bench-search-keep-N) and "
        "reuse them when they already hold N assets (loading 100k into Elasticsearch takes long).",
    )
    ap.add_argument("--reuse-only", action="store_true", help="With --keep: measure only stores already fully loaded.")
    args = ap.parse_args()
    emb = load_embedder(args.model)
    rows = search_eval.load_relevance(RELEVANCE)
    # the latency libraries' vectors: the demo titles' real vectors (the same for every store and run)
    base = emb.encode_passages([d["title"] for d in generate_assets(400)])
    out: dict[str, Any] = {"model": emb.model_id, "relevance_set": {"queries": len(rows)}, "stores": {}}
    for store in args.stores.split(","):
        res: dict[str, Any] = {}
        out["stores"][store] = res
        hub = open_bench_hub(store, emb, args.es_url)
        try:
            if not args.skip_quality:
                res["quality"] = quality(hub, rows, args.calibrate if store == "sqlite" else None)
        finally:
            drop(hub)
        for n in (int(x) for x in args.sizes.split(",") if x):
            hub = open_bench_hub(store, emb, args.es_url, args.keep, n)
            try:
                held = hub.store.count_assets(AssetFilter()) if args.keep is not None else 0
                kept = held == n
                if args.keep is not None and args.reuse_only and not kept:
                    res[str(n)] = {"skipped": f"the kept store holds {held} of {n} assets (still loading?)"}
                    continue
                load_s = None if kept else round(fill(hub, n, base), 1)
                t = time.perf_counter()
                search.warm_up(hub)
                warm_s = time.perf_counter() - t
                t = time.perf_counter()  # the first search after start: a query no one asked yet, warm-up done
                search.search(hub, search.SearchRequest(q="护眼台灯 夜读", scenes=("education",), limit=20))
                first_ms = (time.perf_counter() - t) * 1000
                res[str(n)] = {
                    "load_s": load_s,
                    "reused": kept,
                    "warm_up_s": round(warm_s, 2),
                    "first_search_ms": round(first_ms, 1),
                    **latency(hub, rows, args.queries),
                }
                print(json.dumps({store: {n: res[str(n)]}}), file=sys.stderr, flush=True)
            finally:
                drop(hub, keep=args.keep is not None)
    if args.ocr:
        out["ocr"] = ocr_throughput()
    out["loadavg"] = os.getloadavg()
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
