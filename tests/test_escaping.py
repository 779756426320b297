"""Template output is escaped everywhere: plant script and attribute-breaking payloads in every field a
user can edit, then fetch every page and check no payload comes back as live markup.

Fields planted (through the API, as an attacker with an editor-or-better key would): asset title, body,
tags, url and media file name; taxonomy names and descriptions; user region, source channel, member level,
attributes and identity values; event attributes; group names and owners; segment ids, names, descriptions
and rule values; API key names (shown as the actor in the audit log and in slot edit histories);
experiment names, hypotheses and variant descriptions; marketing-date names and plan slots (titles and
rationale come from assets); journey names, descriptions and step names; tag-suggester keyword cues.
Pages: every GET route outside /v1 (enumerated from the app, so new pages are fetched too) with its path
parameters pointed at the planted objects, plus query strings that pages echo and error pages that echo ids.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from tests.helpers import png_bytes

SCRIPT = '<script>alert("x1")</script>'
ATTR = '"><img src=x onerror=alert(2)>'
SQUOTE = "'><svg onload=alert(3)>"
PAYLOAD = f"{SCRIPT} {ATTR} {SQUOTE}"
LIVE = ("<script>alert(", "<img src=x onerror", "<svg onload")
"""Substrings that only appear when a payload was emitted unescaped."""
ESCAPED = ("&lt;script&gt;alert(", "&lt;img src=x onerror", "&lt;svg onload")


def _ok(r: Any) -> Any:
    assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else None


@pytest.fixture
def planted(clients: Any) -> dict[str, str]:
    admin = clients.as_("admin")
    ids: dict[str, str] = {}
    # a key whose name is a payload: it becomes the actor of audit entries and slot edits
    created = _ok(admin.post("/v1/keys", json={"role": "editor", "name": SCRIPT + ATTR[:40]}))
    evil = TestClient(clients.app, headers={"Authorization": f"Bearer {created['key']}"})
    # taxonomy
    _ok(
        admin.put(
            "/v1/taxonomy/scenes/xss_scene", json={"id": "xss_scene", "zh": SCRIPT, "en": ATTR, "description": PAYLOAD}
        )
    )
    # assets (one with media whose file name is a payload)
    asset = {
        "id": "xss1",
        "title": PAYLOAD,
        "body": PAYLOAD,
        "kind": "article",
        "content_type": "educational",
        "scenes": ["xss_scene"],
        "channels": ["wecom_1v1", "wecom_group", "moments", "mp_subscription"],
        "tags": [SCRIPT, ATTR, SQUOTE],
        "url": "https://example.com/?q=" + quote(ATTR) + ATTR,
        "status": "approved",
    }
    _ok(evil.post("/v1/assets", json=asset))
    ids["asset_id"] = "xss1"
    r = evil.post(
        "/v1/assets/upload",
        data={"title": SCRIPT, "body": ATTR, "tags": SQUOTE, "status": "approved"},
        files={"file": (f"{ATTR}.png", png_bytes(), "image/png")},
    )
    ids["media_asset"] = _ok(r)["id"]
    # people: user, identity, events with attributes, group, segment
    _ok(
        admin.put(
            "/v1/users",
            json={
                "id": "xss-user",
                "identities": [{"type": "openid", "value": SCRIPT}],
                "region": ATTR,
                "source_channel": SQUOTE,
                "member_level": SCRIPT[:60],
                "attributes": {"note": PAYLOAD, SCRIPT: ATTR},
            },
        )
    )
    ids["user_id"] = "xss-user"
    _ok(
        admin.post(
            "/v1/events",
            json={
                "events": [
                    {
                        "id": f"xss-ev-{i}",
                        "type": t,
                        "user_id": "xss-user",
                        "asset_id": "xss1",
                        "channel": "wecom_1v1",
                        "attributes": {"src": ATTR},
                    }
                    for i, t in enumerate(("delivered", "open", "click"))
                ]
            },
        )
    )
    _ok(admin.put("/v1/groups", json={"id": "xss-g", "name": PAYLOAD, "owner": ATTR}))
    _ok(admin.post("/v1/groups/xss-g/members", json={"join": ["xss-user"]}))
    _ok(
        admin.put(
            f"/v1/segments/{quote(SQUOTE, safe='')}",
            json={"name": SCRIPT, "description": PAYLOAD, "all": [{"field": "region", "op": "eq", "value": ATTR}]},
        )
    )
    # experiments
    _ok(
        evil.post(
            "/v1/experiments",
            json={
                "key": "xss-exp",
                "name": PAYLOAD,
                "hypothesis": PAYLOAD,
                "unit": "user",
                "change": "strategy",
                "variants": [
                    {"name": "control", "weight": 0.5, "strategy": "default", "description": SCRIPT},
                    {"name": "B", "weight": 0.5, "strategy": "popular", "description": ATTR},
                ],
            },
        )
    )
    ids["key"] = "xss-exp"
    # publishing: a marketing date and a slot in the planted week (asset title → slot title and rationale)
    week = date.today() + timedelta(days=14)
    monday = week - timedelta(days=week.weekday())
    ids["week"] = monday.isoformat()
    _ok(admin.put("/v1/marketing-dates", json=[{"name": PAYLOAD, "on": monday.isoformat()}]))
    plan = _ok(
        evil.post(
            "/v1/plans",
            json={
                "week": monday.isoformat(),
                "channels": ["wecom_1v1", "wecom_group", "moments"],
                "audiences": ["all", "group:xss-g"],
            },
        )
    )
    if not any(s["asset_id"] == "xss1" for s in plan["slots"]):
        start = datetime.combine(monday + timedelta(days=2), datetime.min.time()).replace(hour=12).astimezone()
        plan = _ok(
            evil.post(
                f"/v1/plans/{monday.isoformat()}/slots",
                json={
                    "version": plan["version"],
                    "channel": "wecom_1v1",
                    "start": start.isoformat(),
                    "asset_id": "xss1",
                },
            )
        )
    ids["slot_id"] = next(s["id"] for s in plan["slots"] if s["asset_id"] == "xss1")
    # an edit by the payload-named key lands in the slot's edit history
    _ok(evil.patch(f"/v1/plans/{monday.isoformat()}/slots/{ids['slot_id']}", json={"locked": False}))
    # journeys: from a template, then renamed with payloads
    template_id = next(iter(_ok(admin.get("/v1/journeys/templates"))))
    journey = _ok(evil.post(f"/v1/journeys/templates/{template_id}"))
    body = {k: v for k, v in journey.items() if k not in ("version", "created_at", "updated_at", "updated_by")}
    body.update(name=SCRIPT + ATTR[:40], description=PAYLOAD)
    for step in body["steps"]:
        step["name"] = SQUOTE + SCRIPT[:50]
    _ok(evil.put(f"/v1/journeys/{journey['id']}", json=body))
    ids["journey_id"] = journey["id"]
    # tag-suggester cues, if the cue format takes free words
    cues = admin.get("/v1/tagging/cues")
    if cues.status_code == 200 and isinstance(cues.json(), dict):
        admin.put("/v1/tagging/cues", json={**cues.json(), "xss_scene": [SCRIPT, ATTR]})
    return ids


def _pages(app: Any) -> list[tuple[str, list[str]]]:
    """(path template, path parameter names) of every GET route outside /v1 that renders a page."""
    out = []
    for rc in iter_route_contexts(app.routes):
        if not isinstance(rc.original_route, APIRoute) or "GET" not in (rc.methods or ()):
            continue
        if rc.path.startswith("/v1/") or rc.path.endswith("/media") or rc.path in ("/healthz", "/readyz", "/"):
            continue
        out.append((rc.path, re.findall(r"{(\w+)}", rc.path)))
    return out


def test_no_payload_is_rendered_live_on_any_page(clients: Any, planted: dict[str, str]) -> None:
    from tests.test_pages import login

    session = login(clients, "admin")
    urls: list[str] = []
    for path, params in _pages(clients.app):
        unknown = [p for p in params if p not in planted]
        assert not unknown, f"{path}: add the planted object for {unknown} to the fixture so this page is checked"
        url = path
        for p in params:
            url = url.replace("{" + p + "}", quote(planted[p], safe=""))
        urls.append(url)
    week = planted["week"]
    urls += [
        f"/calendar?week={week}",
        f"/calendar?week={week}&audience=group:xss-g&lang=en",
        f"/calendar/slots/{planted['slot_id']}?week={week}",
        f"/calendar?week={week}&msg={quote(PAYLOAD)}",
        f"/calendar?week={quote(PAYLOAD)}",
        f"/calendar?week={week}&heat_channel={quote(ATTR)}",
        f"/library?q={quote(PAYLOAD)}",
        "/library?scene=xss_scene&lang=en",
        f"/library?tag={quote(SCRIPT)}",
        f"/library/assets/{planted['media_asset']}",
        f"/users?q={quote(SCRIPT)}",
        "/users?q=xss-user",
        f"/library/review?flash={quote(PAYLOAD)}",
        f"/login?next={quote('/' + ATTR)}",
        f"/library/assets/{quote(SQUOTE, safe='')}",
        f"/users/{quote(SQUOTE, safe='')}",
        f"/experiments/{quote(SQUOTE, safe='')}",
        f"/journeys/{quote(SQUOTE, safe='')}",
        f"/experiments/{planted['key']}?lang=en",
        f"/journeys/{planted['journey_id']}?lang=en",
        "/admin/keys",
        "/segments",
        "/users?group=xss-g",
        f"/segments?group=xss-g&tag={quote(SCRIPT)}",
        "/experiments/new",
    ]
    live, shown = [], {}
    for url in dict.fromkeys(urls):
        r = session.get(url, follow_redirects=False)
        assert r.status_code in (200, 404, 422), f"{url}: {r.status_code} {r.text[:200]}"
        assert r.headers["content-type"].startswith("text/html"), url
        live += [f"{url}: {marker!r}" for marker in LIVE if marker in r.text]
        shown[url] = sum(r.text.count(e) for e in ESCAPED)
    assert not live, "payloads rendered as markup:\n" + "\n".join(live)
    # not vacuous: each kind of planted object does show up (escaped) where it is displayed
    for url in (
        f"/library/assets/{planted['asset_id']}",
        "/library",
        f"/users/{planted['user_id']}",
        "/users",
        f"/experiments/{planted['key']}",
        "/experiments",
        f"/journeys/{planted['journey_id']}",
        "/journeys",
        f"/calendar?week={week}",
        f"/calendar/slots/{planted['slot_id']}?week={week}",
        "/admin/audit",
        "/admin/keys",
        "/segments",
        "/users?group=xss-g",
        f"/library/assets/{quote(SQUOTE, safe='')}",
    ):
        assert shown.get(url, 0) > 0, f"{url} shows no planted payload: the test would not notice a regression there"


def test_payload_url_schemes_are_refused(clients: Any) -> None:
    """A link an editor can set never becomes script: only http(s) URLs are stored."""
    editor = clients.as_("editor")
    for url in (
        "javascript:alert(1)",
        " javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>1</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
    ):
        r = editor.post("/v1/assets", json={"title": "链接", "url": url})
        assert r.status_code == 422 and r.json()["error"]["field"] == "url", (url, r.text)
