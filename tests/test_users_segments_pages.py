"""Users page filters with counts that match, and the segment builder page (issue 22, item 6)."""

from __future__ import annotations

import re

from tests.test_pages import _csrf, login


def _people(clients) -> None:
    editor = clients.as_("editor")
    for i in range(7):
        src = "douyin" if i < 3 else "wecom_1v1"
        attrs = {"nickname": f"小{i}号"} if i == 0 else {}
        assert (
            editor.put(
                "/v1/users", json={"id": f"pu{i}", "region": "上海", "source_channel": src, "attributes": attrs}
            ).status_code
            == 200
        )
    editor.put("/v1/groups", json={"id": "pg1", "name": "护眼交流群", "channel": "wecom_group", "purpose": "community"})
    r = editor.post("/v1/groups/pg1/members", json={"join": ["pu1", "pu4"]})
    assert r.status_code in (200, 201), r.text


def _count(html: str) -> int:
    return int(re.search(r'id="user-count">\D*(\d+)', html).group(1))


def test_user_counts_follow_the_filter(clients) -> None:
    _people(clients)
    c = login(clients, "viewer")
    everyone = c.get("/users", params={"lang": "zh"}).text
    assert _count(everyone) == 7 and "小0号" in everyone
    by_source = c.get("/users", params={"source": "douyin"}).text
    assert _count(by_source) == 3 and by_source.count('class="user-row"') == 3
    by_group = c.get("/users", params={"group": "pg1"}).text
    assert _count(by_group) == 2 and "pu4" in by_group and "pu5" not in by_group
    both = c.get("/users", params={"group": "pg1", "source": "douyin"}).text
    assert _count(both) == 1
    assert _count(c.get("/users", params={"stage": "new"}).text) == 7  # no events yet: every user is new
    assert _count(c.get("/users", params={"tier": "loyal"}).text) == 0
    assert _count(c.get("/users", params={"tag": "护眼"}).text) == 0
    assert 'id="save-as-segment"' not in both  # viewers cannot save segments


def test_segment_builder_previews_and_saves_with_live_count(clients) -> None:
    _people(clients)
    c = login(clients, "editor")
    page = c.get("/segments", params={"source": "douyin"})
    assert 'value="source_channel" selected' in page.text and 'value="douyin"' in page.text
    form = {
        "csrf_token": _csrf(page.text),
        "name": "抖音来源",
        "description": "",
        "match": "all",
        "field": ["source_channel", "group", ""],
        "op": ["eq", "eq", "eq"],
        "value": ["douyin", "", ""],
        "action": "preview",
    }
    r = c.post("/segments", data=form)
    assert r.status_code == 422 and 'id="error-row-1"' in r.text and 'value="抖音来源"' in r.text
    form["field"] = ["source_channel", "", ""]
    r = c.post("/segments", data=form)
    assert r.status_code == 200 and re.search(r'id="preview-count"><b>\D*3', r.text)
    r = c.post("/segments", data={**form, "action": "save"}, follow_redirects=False)
    assert r.status_code == 303
    listed = clients.as_("viewer").get("/v1/segments").json()
    assert [(x["segment"]["name"], x["count"]) for x in listed] == [("抖音来源", 3)]
    shown = c.get(r.headers["location"]).text
    row = shown[shown.index('class="segment-row saved"') :]
    assert 'class="segment-count">3<' in row


def test_segment_builder_errors_are_beside_fields(clients) -> None:
    c = login(clients, "editor")
    token = _csrf(c.get("/segments").text)
    r = c.post(
        "/segments",
        data={"csrf_token": token, "name": "", "field": ["region"], "op": ["eq"], "value": ["上海"], "action": "save"},
        params={"lang": "zh"},
    )
    assert r.status_code == 422 and 'id="error-name"' in r.text and r.headers["content-type"].startswith("text/html")
    r = c.post(
        "/segments",
        data={
            "csrf_token": token,
            "name": "x",
            "field": ["paying"],
            "op": ["eq"],
            "value": ["maybe"],
            "action": "save",
        },
    )
    assert r.status_code == 422 and 'id="error-row-0"' in r.text and 'value="maybe"' in r.text
    r = c.post("/segments", data={"csrf_token": token, "name": "x", "action": "save"})
    assert r.status_code == 422 and 'id="error-row-0"' in r.text
    assert login(clients, "viewer").post("/segments", data={"csrf_token": token, "name": "x"}).status_code == 403
