"""Bench: tag suggestion quality on the hand-written scene eval set, and training time.

Prints JSON: for each demo library size (generate_assets(n), labels as confirmed tags), top-1 and
top-3 scene accuracy on tests/data/scene_eval.jsonl (182 texts, never trained on) of
(a) descriptions alone, (a)+(c) descriptions + keyword cues with weights fitted on the library, and the
full suggester (+ classifier); calibration error (ECE) of the top suggestion; content-type accuracy;
the out-of-fold validation numbers training reports; training seconds. Then the corrections experiment
on the first size: 20 editor decisions on reactivation / win-back (tests/data/pair_corrections.jsonl),
top-1 on that pair and on all scenes before and after retraining. With --cold-start, also the
(a)+(c) weights fitted on the largest library, to paste into calibration.DEFAULT_COLD_START.
Targets (full suggester, multilingual-e5-small): top-1 >= 0.80, top-3 >= 0.95.
Usage: python bench/tagging.py [--assets 400,2000] [--model DIR] [--vectors-cache FILE.npz] [--cold-start]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from contenthub.config import DEFAULT_MODEL_DIR, Settings
from contenthub.embeddings import Embedder, load_embedder
from contenthub.hub import Hub, open_hub
from contenthub.library import service, tagging
from contenthub.library.demo_corpus import generate_assets
from contenthub.library.models import AssetCreate, AssetUpdate
from contenthub.library.service import asset_text
from contenthub.library.suggester import evaluation, model

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
PAIR = {"reactivation", "winback"}


def embed(emb: Embedder, texts: list[str], cache: Path | None, name: str) -> tuple[np.ndarray, float]:
    """Vectors of fixed texts, optionally cached on disk (keyed by model and texts)."""
    digest = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:16]
    key = f"{emb.model_id}:{name}:{len(texts)}:{digest}"
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if key in z.files:
                return z[key], 0.0
    started = time.perf_counter()
    vecs = emb.encode_passages(texts, batch_size=64)
    seconds = time.perf_counter() - started
    if cache is not None:
        old = dict(np.load(cache, allow_pickle=False)) if cache.exists() else {}
        np.savez(cache, **{**old, key: vecs})
    return vecs, seconds


def fresh_hub(emb: Embedder, model_dir: Path) -> Hub:
    return open_hub(
        Settings(data_dir=Path(tempfile.mkdtemp(prefix="bench-tagging-")), model_path=model_dir), embedder=emb
    )


def corrections(hub: Hub, rows: list[dict[str, Any]], vecs: np.ndarray) -> dict[str, Any]:
    pair_before = evaluation.top1_on(hub, rows, vecs, PAIR)
    all_before = evaluation.evaluate(hub, rows, vecs)["full"]["top1"]
    changed = 0
    fixes = evaluation.load_jsonl(DATA / "pair_corrections.jsonl")[:20]
    for r in fixes:
        a = service.create_asset(hub, AssetCreate(title=r["text"], kind="text_script"), "bench")
        changed += a.suggestions is not None and a.suggestions.scenes[0].id != r["scene"]
        patch = AssetUpdate(scenes=[r["scene"]])
        tagging.record_feedback(hub, a, patch, "bench", action="edit")
        service.update_asset(hub, a.id, patch, "bench")
    tagging.wait_for_training(hub)
    report = tagging.train_suggester(hub)
    return {
        "decisions": len(fixes),
        "changed_top_suggestion": int(changed),
        "retrain_seconds": report.seconds,
        "pair_top1_before": pair_before,
        "pair_top1_after": evaluation.top1_on(hub, rows, vecs, PAIR),
        "all_top1_before": all_before,
        "all_top1_after": evaluation.evaluate(hub, rows, vecs)["full"]["top1"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", default="400", help="Comma-separated demo library sizes.")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    ap.add_argument("--vectors-cache", type=Path, default=None)
    ap.add_argument("--cold-start", action="store_true")
    args = ap.parse_args()
    sizes = [int(x) for x in args.assets.split(",")]
    load = os.getloadavg()[0]

    emb = load_embedder(args.model)
    library = generate_assets(max(sizes))
    rows = evaluation.load_jsonl(DATA / "scene_eval.jsonl")
    lib_vecs, lib_s = embed(emb, [asset_text(a) for a in library], args.vectors_cache, "library")
    eval_vecs, _ = embed(emb, [r["text"] for r in rows], args.vectors_cache, "eval")

    out: dict[str, Any] = {
        "bench": "tagging",
        "model": emb.model_id,
        "eval_texts": len(rows),
        "load_avg_1m": round(load, 2),
        "embed_library_seconds": round(lib_s, 1),
        "targets": {"full_top1": 0.80, "full_top3": 0.95},
        "results": [],
    }
    first_hub: Hub | None = None
    for n in sizes:
        hub = fresh_hub(emb, args.model)
        evaluation.seed_library(hub, library[:n], lib_vecs[:n])
        tagging.train_suggester(hub)  # first run also embeds the label descriptions; time the second
        started = time.perf_counter()
        report = tagging.train_suggester(hub)
        wall = time.perf_counter() - started
        out["results"].append(
            {
                "library": n,
                "train_seconds": round(wall, 2),
                "validation_out_of_fold": {f: r.model_dump() for f, r in report.facets.items()},
                "eval": {
                    "scenes": evaluation.evaluate(hub, rows, eval_vecs),
                    "content_types": evaluation.evaluate(hub, rows, eval_vecs, facet="content_types"),
                },
            }
        )
        if args.cold_start and n == max(sizes):
            current = model.current(hub)
            assert current is not None
            out["cold_start_weights"] = {f: fm.basic.to_doc() for f, fm in current.facets.items()}
        if first_hub is None:
            first_hub = hub
        else:
            hub.close()
    assert first_hub is not None
    out["corrections"] = corrections(first_hub, rows, eval_vecs)
    first_hub.close()
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
