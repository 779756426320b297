"""Roles shape the console (issue 22, item 4) and suggestion chips act one at a time (item 5)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from contenthub.library import tagging
from tests.test_pages import _csrf, login


def test_nav_shows_only_what_the_role_may_open(clients) -> None:
    viewer = login(clients, "viewer").get("/library", params={"lang": "zh"}).text
    assert 'href="/library/upload"' not in viewer and 'href="/admin/keys"' not in viewer
    assert 'href="/users"' in viewer and 'href="/experiments"' in viewer
    editor = login(clients, "editor").get("/library").text
    assert 'href="/library/upload"' in editor and 'href="/admin/keys"' not in editor
    admin = login(clients, "admin").get("/library").text
    assert 'href="/admin/keys"' in admin


def test_bot_key_cannot_open_a_console_session(clients) -> None:
    c = TestClient(clients.app)
    page = c.get("/login", params={"lang": "zh"})
    assert "contenthub keys create" not in page.text and "管理员" in page.text
    r = c.post("/login", data={"key": clients.keys["bot"], "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 403 and "机器人密钥" in r.text
    assert c.get("/library", follow_redirects=False).status_code == 303  # still not signed in


def test_admin_creates_a_key_shown_once_and_revokes_it(clients) -> None:
    c = login(clients, "admin")
    page = c.get("/admin/keys")
    r = c.post("/admin/keys", data={"csrf_token": _csrf(page.text), "role": "editor", "name": "小王"})
    assert r.status_code == 200
    secret = re.search(r'id="new-secret"[^>]*>([^<]+)<', r.text).group(1)
    assert clients.as_("admin").get("/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()["name"] == "小王"
    again = c.get("/admin/keys").text
    assert secret not in again and "小王" in again
    key_id = secret.split("_")[1]
    r = c.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": _csrf(again)}, follow_redirects=False)
    assert r.status_code == 303
    fresh = TestClient(clients.app)
    assert fresh.get("/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_key_form_errors_are_beside_the_field_with_values_kept(clients) -> None:
    c = login(clients, "admin")
    token = _csrf(c.get("/admin/keys").text)
    r = c.post(
        "/admin/keys", data={"csrf_token": token, "role": "superuser", "name": "运营小李"}, params={"lang": "zh"}
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert 'id="error-role"' in r.text and "Input should be" not in r.text and 'value="运营小李"' in r.text
    r = c.post("/admin/keys", data={"csrf_token": token, "role": "viewer", "name": "x" * 81})
    assert r.status_code == 422 and 'id="error-name"' in r.text
    assert login(clients, "editor").get("/admin/keys").status_code == 403


def _asset_with_suggestions(clients) -> dict:
    a = (
        clients.as_("editor")
        .post(
            "/v1/assets",
            json={"title": "护眼小课堂：20-20-20 法则", "body": "每用眼20分钟，远眺20秒，保护视力的知识科普"},
        )
        .json()
    )
    assert a["suggestions"]["scenes"] and a["suggestions"]["channels"]
    return a


def test_one_chip_accepted_or_rejected_alone(clients) -> None:
    a = _asset_with_suggestions(clients)
    c = login(clients)
    page = c.get(f"/library/assets/{a['id']}")
    assert page.text.count('class="facet-label"') >= 2
    scene = a["suggestions"]["scenes"][-1]["id"]
    channel = a["suggestions"]["channels"][0]["id"]
    r = c.post(
        f"/library/assets/{a['id']}/suggestions/accept",
        data={"csrf_token": _csrf(page.text), "facet": "scenes", "label": scene},
        follow_redirects=False,
    )
    assert r.status_code == 303
    stored = clients.hub.store.get_asset(a["id"])
    assert stored["scenes"] == [scene] and stored["channels"] == []
    r = c.post(
        f"/library/assets/{a['id']}/suggestions/reject",
        data={"csrf_token": _csrf(page.text), "facet": "channels", "label": channel},
        follow_redirects=False,
    )
    assert r.status_code == 303
    stored = clients.hub.store.get_asset(a["id"])
    assert channel not in [x["id"] for x in stored["suggestions"]["channels"]] and stored["channels"] == []
    bad = c.post(
        f"/library/assets/{a['id']}/suggestions/accept",
        data={"csrf_token": _csrf(page.text), "facet": "scenes", "label": "nope"},
        params={"lang": "zh"},
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html") and "nope" in bad.text


def test_accept_all_takes_only_suggestions_above_the_threshold(clients) -> None:
    a = _asset_with_suggestions(clients)
    c = login(clients)
    page = c.get(f"/library/assets/{a['id']}")
    assert f"{tagging.ACCEPT_ALL_MIN * 100:.0f}%" in page.text
    c.post(f"/library/assets/{a['id']}/accept", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    stored = clients.hub.store.get_asset(a["id"])
    for facet in ("scenes", "channels"):
        above = {x["id"] for x in a["suggestions"][facet] if x["confidence"] >= tagging.ACCEPT_ALL_MIN}
        assert set(stored[facet]) == above, facet
    low = [x for x in a["suggestions"]["channels"] if x["confidence"] < tagging.ACCEPT_ALL_MIN]
    assert low, "the demo text should leave some channel below the bar, or this test proves nothing"


def test_review_chips_have_facet_labels_and_accuracy_its_sample_size(clients) -> None:
    a = _asset_with_suggestions(clients)
    c = login(clients)
    page = c.get("/library/review", params={"lang": "zh"})
    row = page.text[page.text.index(f'data-asset-id="{a["id"]}"') :]
    assert 'class="facet-label"' in row[:4000] and "chip-accept" in row[:4000]
    scene = a["suggestions"]["scenes"][0]["id"]
    c.post(
        f"/library/assets/{a['id']}/suggestions/accept",
        data={"csrf_token": _csrf(page.text), "facet": "scenes", "label": scene, "back": "review"},
    )
    text = c.get("/library/review", params={"lang": "zh"}).text
    assert "n = 1" in text and 'id="accuracy-small"' in text
