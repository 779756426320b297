"""Library search as an editor meets it: matches only, honest counts, pinyin, bad queries, warm start, and
the relevance set of the demo library (tests/data/search_relevance.jsonl)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from contenthub.app import create_app
from contenthub.config import Settings
from contenthub.demo import _load_assets
from contenthub.embeddings import Embedder
from contenthub.hub import Hub, open_hub
from contenthub.library import bridge, ocr_jobs, search_eval
from contenthub.library.demo_corpus import POSTER_FONT
from contenthub.library.search import SearchRequest, query_vector, search, vector_soon
from contenthub.store.analysis import query_groups, split_pinyin

RELEVANCE = Path(__file__).parent / "data" / "search_relevance.jsonl"


def asset(**kw: object) -> dict[str, object]:
    base = {
        "title": "护眼小课堂：20-20-20 法则",
        "body": "每用眼20分钟，看远处20秒。",
        "kind": "article",
        "content_type": "educational",
        "scenes": ["education"],
        "channels": ["mp_subscription"],
        "tags": ["护眼"],
        "status": "approved",
    }
    return {**base, **kw}


@pytest.fixture
def library(editor: TestClient) -> TestClient:
    editor.post("/v1/assets", json=asset())
    editor.post(
        "/v1/assets",
        json=asset(
            title="今晚8点直播：护眼台灯抽奖",
            body="预约直播间，开播即抽奖",
            kind="video",
            scenes=["live_preview"],
            channels=["channels"],
            tags=["直播", "护眼台灯"],
        ),
    )
    editor.post(
        "/v1/assets",
        json=asset(title="早C晚A护肤流程", body="维C精华早上用，A醇晚上用", scenes=["tutorial"], tags=["护肤"]),
    )
    editor.post(
        "/v1/assets",
        json=asset(title="读书笔记：如何养成阅读习惯", body="每天二十分钟", tags=["读书"], scenes=["education"]),
    )
    return editor


def titles(r: dict) -> list[str]:
    return [h["asset"]["title"] for h in r["items"]]


def test_a_query_narrows_and_counts_matches(library: TestClient) -> None:
    everything = library.get("/v1/assets", params={"scene": "education"}).json()
    assert everything["total"] == 2
    r = library.get("/v1/assets", params={"q": "护眼", "scene": "education"}).json()
    assert titles(r) == ["护眼小课堂：20-20-20 法则"] and r["total"] == 1, "the 读书笔记 asset does not match 护眼"
    r = library.get("/v1/assets", params={"q": "护眼"}).json()
    assert r["total"] == len(r["items"]) == 2 and "早C晚A护肤流程" not in titles(r)


def test_nonsense_matches_nothing(library: TestClient) -> None:
    for q in ("qwertyzzz", "量子纠缠", "aircraft carrier"):
        r = library.get("/v1/assets", params={"q": q}).json()
        assert r == {"items": [], "total": 0, "limit": 20, "offset": 0}, q


def test_pinyin_full_spaced_and_initials(library: TestClient) -> None:
    for q in ("huyan", "huyantaideng", "hu yan tai deng", "hytd", "护颜台灯"):
        r = library.get("/v1/assets", params={"q": q, "mode": "text"}).json()
        assert "今晚8点直播：护眼台灯抽奖" in titles(r)[: 1 if q != "huyan" else 2], q
    assert split_pinyin("huyantaideng") == ("hu", "yan", "tai", "deng")
    assert split_pinyin("qwerty") is None


def test_mixed_chinese_and_latin(library: TestClient) -> None:
    r = library.get("/v1/assets", params={"q": "早C晚A", "mode": "text"}).json()
    assert titles(r) == ["早C晚A护肤流程"]
    r = library.get("/v1/assets", params={"q": "20-20-20 护眼", "mode": "text"}).json()
    assert titles(r) == ["护眼小课堂：20-20-20 法则"]


def test_english_reaches_chinese_through_the_model(library: TestClient) -> None:
    r = library.get("/v1/assets", params={"q": "live stream giveaway", "mode": "semantic"}).json()
    assert titles(r)[:1] == ["今晚8点直播：护眼台灯抽奖"]
    r = library.get("/v1/assets", params={"q": "eye care lamp", "mode": "semantic"}).json()
    assert titles(r)[0] in ("今晚8点直播：护眼台灯抽奖", "护眼小课堂：20-20-20 法则")


@pytest.mark.parametrize("q", ["", " ", "\x00", "\x01\x02\t", "\u200b"])
def test_empty_and_control_queries_list_everything(library: TestClient, q: str) -> None:
    r = library.get("/v1/assets", params={"q": q})
    assert r.status_code == 200 and r.json()["total"] == 4


def test_bad_queries_get_a_clear_answer(library: TestClient) -> None:
    r = library.get("/v1/assets", params={"q": "a" * 10_000})
    assert r.status_code == 422 and r.json()["error"]["field"] == "q"
    one = library.get("/v1/assets", params={"q": "眼"})
    assert one.status_code == 200 and one.json()["total"] == len(one.json()["items"])
    r = library.get("/v1/assets", params={"q": "护眼\x00台灯"})
    assert r.status_code == 200 and "今晚8点直播：护眼台灯抽奖" in titles(r.json())
    r = library.get("/v1/assets", params={"q": "护眼", "channel": "fax"})
    assert r.status_code == 422 and "fax" in r.json()["error"]["message"]
    assert library.get("/v1/assets", params={"q": "护眼", "status": "gone"}).status_code == 422
    assert query_groups("！？。,.") == []


def test_the_server_is_warm_before_its_first_search(tmp_path: Path, embedder: Embedder) -> None:
    settings = Settings(data_dir=tmp_path / "d", session_secret="s", bootstrap_admin_key="k" * 32)
    hub = open_hub(settings, embedder=embedder)
    embedder.memo.pop("search.null_stats", None)
    with TestClient(create_app(settings, hub)) as client:
        assert "search.null_stats" in embedder.memo, "calibrated during startup"
        t = time.perf_counter()
        r = client.get("/v1/assets", params={"q": "护眼台灯"}, headers={"Authorization": "Bearer " + "k" * 32})
        assert r.status_code == 200 and time.perf_counter() - t < 1.0


def _vocabulary(scores: list[float], null_mean: float = 0.0, null_std: float = 0.1) -> bridge.Vocabulary:
    """Tags on a circle around the query direction: tag i's cosine with the query ``e0`` is scores[i]."""
    vecs = np.array([[s, math.sqrt(1 - s * s), 0.0] for s in scores], dtype=np.float32)
    n = len(scores)
    return bridge.Vocabulary(0, tuple(f"t{i}" for i in range(n)), vecs, np.full(n, null_mean), np.full(n, null_std))


def test_a_tag_bridges_only_when_it_stands_out_of_the_query_scores() -> None:
    rng = np.random.default_rng(0)
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    flat = list(np.clip(rng.normal(0.5, 0.02, 60), -1, 1))
    assert bridge.bridge_tags(_vocabulary(flat), q) == [], "no tag stands out: nothing is a translation"
    out = bridge.bridge_tags(_vocabulary([0.9, *flat[1:]]), q)
    assert [t for t, _ in out] == ["t0"]
    assert bridge.bridge_tags(_vocabulary([0.9, *flat[1:]]), q, allowed=("t5",)) == [], "limited to other tags"
    assert bridge.bridge_tags(_vocabulary([0.9, *flat[1:]], null_mean=0.95), q) == [], "a hub tag (near everything)"
    assert bridge.bridge_tags(_vocabulary([0.9, *flat[1 : bridge.MIN_TAGS - 1]]), q) == [], "too few tags to judge"
    assert bridge.query_bound(1000) > bridge.query_bound(100), "a larger vocabulary asks for more"


def test_english_reaches_a_chinese_library_through_its_tags(demo_hub: Hub) -> None:
    page = search(demo_hub, SearchRequest(q="cat food", limit=5))
    assert page.total > 0 and all("猫粮" in h.asset.tags for h in page.items)
    assert any(m.startswith("tag 猫粮") for h in page.items for m in h.matched)
    assert search(demo_hub, SearchRequest(q="cat food", kinds=("coupon",))).total < page.total
    assert search(demo_hub, SearchRequest(q="qwertyzzz")).total == 0


@pytest.fixture(scope="module")
def demo_hub(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Hub]:
    hub = open_hub(Settings(data_dir=tmp_path_factory.mktemp("demo")), embedder=embedder)
    _load_assets(hub, 400, False)
    ocr_jobs.wait_idle(hub)  # the demo leaves its posters' reading to the background
    yield hub
    hub.close()


def test_relevance_set_of_the_demo_library(demo_hub: Hub) -> None:
    """Targets of issue 23 on the demo library's relevance set. English queries reach the Chinese assets
    through the tags they translate to (library/bridge.py); e5-small leaves some unmatched (measured 0.63,
    bench/RESULTS.md), so English is held below the overall target."""
    rows = search_eval.load_relevance(RELEVANCE)
    assert len(rows) >= 150
    report = search_eval.evaluate(demo_hub, rows)
    by_kind = report["ndcg@10_by_kind"]
    assert report["nonsense_no_match"] >= 0.95, report
    assert report["ndcg@10"] >= 0.80 and by_kind["en"] >= 0.55, report
    assert by_kind["zh"] >= 0.90 and by_kind["pinyin"] >= 0.85 and by_kind["filter"] >= 0.80, report
    if POSTER_FONT.exists():  # the demo posters print their code words only with a CJK font
        assert by_kind["poster"] >= 0.90, report  # measured 0.9385 (bench/RESULTS.md)


def test_query_vector_encoded_beside_the_word_match_is_the_cached_one(embedder: Embedder) -> None:
    """search() starts the encode on a worker thread (library.search.vector_soon): same vector, cached after."""
    q = "护眼台灯 床头 vector_soon"
    embedder.memo.get("search.query_vectors", {}).pop(q, None)
    soon = vector_soon(embedder, q)
    vec = soon.result(timeout=120)
    assert np.allclose(vec, embedder.encode_queries([q])[0], atol=1e-5)
    again = vector_soon(embedder, q)
    assert again.done() and again.result() is query_vector(embedder, q)
