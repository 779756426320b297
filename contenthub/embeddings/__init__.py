"""The one place that knows sentence-transformers.

Assets are encoded as *passages* and search queries / user-side text as *queries*; models that
declare ``query``/``passage`` prompts (E5) get them, models without prompts encode the raw text.
Vectors are L2-normalised float32 so a dot product is the cosine. Queries go through an int8 copy of the
model (:func:`quick_queries`); passages, the stored side, through the float model as loaded.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


SMALL_BATCH = 4
"""Up to this many texts (a search query, a label) are encoded on one thread; see :func:`_one_thread`."""
_threads_lock = threading.Lock()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run a tiny encode on one intra-op thread.

    Why: an 8-token query is too small to split, and on a busy machine torch's thread team waits for a
    second core at every layer, which made one query several times slower on two threads than on one
    (figures and command: bench/RESULTS.md, "Content library"). Large passage batches keep every thread.
    The setting is process-wide, so it is changed under a lock and restored.
    """
    import torch

    with _threads_lock:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


class ModelMissingError(RuntimeError):
    """The configured model directory does not exist or is not a sentence-transformers model."""


@dataclass
class Embedder:
    model: Any
    model_id: str
    dim: int
    prompts: dict[str, str] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # per-model results (e.g. label vectors), shared by hubs
    query_model: Any = None  # what encodes queries (quick_queries); None: the model itself

    def _encode(self, texts: list[str], prompt_name: str, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        kwargs: dict[str, Any] = {}
        if prompt_name in self.prompts:
            kwargs["prompt_name"] = prompt_name
        model = self.query_model if prompt_name == "query" and self.query_model is not None else self.model
        with _one_thread() if len(texts) <= SMALL_BATCH else nullcontext():
            vecs = model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
                **kwargs,
            )
        return np.asarray(vecs, dtype=np.float32)

    def encode_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self._encode(texts, "passage", batch_size, progress)

    def encode_queries(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self._encode(texts, "query", batch_size, progress)


def model_id_for(path: Path) -> str:
    """A stable name recorded next to each vector, so a model change is detectable."""
    return Path(path).resolve().name


def quick_queries(model: Any) -> Any | None:
    """The same sentence-transformers model with its attention layers in int8 (torch's dynamic quantisation).

    Why: a search waits for its query's encode, and at a query's few tokens the float model's matrix products
    took most of a search's budget; the int8 copy cuts the encode on this project's CPUs. Only queries go
    through it: stored passage vectors stay the float model's, and the query vectors stay close to the float
    ones (cosine and relevance-set figures: bench/RESULTS.md, "#23 search, fifth round"), so nothing is
    re-embedded. Only attention's projections are quantised (per output channel): quantising the feed-forward
    layers too, whose inputs carry the outliers int8 loses, moved queries far enough to let a nonsense query
    over the calibrated semantic floor (same section). The copy shares every float tensor with ``model`` (the
    deepcopy memo holds them): only the int8 weights are new, and the float model is untouched.

    torch marks this API deprecated in favour of torchao (not a dependency); its warnings are silenced here,
    where the call is deliberate, and a torch without it gets ``None``: queries then use the float model,
    slower but with the same results.
    """
    import torch  # heavy import, only when a model is loaded
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"(?s).*deprecated", category=UserWarning)
        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            first, *rest = list(model)
            shared = {id(t): t for t in (*first.parameters(), *first.buffers())}
            quick = copy.deepcopy(first, shared)
            spec = {  # the square layers: attention's projections (and the pooler); the feed-forward stays float
                n: per_channel_dynamic_qconfig
                for n, m in quick.named_modules()
                if isinstance(m, torch.nn.Linear) and m.in_features == m.out_features
            }
            quantize_dynamic(quick, spec, dtype=torch.qint8, inplace=True)
        except (ImportError, AttributeError, NotImplementedError, RuntimeError) as e:
            log.warning("queries use the float model: torch could not quantise it (%s)", e)
            return None
    return SentenceTransformer(modules=[quick, *rest], prompts=dict(model.prompts), device="cpu")


def load_embedder(path: Path) -> Embedder:
    path = Path(path)
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelMissingError(
            f"No sentence-transformers model at {path}. Run `contenthub models build` to build the default "
            "Chinese-capable model, or set CONTENTHUB_MODEL_PATH to a model directory."
        )
    from sentence_transformers import SentenceTransformer  # heavy import, only when a model is loaded
    from transformers.utils import logging as hf_logging

    # A local model loads in a second; transformers' "Loading weights" bar would only add noise to stderr,
    # which CLI commands that print JSON share with their output in tests and pipes.
    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = int(get_dim() or 0)
    prompts = dict(getattr(model, "prompts", {}) or {})
    return Embedder(
        model=model, model_id=model_id_for(path), dim=dim, prompts=prompts, query_model=quick_queries(model)
    )
