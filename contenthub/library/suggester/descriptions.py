"""Signal (a): how close an asset is to each label's description in the taxonomy.

Needs no training, so it is what a new library starts from. A description lists several distinct
situations ("好久不见、想你了、签到唤醒"); one vector for the whole text blurs them, so each listed phrase
is also embedded on its own (prefixed with the label name). A label scores the mean of its whole-
description cosine and its closest phrase's cosine: the whole text keeps the label's overall sense,
the phrase rewards an asset that matches one situation precisely.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np

from contenthub.hub import Hub
from contenthub.library import taxonomy
from contenthub.library.taxonomy import TaxonomyEntry

_PHRASE_SPLIT = re.compile(r"[，、,；;。]+")


def label_texts(entry: TaxonomyEntry) -> list[str]:
    """The whole description, then one text per listed phrase."""
    texts = [f"{entry.zh} {entry.en}：{entry.description}".strip("：")]
    body = entry.description.split("：", 1)[-1]
    for phrase in _PHRASE_SPLIT.split(body):
        phrase = phrase.strip()
        if phrase and phrase != body.strip():
            texts.append(f"{entry.zh}：{phrase}")
    return texts


@dataclass
class LabelDescriptions:
    ids: list[str]
    vectors: np.ndarray  # one row per text
    owner: np.ndarray  # label index of each row

    def similarity(self, vectors: np.ndarray) -> np.ndarray:
        """(n assets × labels): mean of the whole-description cosine and the best phrase cosine."""
        sims = np.atleast_2d(vectors) @ self.vectors.T
        out = np.full((sims.shape[0], len(self.ids)), -1.0, dtype=np.float32)
        for j in range(len(self.ids)):
            cols = np.flatnonzero(self.owner == j)
            if len(cols):  # the first row of a label is its whole description
                out[:, j] = 0.5 * sims[:, cols[0]] + 0.5 * sims[:, cols].max(axis=1)
        return out


def build(entries: list[TaxonomyEntry], encode: object) -> LabelDescriptions:
    """``encode`` turns a list of texts into L2-normalised passage vectors (the embedder's)."""
    texts: list[str] = []
    owner: list[int] = []
    for j, e in enumerate(entries):
        for t in label_texts(e):
            texts.append(t)
            owner.append(j)
    vectors = encode(texts)  # type: ignore[operator]
    return LabelDescriptions(
        ids=[e.id for e in entries],
        vectors=np.asarray(vectors, dtype=np.float32),
        owner=np.asarray(owner, dtype=np.int64),
    )


_SHARED: dict[str, tuple[object, LabelDescriptions]] = {}
_SHARED_MAX = 32


def for_facet(hub: Hub, facet: str) -> LabelDescriptions:
    """Cached by model and description text, so an edited description takes effect at once.

    Two levels: ``hub.cache``, and a small process-wide table keyed by the loaded model object (every
    hub of a process sharing one model — API workers, tests — embeds the descriptions once).
    """
    entries = taxonomy.entries(hub.store, facet)
    digest = hashlib.sha1(
        json.dumps([hub.embedder.model_id, [e.model_dump() for e in entries]], ensure_ascii=False).encode()
    ).hexdigest()
    key = f"tagging.descriptions:{facet}:{digest}"
    found = hub.cache.get(key)
    if found is None:
        shared = _SHARED.get(key)
        if shared is not None and shared[0] is hub.embedder.model:
            found = shared[1]
        else:
            found = build(entries, hub.embedder.encode_passages)
            if len(_SHARED) >= _SHARED_MAX:
                _SHARED.pop(next(iter(_SHARED)))
            _SHARED[key] = (hub.embedder.model, found)
        hub.cache[key] = found
    return found
