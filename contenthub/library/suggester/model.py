"""The trained suggester as data: arrays and weights, stored through the store interface.

Stored as two kinds of generic documents in the ``tagging`` collection: ``model-<version>`` holds
the arrays (an ``.npz`` written without pickle, base64 in JSON, so loading a stored model can never
run code) and ``model`` is a small pointer naming the current version. Every suggestion reads only
the pointer; the arrays are decoded once per version and kept in ``hub.cache``. Several API
replicas on one Elasticsearch store therefore switch to a new model as soon as any one trains it.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contenthub.hub import Hub
from contenthub.library.suggester.calibration import Stacker
from contenthub.library.suggester.classifier import RidgeModel
from contenthub.library.suggester.features import NgramVocab

COLLECTION = "tagging"
POINTER_ID = "model"
KEEP_VERSIONS = 2
_save_lock = threading.Lock()


@dataclass
class FacetModel:
    ids: list[str]
    ridge: RidgeModel
    prior: np.ndarray  # log share of each label among confirmed assets
    full: Stacker  # desc + cues + classifier + prior
    basic: Stacker  # desc + cues only: used when the classifier cannot be (another embedding model)


@dataclass
class SuggesterModel:
    vocab: NgramVocab
    facets: dict[str, FacetModel]
    model_id: str  # the embedding model whose vectors the classifier was trained on
    version: int = 0
    trained_at: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # counts and validation metrics

    # --- (de)serialisation ---------------------------------------------------------------
    def to_doc(self) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {
            "vocab_terms": np.asarray(self.vocab.terms, dtype=np.str_),
            "vocab_idf": self.vocab.idf.astype(np.float32),
        }
        if self.facets:
            arrays["emb_mean"] = next(iter(self.facets.values())).ridge.emb_mean.astype(np.float32)
        facets: dict[str, Any] = {}
        for name, fm in self.facets.items():
            arrays[f"{name}.w_ngram"] = fm.ridge.w_ngram.astype(np.float16)
            arrays[f"{name}.w_embedding"] = fm.ridge.w_embedding.astype(np.float16)
            facets[name] = {
                "ids": fm.ids,
                "bias": fm.ridge.bias.tolist(),
                "prior": fm.prior.tolist(),
                "full": fm.full.to_doc(),
                "basic": fm.basic.to_doc(),
            }
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return {
            "version": self.version,
            "model_id": self.model_id,
            "trained_at": self.trained_at,
            "meta": self.meta,
            "facets": facets,
            "arrays_npz_b64": base64.b64encode(buf.getvalue()).decode("ascii"),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SuggesterModel:
        raw = base64.b64decode(doc["arrays_npz_b64"])
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        vocab = NgramVocab(terms=[str(t) for t in arrays["vocab_terms"]], idf=arrays["vocab_idf"])
        facets = {}
        for name, f in doc["facets"].items():
            ridge = RidgeModel(
                w_ngram=arrays[f"{name}.w_ngram"].astype(np.float32),
                w_embedding=arrays[f"{name}.w_embedding"].astype(np.float32),
                bias=np.asarray(f["bias"], dtype=np.float32),
                emb_mean=arrays["emb_mean"],
            )
            facets[name] = FacetModel(
                ids=list(f["ids"]),
                ridge=ridge,
                prior=np.asarray(f["prior"]),
                full=Stacker.from_doc(f["full"]),
                basic=Stacker.from_doc(f["basic"]),
            )
        return cls(
            vocab=vocab,
            facets=facets,
            model_id=doc["model_id"],
            version=int(doc["version"]),
            trained_at=doc.get("trained_at", ""),
            meta=doc.get("meta", {}),
        )


def _blob_id(version: int) -> str:
    return f"model-{version}"


def pointer(hub: Hub) -> dict[str, Any] | None:
    return hub.store.get_doc(COLLECTION, POINTER_ID)


def save(hub: Hub, model: SuggesterModel) -> int:
    """Store a new version and point at it (one atomic write); older versions beyond the last
    ``KEEP_VERSIONS`` are deleted. Returns the version."""
    with _save_lock:
        current = pointer(hub)
        version = (int(current["version"]) if current else 0) + 1
        model.version = version
        ptr = {
            "version": version,
            "blob": _blob_id(version),
            "model_id": model.model_id,
            "trained_at": model.trained_at,
            "meta": model.meta,
        }
        old = [_blob_id(v) for v in range(max(1, version - 10), version - KEEP_VERSIONS + 1)]
        hub.store.put_docs_atomic(COLLECTION, {_blob_id(version): model.to_doc(), POINTER_ID: ptr}, delete=old)
        _cache_only(hub, version, model)
        return version


def _cache_only(hub: Hub, version: int, model: SuggesterModel) -> None:
    """Keep one decoded model in memory: the one the pointer names."""
    for k in [k for k in hub.cache if k.startswith("tagging.model:")]:
        hub.cache.pop(k, None)
    hub.cache[f"tagging.model:{version}"] = model


def current(hub: Hub) -> SuggesterModel | None:
    """The current model, decoded once per version (cached in hub.cache)."""
    ptr = pointer(hub)
    if ptr is None:
        return None
    key = f"tagging.model:{ptr['version']}"
    found = hub.cache.get(key)
    if found is None:
        doc = hub.store.get_doc(COLLECTION, ptr["blob"])
        if doc is None:
            return None
        found = SuggesterModel.from_doc(doc)
        _cache_only(hub, int(ptr["version"]), found)
    return found
