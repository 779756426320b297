"""The recommender learns: topics from the library itself, users' tastes from their events, weights from
the brand's own history — measured on a small Chinese library whose topics and formats are known."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from contenthub.embeddings import Embedder
from contenthub.hub import Hub
from contenthub.library.service import asset_text
from contenthub.recommend import topics
from contenthub.recommend.catalog import catalog
from contenthub.timeutil import to_iso, utcnow
from tests.zh_library import zh_library


_VECTORS: dict[str, np.ndarray] = {}  # text → vector, shared by the tests of this module (the model is slow)


def _load(hub: Hub, embedder: Embedder, lib: list[dict[str, Any]]) -> None:
    now = to_iso(utcnow())
    docs = [{**{k: v for k, v in a.items() if not k.startswith("_")}, "kind": "article", "status": "approved",
             "scenes": [], "created_at": now, "updated_at": now, "created_by": "t", "updated_by": "t"} for a in lib]
    hub.store.put_assets(docs)
    texts = [asset_text(d) for d in docs]
    todo = [t for t in dict.fromkeys(texts) if t not in _VECTORS]
    if todo:
        _VECTORS.update(zip(todo, embedder.encode_passages(todo, batch_size=64), strict=True))
    hub.store.put_vectors(embedder.model_id, {d["id"]: _VECTORS[t] for d, t in zip(docs, texts, strict=True)})
    hub.touch("assets")


@pytest.fixture
def zh_hub(hub: Hub, embedder: Embedder) -> tuple[Hub, list[dict[str, Any]]]:
    lib = zh_library()
    _load(hub, embedder, lib)
    return hub, lib


def _neighbour_agreement(vectors: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nn = np.argsort(-sims, axis=1)[:, :k]
    return float((labels[nn] == labels[:, None]).mean())


def test_neighbours_share_the_topic_far_more_often_than_the_format(zh_hub) -> None:
    hub, lib = zh_hub
    cat = catalog(hub)
    truth = {a["id"]: a for a in lib}
    topic = np.array([truth[i]["_topic"] for i in cat.ids])
    fmt = np.array([truth[i]["_format"] for i in cat.ids])
    by_topic, by_format = _neighbour_agreement(cat.vectors, topic), _neighbour_agreement(cat.vectors, fmt)
    assert by_topic >= 0.85 and by_topic >= by_format + 0.4, (by_topic, by_format)
    raw = np.stack([hub.store.get_vectors([i])[1][0] for i in cat.ids])
    assert _neighbour_agreement(raw, topic) < by_topic, "the transform is what separates topics"


def test_topics_are_discovered_named_and_kept_as_implicit_tags(zh_hub) -> None:
    hub, lib = zh_hub
    cat = catalog(hub)
    truth = {a["id"]: a["_topic"] for a in lib}
    assert 4 <= len(cat.topic_names) <= 9, cat.topic_names
    found = topics.stored(hub)
    assert set(found) == set(cat.ids), "every asset with a vector has a topic, stored for ingestion"
    # each discovered topic is mostly one true topic, and is named by that topic's words
    for name in cat.topic_names:
        members = [truth[a] for a, t in found.items() if t == name]
        top, count = Counter(members).most_common(1)[0]
        assert count / len(members) >= 0.8, (name, Counter(members))
    # an untagged asset still carries its topic as a feature beside the editors' tags
    untagged = next(a for a in lib if not a["tags"])
    row = cat.index[untagged["id"]]
    feats = {f for f, j in cat.feature_index.items() if cat.features[row, j]}
    assert f"o:{found[untagged['id']]}" in feats


def test_topics_follow_the_library_when_it_grows(zh_hub, embedder) -> None:
    hub, lib = zh_hub
    before = catalog(hub)
    extra = [{**a, "id": a["id"] + "-new", "tags": []} for a in lib[:6]]
    _load(hub, embedder, extra)
    after = catalog(hub)
    assert after is not before and len(after) == len(before) + 6
    assert all(f"{a['id']}" in topics.stored(hub) for a in extra), "new assets get a topic on rebuild"
