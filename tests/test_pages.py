"""Editor pages through a real session: login form, CSRF, library list, upload, detail, users."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.helpers import png_bytes


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "every form carries a CSRF token"
    return m.group(1)


def login(clients, role: str = "editor") -> TestClient:
    c = TestClient(clients.app)
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"key": clients.keys[role], "csrf_token": _csrf(page.text), "next": "/library"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/library"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    return c


def test_pages_need_login(clients) -> None:
    r = clients.anon.get("/library", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_wrong_key_and_missing_csrf(clients) -> None:
    c = TestClient(clients.app)
    token = _csrf(c.get("/login").text)
    r = c.post("/login", data={"key": "chk_bad_bad", "csrf_token": token})
    assert r.status_code == 401 and ("wrong" in r.text or "错误" in r.text)
    r = c.post("/login", data={"key": clients.keys["editor"]})
    assert r.status_code == 403


def test_upload_accept_and_find(clients) -> None:
    c = login(clients)
    form = c.get("/library/upload")
    r = c.post(
        "/library/upload",
        data={"title": "双11 护眼台灯海报", "body": "限时5折，直播间抽奖", "csrf_token": _csrf(form.text)},
        files={"file": ("p.png", png_bytes(), "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    detail_url = r.headers["location"]
    detail = c.get(detail_url)
    assert "双11 护眼台灯海报" in detail.text and 'id="suggestions"' in detail.text and "<img" in detail.text
    asset_id = detail_url.rsplit("/", 1)[1]
    r = c.post(f"{detail_url}/accept", data={"csrf_token": _csrf(detail.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert clients.hub.store.get_asset(asset_id)["scenes"], "accepted suggestions became confirmed tags"
    found = c.get("/library", params={"q": "护眼"})
    assert "双11 护眼台灯海报" in found.text
    assert c.get(f"{detail_url}/media").content == png_bytes()


def test_upload_form_errors_are_shown(clients) -> None:
    c = login(clients)
    token = _csrf(c.get("/library/upload").text)
    r = c.post(
        "/library/upload",
        data={"title": "坏文件", "csrf_token": token},
        files={"file": ("x.jpg", b"MZ\x90\x00" + b"\x00" * 100, "image/jpeg")},
    )
    assert r.status_code == 415 and r.headers["content-type"].startswith("text/html")
    error = re.search(r'<p class="field-error" id="file-error"[^>]*>([^<]+)</p>', r.text)
    assert error and "不允许上传" in error.group(1), "the refusal is beside the file field, in Chinese"
    assert 'value="坏文件"' in r.text, "the title entered is kept"


def test_edit_with_stale_version_is_refused(clients) -> None:
    c = login(clients)
    a = clients.as_("editor").post("/v1/assets", json={"title": "会员日权益"}).json()
    page = c.get(f"/library/assets/{a['id']}")
    token = _csrf(page.text)
    ok = c.post(
        f"/library/assets/{a['id']}/edit",
        data={
            "csrf_token": token,
            "version": 1,
            "title": "会员日权益2",
            "scenes": ["membership"],
            "status": "approved",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    stale = c.post(f"/library/assets/{a['id']}/edit", data={"csrf_token": token, "version": 1, "title": "x"})
    assert stale.status_code == 409 and "version" in stale.text


def test_viewer_sees_no_edit_forms(clients) -> None:
    a = clients.as_("editor").post("/v1/assets", json={"title": "知识科普"}).json()
    c = login(clients, "viewer")
    page = c.get(f"/library/assets/{a['id']}")
    assert page.status_code == 200 and 'id="edit-form"' not in page.text
    assert c.get("/library/upload").status_code == 403


def test_revoked_key_ends_session(clients) -> None:
    c = login(clients)
    assert c.get("/library").status_code == 200
    key_id = clients.keys["editor"].split("_")[1]
    clients.as_("admin").post(f"/v1/keys/{key_id}/revoke")
    assert c.get("/library", follow_redirects=False).status_code == 303


def test_user_page_shows_next_content(clients) -> None:
    editor = clients.as_("editor")
    editor.post(
        "/v1/assets", json={"title": "手冲咖啡入门", "status": "approved", "channels": ["wecom_1v1"], "tags": ["咖啡"]}
    )
    editor.put("/v1/users", json={"id": "u-page", "region": "上海"})
    c = login(clients)
    page = c.get("/users/u-page")
    assert page.status_code == 200 and "手冲咖啡入门" in page.text and 'id="stage"' in page.text
    assert "u-page" in c.get("/users").text


def test_language_switch(clients) -> None:
    c = login(clients)
    assert "Library" in c.get("/library?lang=en").text
    assert "Library" in c.get("/library").text, "the choice is remembered in a cookie"
    assert "内容库" in c.get("/library?lang=zh").text
