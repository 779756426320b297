"""The library over HTTP: create, upload, search, similar, taxonomy, import — and every bad input."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.helpers import ELF_BYTES, asset, png_bytes


def test_create_get_update_archive(editor: TestClient) -> None:
    r = editor.post("/v1/assets", json=asset())
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["version"] == 1 and a["created_by"] == "test-editor"
    assert a["suggestions"]["scenes"], "every new asset gets scene suggestions"
    assert a["scenes"] == ["education"], "suggestions never overwrite confirmed tags"

    r = editor.patch(f"/v1/assets/{a['id']}", json={"title": "护眼小课堂（新版）", "version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = editor.patch(f"/v1/assets/{a['id']}", json={"title": "x", "version": 1})
    assert stale.status_code == 409 and "version" in stale.json()["error"]["message"]

    r = editor.post(f"/v1/assets/{a['id']}/archive")
    assert r.json()["status"] == "archived"
    assert editor.get(f"/v1/assets/{a['id']}").json()["title"] == "护眼小课堂（新版）"


def test_unknown_scene_names_value_and_allowed(editor: TestClient) -> None:
    r = editor.post("/v1/assets", json=asset(scenes=["black_friday"]))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "scenes" and err["value"] == "black_friday"
    assert "onboarding" in err["allowed"] and "black_friday" in err["message"]
    r = editor.post("/v1/assets", json=asset(channels=["myspace"]))
    assert r.status_code == 422 and r.json()["error"]["field"] == "channels"


def test_missing_title_is_422(editor: TestClient) -> None:
    body = asset()
    del body["title"]
    r = editor.post("/v1/assets", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "title"
    r = editor.post("/v1/assets", json=asset(title="   "))
    assert r.status_code == 422


def test_upload_image_dedupes_bytes(editor: TestClient, hub) -> None:
    data = png_bytes()
    r1 = editor.post("/v1/assets/upload", data={"title": "618 海报"}, files={"file": ("poster.png", data, "image/png")})
    assert r1.status_code == 201, r1.text
    a1 = r1.json()
    assert a1["media"]["mime"] == "image/png" and a1["kind"] == "poster"
    r2 = editor.post(
        "/v1/assets/upload", data={"title": "618 海报 副本"}, files={"file": ("copy.png", data, "image/png")}
    )
    assert r2.json()["media"]["sha256"] == a1["media"]["sha256"]
    files = [p for p in hub.settings.media_dir.rglob("*") if p.is_file() and ".tmp" not in p.parts]
    assert len(files) == 1, "the same bytes are stored once"
    got = editor.get(f"/v1/assets/{a1['id']}/media")
    assert got.status_code == 200 and got.content == data


def test_upload_executable_named_jpg_is_415(editor: TestClient, hub) -> None:
    r = editor.post("/v1/assets/upload", data={"title": "假图片"}, files={"file": ("cat.jpg", ELF_BYTES, "image/jpeg")})
    assert r.status_code == 415
    assert "not allowed" in r.json()["error"]["message"]
    assert not [p for p in hub.settings.media_dir.rglob("*") if p.is_file()], "nothing written"
    assert editor.get("/v1/assets").json()["total"] == 0


def test_upload_over_limit_is_413_and_writes_nothing(editor: TestClient, hub) -> None:
    big = png_bytes() + b"\x00" * (hub.settings.max_upload_bytes + 10)
    r = editor.post("/v1/assets/upload", data={"title": "太大"}, files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]
    assert not [p for p in hub.settings.media_dir.rglob("*") if p.is_file()]
    assert editor.get("/v1/assets").json()["total"] == 0


def test_path_traversal_file_name_rejected(editor: TestClient, hub) -> None:
    r = editor.post(
        "/v1/assets/upload", data={"title": "x"}, files={"file": ("../../etc/passwd.png", png_bytes(), "image/png")}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "filename"
    assert not (hub.settings.data_dir.parent / "etc").exists()


def test_auth_errors(clients) -> None:
    assert clients.anon.get("/v1/assets").status_code == 401
    wrong = clients.anon.get("/v1/assets", headers={"Authorization": "Bearer chk_nope_nope"})
    assert wrong.status_code == 401 and "key" in wrong.json()["error"]["message"]
    bot = clients.as_("bot")
    r = bot.post("/v1/assets", json=asset())
    assert r.status_code == 403 and "library:write" in r.json()["error"]["message"]
    viewer = clients.as_("viewer")
    assert viewer.get("/v1/assets").status_code == 200
    assert viewer.post("/v1/assets", json=asset()).status_code == 403


def test_search_text_filters_and_semantic(editor: TestClient) -> None:
    editor.post("/v1/assets", json=asset())
    editor.post(
        "/v1/assets",
        json=asset(
            title="新人专享：首单立减20元优惠券",
            body="新客下单立减，限时3天",
            kind="coupon",
            content_type="promotional",
            scenes=["first_order"],
            channels=["miniprogram"],
            tags=["优惠券"],
        ),
    )
    editor.post(
        "/v1/assets",
        json=asset(
            title="今晚8点直播：护眼台灯抽奖",
            body="预约直播间，开播即抽奖",
            kind="video",
            content_type="interactive",
            scenes=["live_preview"],
            channels=["channels"],
            tags=["直播"],
        ),
    )
    r = editor.get("/v1/assets", params={"q": "护眼"}).json()
    titles = [h["asset"]["title"] for h in r["items"]]
    assert titles[0] in ("护眼小课堂：20-20-20 法则", "今晚8点直播：护眼台灯抽奖")
    r = editor.get("/v1/assets", params={"q": "护眼", "scene": "live_preview"}).json()
    assert [h["asset"]["title"] for h in r["items"]] == ["今晚8点直播：护眼台灯抽奖"]
    r = editor.get("/v1/assets", params={"q": "优惠券", "channel": "miniprogram", "mode": "text"}).json()
    assert r["total"] == 1
    sem = editor.get("/v1/assets", params={"q": "新客第一单打折", "mode": "semantic", "limit": 1}).json()
    assert sem["items"][0]["asset"]["scenes"] == ["first_order"]
    assert editor.get("/v1/assets", params={"scene": "nope"}).status_code == 422
    assert editor.get("/v1/assets", params={"limit": 101}).status_code == 422


def test_similar(editor: TestClient) -> None:
    a = editor.post("/v1/assets", json=asset()).json()
    editor.post("/v1/assets", json=asset(title="眼睛干涩怎么办？三个护眼习惯"))
    editor.post("/v1/assets", json=asset(title="双11 家电满减", body="空气净化器满1000减200", scenes=["holiday"]))
    sims = editor.get(f"/v1/assets/{a['id']}/similar", params={"n": 2}).json()
    assert sims[0]["asset"]["title"] == "眼睛干涩怎么办？三个护眼习惯"
    assert all(s["asset"]["id"] != a["id"] for s in sims)
    assert editor.get("/v1/assets/nope/similar").status_code == 404


def test_taxonomy_is_editable_data(clients) -> None:
    editor = clients.as_("editor")
    scenes = editor.get("/v1/taxonomy/scenes").json()
    assert len(scenes) == 13
    r = editor.put(
        "/v1/taxonomy/scenes/black_friday",
        json={"id": "black_friday", "zh": "黑五", "en": "Black Friday", "description": "黑色星期五促销"},
    )
    assert r.status_code == 200
    assert editor.post("/v1/assets", json=asset(scenes=["black_friday"])).status_code == 201
    assert clients.as_("viewer").put("/v1/taxonomy/scenes/x", json={"id": "x", "zh": "x", "en": "x"}).status_code == 403
    assert editor.get("/v1/taxonomy/nope").status_code == 422


def test_taxonomy_edits_reach_the_recommenders_memo_at_once(clients) -> None:
    """The recommender memoises scene ids and labels; an edit over the API must not wait for its TTL."""
    editor, bot = clients.as_("editor"), clients.as_("bot")
    url = "/v1/recommendations/users/u-tax?channel=wecom_1v1&scene=black_friday"
    assert bot.get(url).status_code == 422
    editor.put("/v1/taxonomy/scenes/black_friday", json={"id": "black_friday", "zh": "黑五", "en": "Black Friday"})
    assert bot.get(url).status_code == 200
    assert bot.get(url).status_code == 200  # now memoised with black_friday
    assert editor.delete("/v1/taxonomy/scenes/black_friday").status_code == 204
    r = bot.get(url)
    assert r.status_code == 422 and "black_friday" in r.json()["error"]["message"]


def test_import_jsonl_reports_bad_lines(editor: TestClient) -> None:
    lines = [
        json.dumps(asset(title="第一条"), ensure_ascii=False),
        "{not json",
        json.dumps(asset(title="第三条", scenes=["nope"]), ensure_ascii=False),
        json.dumps({"body": "no title"}),
        json.dumps({**asset(title="第五条"), "id": "imp-5"}, ensure_ascii=False),
    ]
    r = editor.post("/v1/assets/import", content="\n".join(lines).encode())
    assert r.status_code == 422
    body = r.json()
    assert body["imported"] == 2
    assert [e["line"] for e in body["errors"]] == [2, 3, 4]
    again = editor.post("/v1/assets/import", content=lines[4].encode()).json()
    assert again["imported"] == 0 and again["skipped"] == 1, "re-importing the same id changes nothing"


def test_accept_suggestions_confirms_tags(editor: TestClient) -> None:
    a = editor.post("/v1/assets", json={"title": "今晚8点直播间抽奖，预约开播提醒", "kind": "video"}).json()
    assert a["scenes"] == []
    r = editor.post(f"/v1/assets/{a['id']}/accept-suggestions")
    assert r.status_code == 200
    accepted = r.json()
    assert accepted["scenes"] and accepted["scenes"][0] == a["suggestions"]["scenes"][0]["id"]
    assert accepted["content_type"] is not None
