"""Queries go through the int8 copy of the model (embeddings.quick_queries); passages through the float model.

The stored vectors are the float model's, so the query copy must stay in the same space: these checks pin that
down on the relevance set's own queries, and that the float model itself is left as loaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from contenthub.embeddings import Embedder

RELEVANCE = Path(__file__).parent / "data" / "search_relevance.jsonl"


def _queries() -> list[str]:
    rows = [json.loads(line) for line in RELEVANCE.read_text().splitlines() if line.strip()]
    return [r["q"] for r in rows][::4]


def test_queries_use_an_int8_copy_that_stays_close_to_the_float_model(embedder: Embedder) -> None:
    assert embedder.query_model is not None
    quantised = [m for m in embedder.query_model.modules() if "quantized" in type(m).__module__]
    assert quantised, "the query model has no int8 layer"
    qs = _queries()
    quick = embedder.encode_queries(qs)
    exact = np.asarray(embedder.model.encode(qs, prompt_name="query", normalize_embeddings=True), dtype=np.float32)
    cos = (quick * exact).sum(axis=1)
    assert cos.min() >= 0.99, (qs[int(cos.argmin())], float(cos.min()))
    assert not np.allclose(quick, exact, atol=1e-6), "queries did not go through the int8 copy"


def test_passages_and_the_float_model_are_untouched(embedder: Embedder) -> None:
    texts = ["护眼台灯 夜读不累眼", "New member coupon"]
    got = embedder.encode_passages(texts)
    exact = np.asarray(embedder.model.encode(texts, prompt_name="passage", normalize_embeddings=True))
    np.testing.assert_allclose(got, exact, atol=1e-6)
    assert not any("quantized" in type(m).__module__ for m in embedder.model.modules())
    assert all(p.dtype == torch.float32 for p in embedder.model.parameters())
