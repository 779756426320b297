"""Smart tagging over HTTP and in the service: suggestions with reasons, cues, feedback, training,
accuracy, the review queue and bulk suggestions."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from contenthub.embeddings import Embedder
from contenthub.hub import Hub
from contenthub.library import service, tagging
from contenthub.library.demo_corpus import generate_assets
from contenthub.library.models import AssetCreate
from contenthub.library.service import asset_text
from contenthub.library.suggester import evaluation, model, training
from contenthub.library.tag_cli import tag_app

LIVE = {"title": "今晚8点直播间抽奖，预约开播提醒", "body": "主播现场演示，直播间专属价。", "kind": "video"}
N_SEED = 60


@pytest.fixture(scope="module")
def seed(embedder: Embedder) -> tuple[list[dict[str, Any]], np.ndarray]:
    """A small confirmed library (demo assets) and its vectors, embedded once for the module."""
    assets = generate_assets(N_SEED, seed=11)
    return assets, embedder.encode_passages([asset_text(a) for a in assets])


def _seeded(hub: Hub, seed: tuple[list[dict[str, Any]], np.ndarray]) -> None:
    evaluation.seed_library(hub, *seed)


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "form has a CSRF token"
    return m.group(1)


def _login(clients: Any, role: str = "editor") -> TestClient:
    c = TestClient(clients.app)
    token = _csrf(c.get("/login").text)
    r = c.post(
        "/login", data={"key": clients.keys[role], "csrf_token": token, "next": "/library"}, follow_redirects=False
    )
    assert r.status_code == 303
    return c


# --- suggestions ---------------------------------------------------------------------------


def test_new_library_suggests_ranked_calibrated_labels_with_reasons(editor: TestClient) -> None:
    a = editor.post("/v1/assets", json=LIVE).json()
    s = a["suggestions"]
    assert s["scenes"][0]["id"] == "live_preview"
    assert "直播" in s["scenes"][0]["why"], "the reason names the cue words that matched"
    for facet in ("scenes", "channels", "content_types"):
        confs = [x["confidence"] for x in s[facet]]
        assert confs == sorted(confs, reverse=True) and all(0 <= c <= 1 for c in confs)
        assert len(confs) >= 3


def test_cues_are_editable_data_with_roles_validation_and_versions(clients: Any, editor: TestClient) -> None:
    viewer = clients.as_("viewer")
    got = viewer.get("/v1/tagging/cues")
    assert got.status_code == 200 and got.json()["version"] == 0
    assert "开播" in got.json()["facets"]["scenes"]["live_preview"]
    assert viewer.put("/v1/tagging/cues", json={"facets": {}}).status_code == 403

    bad = editor.put("/v1/tagging/cues", json={"facets": {"scenes": {"no_such_scene": ["x"]}}})
    assert bad.status_code == 422 and "referral" in bad.json()["error"]["allowed"]
    assert editor.put("/v1/tagging/cues", json={"facets": {"moods": {}}}).status_code == 422

    a = editor.post("/v1/assets", json={"title": "参加喵喵计划，赢取周边好礼", "kind": "poster"}).json()
    before = {x["id"]: x["confidence"] for x in a["suggestions"]["scenes"]}.get("referral", 0.0)
    scenes = got.json()["facets"]["scenes"]
    scenes["referral"] = [*scenes["referral"], "喵喵计划"]
    put = editor.put("/v1/tagging/cues", json={"facets": {"scenes": scenes}, "version": 0})
    assert put.status_code == 200 and put.json()["version"] == 1
    stale = editor.put("/v1/tagging/cues", json={"facets": {"scenes": scenes}, "version": 0})
    assert stale.status_code == 409

    again = editor.patch(f"/v1/assets/{a['id']}", json={"title": "参加喵喵计划，赢取周边好礼！"}).json()
    top = again["suggestions"]["scenes"][0]
    assert top["id"] == "referral" and top["confidence"] > before
    assert "喵喵计划" in top["why"]


# --- feedback and accuracy -----------------------------------------------------------------


def test_accept_and_reject_are_recorded_and_drive_accuracy(clients: Any, editor: TestClient) -> None:
    hit = editor.post("/v1/assets", json=LIVE).json()
    miss = editor.post("/v1/assets", json={"title": "好久不见，给你留了一张回归券", "kind": "coupon"}).json()
    assert editor.post(f"/v1/assets/{hit['id']}/accept-suggestions").status_code == 200

    assert clients.as_("viewer").post(f"/v1/assets/{miss['id']}/reject-suggestions").status_code == 403
    assert editor.post("/v1/assets/nope/reject-suggestions").status_code == 404
    bad = editor.post(f"/v1/assets/{miss['id']}/reject-suggestions", json={"scenes": ["no_such_scene"]})
    assert bad.status_code == 422
    r = editor.post(f"/v1/assets/{miss['id']}/reject-suggestions")
    assert r.status_code == 200
    assert r.json()["rejected"]["scenes"] == [x["id"] for x in miss["suggestions"]["scenes"]]

    acc = clients.as_("viewer").get("/v1/tagging/accuracy").json()
    scenes = acc["facets"]["scenes"]
    assert scenes["decisions"] == 2 and scenes["top1"] == 0.5 and scenes["top3"] == 0.5
    assert acc["model_version"] is None


def test_edit_records_what_was_suggested_and_what_the_editor_chose(hub: Hub) -> None:
    from contenthub.library.models import AssetUpdate

    a = service.create_asset(hub, AssetCreate(**LIVE), "ed")
    tagging.record_feedback(hub, a, AssetUpdate(scenes=["seeding"]), "ed", action="edit")
    (doc,) = hub.store.list_docs(tagging.FEEDBACK)
    assert doc["suggested"]["scenes"][0] == "live_preview" and doc["final"]["scenes"] == ["seeding"]
    assert training.is_correction(doc), "the editor replaced the top suggestion"
    assert tagging.accuracy(hub).facets["scenes"].top1 == 0.0


# --- training ------------------------------------------------------------------------------


def test_train_needs_enough_confirmed_assets(clients: Any, editor: TestClient) -> None:
    assert clients.as_("viewer").post("/v1/tagging/train").status_code == 403
    r = editor.post("/v1/tagging/train").json()
    assert r["trained"] is False and "30" in r["reason"]


def test_training_stores_a_model_the_suggestions_then_use(hub: Hub, editor: TestClient, seed: Any) -> None:
    _seeded(hub, seed)
    text = asset_text(LIVE)
    cold = tagging.suggest_batch(hub, hub.embedder.encode_passages([text]), [text])[0]
    r = editor.post("/v1/tagging/train")
    assert r.status_code == 200
    report = r.json()
    assert report["trained"] and report["version"] == 1 and report["facets"]["scenes"]["examples"] == N_SEED
    assert set(report["facets"]["scenes"]["weights"]) == {"desc", "cues", "clf", "prior"}
    assert model.pointer(hub)["version"] == 1 and "tagging.model:1" in hub.cache

    a = editor.post("/v1/assets", json=LIVE).json()
    top = a["suggestions"]["scenes"][0]
    assert top["id"] == "live_preview" and top["confidence"] != cold.scenes[0].confidence

    # Stored, not only cached: a fresh process (empty cache) decodes the same model.
    vec = hub.store.get_vectors([a["id"]])[1][0]
    hub.cache.clear()
    again = tagging.suggest(hub, vec, text=asset_text(a))
    assert again.scenes[0].confidence == pytest.approx(top["confidence"], abs=1e-4)

    accuracy = editor.get("/v1/tagging/accuracy").json()
    assert accuracy["model_version"] == 1 and accuracy["validation"]["scenes"]["top1"] > 0.5

    editor.post("/v1/tagging/train")
    editor.post("/v1/tagging/train")
    assert model.pointer(hub)["version"] == 3
    assert hub.store.get_doc(model.COLLECTION, "model-1") is None, "old versions are pruned"
    assert hub.store.get_doc(model.COLLECTION, "model-2") is not None


def test_new_confirmations_retrain_in_the_background(
    hub: Hub, editor: TestClient, seed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seeded(hub, seed)
    assert tagging.train_suggester(hub).version == 1
    monkeypatch.setattr(hub.settings, "tagging_retrain_after", 2)
    ids = [editor.post("/v1/assets", json={**LIVE, "title": f"{LIVE['title']} 第{i}场"}).json()["id"] for i in range(2)]
    editor.post(f"/v1/assets/{ids[0]}/accept-suggestions")
    tagging.wait_for_training(hub)
    assert model.pointer(hub)["version"] == 1, "one new confirmation is not enough"
    editor.post(f"/v1/assets/{ids[1]}/accept-suggestions")
    tagging.wait_for_training(hub)
    assert model.pointer(hub)["version"] == 2
    assert model.pointer(hub)["meta"]["examples"] == N_SEED + 2


# --- review queue, bulk suggestions, CLI ---------------------------------------------------


def test_review_lists_untagged_assets_least_certain_first(clients: Any, editor: TestClient) -> None:
    ids = [
        editor.post("/v1/assets", json=body).json()["id"]
        for body in (
            LIVE,
            {"title": "周三见", "kind": "text_script"},
            {"title": "首单立减20元，新客专享", "kind": "coupon"},
        )
    ]
    editor.post("/v1/assets", json={**LIVE, "scenes": ["live_preview"]})  # tagged: not for review

    queue = editor.get("/v1/tagging/review").json()
    assert queue["total"] == 3 and {it["asset"]["id"] for it in queue["items"]} == set(ids)
    confs = [it["top_confidence"] for it in queue["items"]]
    assert confs == sorted(confs)

    page = clients.as_("viewer").get("/library/review")
    assert page.status_code == 200
    order = re.findall(r'data-asset-id="([^"]+)"', page.text)
    assert order == [it["asset"]["id"] for it in queue["items"]]
    assert 'id="accuracy"' in page.text and "/reject" not in page.text, "viewers see no write buttons"

    session = _login(clients)
    html = session.get("/library/review").text
    first = order[0]
    r = session.post(f"/library/review/{first}/reject", data={"csrf_token": _csrf(html)}, follow_redirects=False)
    assert r.status_code == 303
    assert first not in re.findall(r'data-asset-id="([^"]+)"', session.get("/library/review").text)
    r = session.post(f"/library/review/{order[1]}/accept", data={"csrf_token": _csrf(html)}, follow_redirects=False)
    assert r.status_code == 303 and editor.get(f"/v1/assets/{order[1]}").json()["scenes"]
    assert session.post(f"/library/review/{order[2]}/reject", data={"csrf_token": "forged"}).status_code == 403


def test_suggest_missing_fills_untagged_assets_only(hub: Hub) -> None:
    untagged = service.create_asset(hub, AssetCreate(**LIVE), "ed")
    tagged = service.create_asset(hub, AssetCreate(**LIVE, scenes=["seeding"]), "ed")
    for a in (untagged, tagged):
        doc = hub.store.get_asset(a.id)
        doc["suggestions"] = None  # as if imported before suggestions existed
        hub.store.put_asset(doc)
    seen: list[int] = []
    assert tagging.suggest_missing(hub, progress=seen.append) == 1 and sum(seen) == 1
    assert hub.store.get_asset(untagged.id)["suggestions"]["scenes"][0]["id"] == "live_preview"
    assert hub.store.get_asset(tagged.id)["suggestions"] is None
    assert hub.store.get_asset(untagged.id)["version"] == untagged.version, "editor versions are untouched"


def test_cli_suggest_missing_and_train(tmp_path: Any) -> None:
    runner = CliRunner()
    assert runner.invoke(tag_app, ["suggest"]).exit_code == 2
    r = runner.invoke(tag_app, ["suggest", "--missing", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0 and "suggested tags for 0 untagged assets" in r.output
    r = runner.invoke(tag_app, ["train", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0 and "not trained" in r.output


@pytest.mark.es
def test_model_feedback_and_cues_live_in_elasticsearch_too(settings: Any, embedder: Embedder, seed: Any) -> None:
    from contenthub.hub import open_hub
    from tests.es_support import es_url, unique_prefix

    es = settings.model_copy(update={"store_url": es_url(), "es_index_prefix": unique_prefix()})
    hub = open_hub(es, embedder=embedder)
    try:
        _seeded(hub, seed)
        assert tagging.train_suggester(hub).version == 1
        a = service.create_asset(hub, AssetCreate(**LIVE), "ed")
        hub.cache.clear()  # another replica: decodes the model from the store
        vec = hub.store.get_vectors([a.id])[1][0]
        again = tagging.suggest(hub, vec, text=asset_text(a.model_dump()))
        assert a.suggestions is not None
        assert again.scenes[0].confidence == pytest.approx(a.suggestions.scenes[0].confidence, abs=1e-4)
        tagging.reject_suggestions(hub, a, "ed")
        assert tagging.accuracy(hub).facets["scenes"].decisions == 1
        assert tagging.put_cues(hub, tagging.CuesIn(facets={"scenes": {"referral": ["邀请"]}})).version == 1
        report = tagging.train_suggester(hub)
        assert report.version == 2 and report.corrections == 1
    finally:
        hub.store.drop()  # type: ignore[attr-defined]
        hub.close()
