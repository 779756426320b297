"""Tag suggestions from embeddings: taxonomy descriptions plus the library's own labelled assets.

Two signals per label: how close the asset text is to the label's description, and how many of the
nearest already-tagged assets carry the label (a kNN vote). The vote wins as the library grows,
because editors' confirmed tags say more about *this* brand than any description does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from contenthub.hub import Hub
from contenthub.library import taxonomy
from contenthub.library.models import Asset, AssetUpdate, SuggestedLabel, Suggestions
from contenthub.store.query import AssetFilter
from contenthub.timeutil import to_iso, utcnow

SUGGESTED_FACETS = (("scenes", "scenes"), ("channels", "channels"), ("content_types", "content_type"))
NEIGHBOURS = 15
DESC_TEMPERATURE = 0.02
FEEDBACK = "tag_feedback"


def _label_vectors(hub: Hub, facet: str) -> tuple[list[str], np.ndarray]:
    entries = taxonomy.entries(hub.store, facet)
    texts = [f"{e.zh} {e.en}：{e.description}" for e in entries]
    key = "labels:" + facet + ":" + hashlib.sha1(
        json.dumps([hub.embedder.model_id, texts], ensure_ascii=False).encode()
    ).hexdigest()
    cached = hub.cache.get(key)
    if cached is None:
        cached = ([e.id for e in entries], hub.embedder.encode_passages(texts))
        hub.cache[key] = cached
    return cached


def _softmax(x: np.ndarray, t: float) -> np.ndarray:
    z = (x - x.max()) / t
    e = np.exp(z)
    return e / e.sum()


def suggest(hub: Hub, vector: np.ndarray, *, text: str = "", exclude_id: str | None = None) -> Suggestions:
    flt = AssetFilter(exclude_ids=(exclude_id,) if exclude_id else ())
    neighbours = hub.store.knn_assets(vector, flt, k=NEIGHBOURS)
    docs = hub.store.get_assets([h.id for h in neighbours]) if neighbours else {}
    out = Suggestions(model_id=hub.embedder.model_id, made_at=utcnow())
    for facet, field in SUGGESTED_FACETS:
        ids, mat = _label_vectors(hub, facet)
        desc = _softmax(mat @ vector, DESC_TEMPERATURE)
        votes = np.zeros(len(ids))
        total = 0.0
        index = {label: i for i, label in enumerate(ids)}
        for h in neighbours:
            d = docs.get(h.id)
            if not d:
                continue
            labels = d.get(field)
            labels = [labels] if isinstance(labels, str) else (labels or [])
            if not labels:
                continue
            w = max(h.score, 0.0) ** 4
            total += w
            for label in labels:
                if label in index:
                    votes[index[label]] += w / (1 if facet == "channels" else len(labels))
        if total > 0:
            vote = votes / total
            # More labelled neighbours → trust the vote more (at most 0.75 of the weight).
            labelled = sum(1 for h in neighbours if docs.get(h.id, {}).get(field))
            alpha = 0.75 * labelled / NEIGHBOURS
            score = alpha * vote + (1 - alpha) * desc
        else:
            score = desc
        order = np.argsort(-score)
        keep = 4 if facet == "channels" else 3
        labels_out = []
        for i in order[:keep]:
            why = f"{'similar tagged assets' if total > 0 else 'closest description'}"
            labels_out.append(SuggestedLabel(id=ids[i], confidence=round(float(min(1.0, score[i])), 4), why=why))
        setattr(out, facet, labels_out)
    return out


def accepted_patch(asset: Asset, *, second_label_min: float = 0.35) -> AssetUpdate:
    """What 'accept suggestions' sets: the top scene plus any other confident one, the channels above
    the bar, and the top content type — never removing what the editor already confirmed."""
    s = asset.suggestions or Suggestions()
    scenes = [x.id for i, x in enumerate(s.scenes) if i == 0 or x.confidence >= second_label_min]
    channels = [x.id for i, x in enumerate(s.channels) if i == 0 or x.confidence >= second_label_min / 2]
    return AssetUpdate(
        scenes=list(dict.fromkeys([*asset.scenes, *scenes])),
        channels=list(dict.fromkeys([*asset.channels, *channels])),
        content_type=asset.content_type or (s.content_types[0].id if s.content_types else None),
    )


def record_feedback(hub: Hub, asset: Asset, final: AssetUpdate, actor: str, *, action: str) -> None:
    """Every accept/edit of suggestions is kept: it is the training signal for better suggestions."""
    s = asset.suggestions
    if s is None:
        return
    doc: dict[str, Any] = {
        "asset_id": asset.id,
        "action": action,
        "actor": actor,
        "at": to_iso(utcnow()),
        "suggested": {f: [x.id for x in getattr(s, f)] for f, _ in SUGGESTED_FACETS},
        "final": {"scenes": final.scenes, "channels": final.channels, "content_types": [final.content_type]},
    }
    hub.store.put_doc(FEEDBACK, f"{asset.id}:{doc['at']}", doc)
