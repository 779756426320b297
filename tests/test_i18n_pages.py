"""The request's language and the hub's time zone, through HTTP: API error messages, form errors beside their
field (never a JSON page), and times read in Asia/Shanghai."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.test_pages import _csrf, login

LONG_TITLE = "护" * 201


def test_api_errors_keep_their_code_and_speak_the_requests_language(clients) -> None:
    bot = TestClient(clients.app)
    bot.headers["Authorization"] = f"Bearer {clients.keys['editor']}"
    zh = bot.get("/v1/assets/nope").json()["error"]  # no Accept-Language: Chinese
    en = bot.get("/v1/assets/nope", headers={"Accept-Language": "en-US,en;q=0.9"}).json()["error"]
    assert zh["code"] == en["code"] == "not_found"
    assert zh["message"] == "没有 ID 为「nope」的素材。" and en["message"] == "No asset with id 'nope'."
    assert bot.get("/v1/assets/nope", params={"lang": "en"}).json()["error"]["message"] == en["message"]
    assert bot.get("/v1/assets/nope", cookies={"lang": "en"}).json()["error"]["message"] == en["message"]
    bad = bot.post("/v1/assets", json={"title": LONG_TITLE}).json()["error"]
    assert bad["code"] == "invalid" and bad["field"] == "title"
    assert bad["message"] == "title: 最多 200 个字符（当前 201 个）。"
    assert bad["details"][0]["type"] == "string_too_long"
    bad_en = bot.post("/v1/assets", json={"title": LONG_TITLE}, headers={"Accept-Language": "en"}).json()["error"]
    assert bad_en["message"] == "title: Enter at most 200 characters (this one has 201)."


def test_a_long_title_is_refused_beside_the_field_and_nothing_entered_is_lost(clients) -> None:
    c = login(clients)
    token = _csrf(c.get("/library/upload").text)
    form = {
        "title": LONG_TITLE,
        "body": "限时5折，直播间抽奖",
        "tags": "护眼, 新品",
        "url": "https://example.com/h5",
        "kind": "poster",
        "csrf_token": token,
    }
    r = c.post("/library/upload", data=form)
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert not r.text.lstrip().startswith("{"), "a form never answers with JSON"
    error = re.search(r'<p class="field-error" id="title-error"[^>]*>([^<]+)</p>', r.text)
    assert error and error.group(1) == "最多 200 个字符（当前 201 个）。"
    assert f'value="{LONG_TITLE}"' in r.text and "限时5折，直播间抽奖</textarea>" in r.text
    assert 'value="护眼, 新品"' in r.text and 'value="https://example.com/h5"' in r.text
    assert '<option value="poster" selected>' in r.text
    assert 'aria-invalid="true" aria-describedby="title-error"' in r.text
    r = c.post("/library/upload?lang=en", data=form)
    assert "Enter at most 200 characters (this one has 201)." in r.text


def test_an_asset_edit_error_is_beside_the_field_with_the_edit_kept(clients) -> None:
    a = clients.as_("editor").post("/v1/assets", json={"title": "会员日权益"}).json()
    c = login(clients)
    token = _csrf(c.get(f"/library/assets/{a['id']}").text)
    r = c.post(
        f"/library/assets/{a['id']}/edit",
        data={"csrf_token": token, "version": 1, "title": LONG_TITLE, "tags": "会员, 权益", "status": "draft"},
    )
    assert r.status_code == 422
    assert re.search(r'id="edit-title-error">最多 200 个字符', r.text)
    assert f'value="{LONG_TITLE}"' in r.text and 'value="会员, 权益"' in r.text


def test_times_read_in_the_hub_zone_with_the_zone_named(clients) -> None:
    editor = clients.as_("editor")
    editor.put("/v1/users", json={"id": "u-tz"})
    asset = editor.post("/v1/assets", json={"title": "护眼小课堂"}).json()
    r = clients.as_("bot").post(
        "/v1/events",
        json={
            "events": [
                {
                    "id": "tz-1",
                    "type": "open",
                    "user_id": "u-tz",
                    "asset_id": asset["id"],
                    "channel": "wecom_1v1",
                    "ts": "2026-12-06T16:00:00Z",
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    page = login(clients).get("/users/u-tz").text
    assert "<th>时间 (中国时间)</th>" in page
    assert "2026-12-07 00:00" in page and "2026-12-06 16:00" not in page, "16:00Z is midnight in Beijing"


def test_an_upload_over_the_limit_from_the_console_is_a_page_not_json(clients) -> None:
    limit = clients.hub.settings.max_upload_bytes + 1024 * 1024
    body = b"x" * (limit + 1)
    form = "multipart/form-data; boundary=x"
    page = clients.anon.post("/library/upload", content=body, headers={"content-type": form})
    assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
    assert "请求体超过了" in page.text and 'href="/library/upload"' in page.text
    api = clients.anon.post(
        "/v1/assets/upload", content=body, headers={"content-type": "application/octet-stream", "Accept-Language": "en"}
    )
    assert api.status_code == 413 and api.json()["error"]["code"] == "too_large"
    assert api.json()["error"]["message"].startswith("The request body is larger than the limit of")
