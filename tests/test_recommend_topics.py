"""Topic discovery (recommend/topics.py) on small synthetic libraries whose topics are known: no model needed.

Each topic is a cluster of vectors around its own centre, two of the topics close to each other (what k-means
with the best silhouette merged), and each asset's text holds two of its topic's words beside a format's
stock phrase (what the topic is named by)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from contenthub.library.demo_corpus import generate_assets
from contenthub.library.models import Asset
from contenthub.recommend import topics
from contenthub.recommend.catalog import refresh_now
from tests.helpers import put_assets_with_random_vectors

VOCAB = {
    "eye": ["眼睛干涩", "蓝光", "视力", "眼药水", "近视防控", "屏幕时间"],
    "coffee": ["手冲咖啡", "咖啡豆", "冷萃", "拿铁", "磨豆机", "烘焙度"],
    "pet": ["猫粮", "猫砂", "驱虫", "狗狗", "铲屎官", "逗猫棒"],
    "baby": ["宝宝辅食", "米粉", "月龄", "蔬菜泥", "喂养", "蛋黄"],
    "skin": ["防晒霜", "保湿", "面膜", "敏感肌", "精华", "洁面"],
    "home": ["收纳", "沙发", "窗帘", "扫地机器人", "香薰", "床品"],
}
PHRASES = ["限时优惠", "新手入门指南", "用户故事", "一文讲清楚", "会员价", "真实经历"]


def _library(sizes: list[int], seed: int = 0, dim: int = 48) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    names = list(VOCAB)[: len(sizes)]
    centres = rng.normal(size=(len(sizes), dim))
    centres[1] = centres[0] + 0.6 * rng.normal(size=dim)  # topics 0 and 1 are neighbours
    truth, vecs, texts = [], [], []
    for t, size in enumerate(sizes):
        for _ in range(size):
            truth.append(t)
            vecs.append(centres[t] + 0.5 * rng.normal(size=dim))
            a, b = rng.choice(VOCAB[names[t]], 2, replace=False)
            texts.append(f"{rng.choice(PHRASES)}：{a}和{b}")
    v = np.array(vecs, dtype=np.float32)
    return np.array(truth), v / np.linalg.norm(v, axis=1, keepdims=True), texts


def _discover(vectors: np.ndarray, texts: list[str]) -> topics.Topics:
    present = np.ones(len(texts), dtype=bool)
    return topics.discover(topics.spread(vectors, present), present, texts)


def _merged(truth: np.ndarray, labels: np.ndarray) -> list[int]:
    """True topics without a discovered topic of their own."""
    majority = {c: Counter(truth[labels == c].tolist()).most_common(1)[0][0] for c in set(labels.tolist())}
    out = []
    for t in sorted(set(truth.tolist())):
        home = Counter(labels[truth == t].tolist()).most_common(1)[0][0]
        if majority[home] != t:
            out.append(t)
    return out


def test_well_separated_topics_come_back_without_merging_the_neighbouring_two() -> None:
    truth, vectors, texts = _library([30] * 6)
    found = _discover(vectors, texts)
    assert _merged(truth, found.of_row) == [], found.names
    assert 6 <= len(found.names) <= 7, found.names  # a split is tolerated, a merge is not
    # each topic is named by its own words
    for c, name in enumerate(found.names):
        topic = Counter(truth[found.of_row == c].tolist()).most_common(1)[0][0]
        assert any(w in name for w in VOCAB[list(VOCAB)[topic]]), (name, topic)


def test_topics_follow_the_library_when_a_new_topic_is_added() -> None:
    truth, vectors, texts = _library([30] * 6)
    old = truth < 5
    before = _discover(vectors[old], [t for t, o in zip(texts, old.tolist(), strict=True) if o])
    assert len(before.names) in (5, 6) and _merged(truth[old], before.of_row) == []
    after = _discover(vectors, texts)
    new_topics = set(after.of_row[truth == 5].tolist())
    assert len(new_topics) == 1, "the added topic's assets are one topic"
    assert not set(after.of_row[old].tolist()) & new_topics, "and a topic of their own"
    assert any(w in after.names[new_topics.pop()] for w in VOCAB["home"])


def test_a_library_too_small_to_cluster_has_no_topics() -> None:
    truth, vectors, texts = _library([3, 3, 3])
    found = _discover(vectors, texts)
    assert found.names == [] and (found.of_row == -1).all()


def test_topics_of_very_unequal_sizes_are_neither_split_nor_merged_when_half_carry_their_tag() -> None:
    # the fourth round's method found 11–14 topics here (bench/RESULTS.md, "#18 topic discovery, fifth round")
    truth, vectors, texts = _library([60, 40, 25, 15, 10, 8])
    tags = [[list(VOCAB)[t]] if i % 2 else [] for i, t in enumerate(truth.tolist())]
    present = np.ones(len(texts), dtype=bool)
    found = topics.discover(topics.spread(vectors, present), present, texts, tags=tags)
    assert _merged(truth, found.of_row) == [], found.names
    assert 6 <= len(found.names) <= 7, found.names


def test_editors_tags_split_a_topic_holding_two_and_merge_one_split_in_two() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    # assets 0–9 are 护眼 and 10–19 汽车 (found as one topic, 0); 20–39 are 烘焙, found as two topics (1 and 2)
    labels = np.array([0] * 20 + [1] * 10 + [2] * 10)
    tags: list[list[str]] = [[] for _ in range(40)]
    for i in (0, 2, 4, 6, 8):
        tags[i] = ["护眼"]
    for i in (10, 12, 14):
        tags[i] = ["汽车"]
    for i in (20, 22, 24, 31, 33, 35):
        tags[i] = ["烘焙"]
    for i in (1, 11, 21, 30):
        tags[i] = ["干货"]  # a generic tag, spread over every topic: no hint
    out = topics.tag_hints(labels, tags, x)
    assert len(set(out.tolist())) == 3
    assert len(set(out[[0, 2, 4, 6, 8]].tolist())) == 1 and len(set(out[[10, 12, 14]].tolist())) == 1
    assert out[0] != out[10], "two tags that the topic holds all of, never on one asset: split"
    assert len(set(out[20:].tolist())) == 1, "two topics led by one tag they hold between them: merged"
    assert not set(out[20:].tolist()) & set(out[:20].tolist())
    # the untagged assets of the split topic join one of its two parts, nothing else
    assert set(out[:20].tolist()) == {out[0], out[10]}


def test_without_tags_the_clustering_stands() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    x = np.eye(6)
    assert topics.tag_hints(labels, [[] for _ in range(6)], x).tolist() == labels.tolist()
    assert topics.tag_hints(labels, [["一"]] + [[] for _ in range(5)], x).tolist() == labels.tolist()


def test_a_tag_only_edit_gives_discovery_the_new_tags(hub) -> None:
    """The editors' tags are hints to discovery, so the catalog may not reuse topics found before a tag edit
    that changed no vector (it reuses them when nothing they are computed from changed)."""
    rng = np.random.default_rng(5)
    docs = []
    for i, a in enumerate(generate_assets(40, seed=2)):
        fields = {k: v for k, v in a.items() if k in Asset.model_fields}
        stamps = {"created_at": "2026-03-01T00:00:00+00:00", "updated_at": "2026-03-01T00:00:00+00:00"}
        docs.append(Asset(**{**fields, "id": f"a{i:03d}", "status": "approved", **stamps}).model_dump())
    put_assets_with_random_vectors(hub, docs, 32, rng)
    before = refresh_now(hub)
    assert refresh_now(hub).topics is before.topics  # nothing changed: the same topics object is reused
    hub.store.put_assets([{**docs[0], "tags": ["只在这里的新标签"]}])  # the document only: its vector stays
    hub.touch("assets")
    after = refresh_now(hub)
    assert after.topic_key != before.topic_key
    assert after.topics is not before.topics
