"""Measuring the suggester on a labelled set: top-1/top-3 of (a), (a)+(c) and the full suggester.

Shared by ``bench/tagging.py`` and the quality tests so both report the same numbers the same way.
``seed_library`` writes assets and their vectors straight into the store — the quick way to stand up
a library of confirmed tags for a measurement, skipping the per-asset suggestion the asset service
would compute on import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from contenthub.hub import Hub
from contenthub.library.models import Asset
from contenthub.library.suggester import model as model_store
from contenthub.library.suggester import scoring
from contenthub.library.suggester.calibration import expected_calibration_error, topk_accuracy
from contenthub.library.suggester.training import signal_sources
from contenthub.timeutil import to_iso, utcnow

EVAL_FIELDS = {"scenes": "scene", "content_types": "content_type"}


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def seed_library(
    hub: Hub, assets: list[dict[str, Any]], vectors: np.ndarray, *, status: str = "approved", prefix: str = "demo-"
) -> list[str]:
    """Store demo-style asset dicts (as from ``generate_assets``) with their vectors; returns the ids."""
    now = to_iso(utcnow())
    docs = []
    for i, a in enumerate(assets):
        docs.append(
            Asset(
                id=f"{prefix}{i:05d}",
                title=a["title"],
                body=a.get("body", ""),
                kind=a.get("kind", "article"),
                content_type=a.get("content_type"),
                scenes=list(a.get("scenes", [])),
                channels=list(a.get("channels", [])),
                tags=list(a.get("tags", [])),
                stages=list(a.get("stages", [])),
                status=status,
                created_by="seed",
                created_at=now,
                updated_by="seed",
                updated_at=now,
            ).model_dump()
        )
    hub.store.put_assets(
        docs, model_id=hub.embedder.model_id, vectors={d["id"]: v for d, v in zip(docs, vectors, strict=True)}
    )
    return [d["id"] for d in docs]


def targets(rows: list[dict[str, Any]], ids: list[str], field: str) -> np.ndarray:
    y = np.zeros((len(rows), len(ids)))
    for i, r in enumerate(rows):
        labels = r[field] if isinstance(r[field], list) else [r[field]]
        for x in labels:
            y[i, ids.index(x)] = 1.0
    return y


def _metrics(scores: np.ndarray, y: np.ndarray, calibrated: bool) -> dict[str, float]:
    out = {"top1": round(topk_accuracy(scores, y, 1), 4), "top3": round(topk_accuracy(scores, y, 3), 4)}
    if calibrated:
        out["calibration_error"] = round(expected_calibration_error(scores, y), 4)
    return out


def evaluate(
    hub: Hub, rows: list[dict[str, Any]], vectors: np.ndarray, *, facet: str = "scenes", field: str | None = None
) -> dict[str, dict[str, float]]:
    """Accuracy on labelled texts of (a) descriptions alone, (a)+(c) with the weights fitted at the
    last training (cold-start weights if none), and the full suggester."""
    field = field or EVAL_FIELDS[facet]
    texts = [r["text"] for r in rows]
    descs, matchers = signal_sources(hub)
    current = model_store.current(hub)
    y = targets(rows, descs[facet].ids, field)
    desc = descs[facet].similarity(vectors)
    out = {"descriptions": _metrics(desc, y, calibrated=False)}
    basic = scoring.score_facet(
        facet, texts, vectors, descs[facet], matchers[facet], current, hub.embedder.model_id, use_classifier=False
    )
    out["descriptions_cues"] = _metrics(basic.proba, y, calibrated=True)
    if current is not None:
        full = scoring.score_facet(facet, texts, vectors, descs[facet], matchers[facet], current, hub.embedder.model_id)
        out["full"] = _metrics(full.proba, y, calibrated=True)
    return out


def top1_on(
    hub: Hub, rows: list[dict[str, Any]], vectors: np.ndarray, labels: set[str], facet: str = "scenes"
) -> float:
    """Top-1 accuracy of the current suggester on the rows whose label is in ``labels``."""
    pick = [i for i, r in enumerate(rows) if r[EVAL_FIELDS[facet]] in labels]
    sub = [rows[i] for i in pick]
    return evaluate(hub, sub, vectors[pick], facet=facet)["full"]["top1"]
