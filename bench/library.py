"""Library benchmark: import throughput with embeddings, and combined search latency.

Prints JSON. Usage: .venv/bin/python bench/library.py [--import-n 2000] [--search-n 10000] [--queries 200]
       [--data-dir DIR]   (kept; a later run with --search-only reuses it and times the searches only)
- import: `import_jsonl` of generated demo assets into a fresh SQLite hub, embedding every asset with the
  configured model (default multilingual-e5-small) and computing tag suggestions — assets/s end to end.
- search: p50/p99 ms of a combined text + semantic + filter query over N assets (vectors for the extra
  assets beyond the import are real embeddings too, so this is the production path).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contenthub.config import DEFAULT_MODEL_DIR, Settings  # noqa: E402
from contenthub.embeddings import load_embedder  # noqa: E402
from contenthub.hub import open_hub  # noqa: E402
from contenthub.library import search, service  # noqa: E402
from contenthub.library.demo_corpus import generate_assets  # noqa: E402

QUERIES = [
    "护眼",
    "直播 福利",
    "新人礼包",
    "咖啡 优惠券",
    "宝宝 辅食",
    "会员日",
    "双11",
    "猫粮 换粮",
    "健身 打卡",
    "售后 退换",
]
SCENES = [None, "education", "first_order", "holiday", "live_preview"]
CHANNELS = [None, "wecom_group", "moments", "mp_subscription"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--import-n", type=int, default=2000)
    ap.add_argument("--search-n", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--model", type=Path, default=Path(os.environ.get("CONTENTHUB_MODEL_PATH", DEFAULT_MODEL_DIR)))
    ap.add_argument("--data-dir", type=Path, default=None, help="Keep the imported hub here (default: a temp dir).")
    ap.add_argument("--search-only", action="store_true", help="Reuse --data-dir's assets; time searches only.")
    args = ap.parse_args()
    emb = load_embedder(args.model)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-lib-"))
    hub = open_hub(Settings(data_dir=data_dir, model_path=args.model), embedder=emb)
    out: dict = {"model": emb.model_id, "data_dir": str(data_dir)}
    if args.search_only:
        n_assets = hub.store.count_assets(search.AssetFilter())
    else:
        docs = generate_assets(max(args.import_n, args.search_n))
        lines = [json.dumps({**d, "status": "approved"}, ensure_ascii=False) for d in docs]
        t0 = time.perf_counter()
        rep = service.import_jsonl(hub, lines[: args.import_n], "bench")
        import_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        rest = service.import_jsonl(hub, lines[args.import_n : args.search_n], "bench")
        out["import"] = {
            "assets": rep.imported,
            "seconds": round(import_s, 2),
            "assets_per_s": round(rep.imported / import_s, 1),
            "errors": len(rep.errors),
        }
        out["extra_import_seconds"] = round(time.perf_counter() - t1, 1)
        n_assets = args.import_n + rest.imported
    rng = random.Random(1)
    lat = []
    for _ in range(args.queries):
        req = search.SearchRequest(
            q=rng.choice(QUERIES),
            mode="hybrid",
            scenes=(s,) if (s := rng.choice(SCENES)) else (),
            channels=(c,) if (c := rng.choice(CHANNELS)) else (),
            statuses=("approved",),
            limit=20,
        )
        t = time.perf_counter()
        page = search.search(hub, req)
        lat.append((time.perf_counter() - t) * 1000)
        assert page.total >= 0
    lat.sort()
    out["search"] = {
        "assets": n_assets,
        "queries": args.queries,
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2),
        "max_ms": round(lat[-1], 2),
        "note": "hybrid: trigram FTS + e5 query embedding + kNN + filters",
    }
    out["loadavg"] = os.getloadavg()
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
