"""The findings of the outside probe (issue #26), each replayed with the request that found it.

Each test names its finding; together they are the record that none of them came back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contenthub.timeutil import (
    MAX_YEAR,
    MIN_YEAR,
    BadStamp,
    from_iso,
    parse_instant,
    to_iso,
)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _asset(editor: Any, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "护眼小知识",
        "body": "every day",
        "scenes": ["education"],
        "channels": ["wecom_1v1"],
        "status": "approved",
        **fields,
    }
    r = editor.post("/v1/assets", json=body)
    assert r.status_code == 201, r.text
    return r.json()


# ---- High 1 / Low 13: one time parser and formatter ---------------------------------------------------------------


@FUZZ
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, None]) | st.timezones(),
    )
)
def test_every_stored_stamp_has_a_four_digit_year_and_reads_back(moment: datetime) -> None:
    try:
        utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        return
    text = to_iso(utc)
    assert len(text) == 27 and text[4] == "-" and text.endswith("Z"), text
    assert from_iso(text) == utc
    if MIN_YEAR <= utc.year <= MAX_YEAR:
        assert parse_instant(text) == utc
    else:
        with pytest.raises(BadStamp, match="out of range"):
            parse_instant(text)


HTTP_FUZZ = settings(FUZZ, max_examples=15)
OFFSETS = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=5, minutes=45))]
)


@HTTP_FUZZ
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS))
def test_times_from_any_year_and_offset_are_stored_or_refused_by_name(clients: Any, moment: datetime) -> None:
    admin = clients.as_("admin")
    text = moment.isoformat()
    try:
        utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        utc = None
    in_range = utc is not None and MIN_YEAR <= utc.year <= MAX_YEAR
    r = admin.post("/v1/assets", json={"title": "t", "valid_until": text})
    assert r.status_code == (201 if in_range else 422), (text, r.text)
    if in_range:
        stored = clients.hub.store.get_asset(r.json()["id"])["valid_until"]
        assert stored == to_iso(utc) and len(stored) == 27  # type: ignore[arg-type]
    else:
        assert "out of range" in r.json()["error"]["message"]
    ev = admin.post(
        "/v1/events",
        json={"events": [{"id": f"e-{text}", "type": "unsubscribe", "user_id": "u-t", "channel": "sms", "ts": text}]},
    )
    assert ev.status_code in (200, 422), ev.text
    if ev.status_code == 422:
        reason = ev.json()["rejected"][0]["reason"]
        assert ("out of range" in reason) != in_range or "future" in reason, reason


@pytest.mark.parametrize("text", ["1-01-01T00:00:00.000000Z", "", "2026-02-30T00:00:00Z", "nan", "0999-13-01"])
def test_unreadable_stamps_are_bad_stamps(text: str) -> None:
    with pytest.raises(BadStamp):
        from_iso(text)


@pytest.mark.parametrize(
    "ts",
    [
        "0001-01-01T00:00:00Z",
        "0200-01-01T00:00:00Z",
        "0999-06-01T00:00:00Z",
        "1899-12-31T23:59:59Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_an_event_out_of_range_is_rejected_as_out_of_range(clients: Any, ts: str) -> None:
    bot = clients.as_("bot")
    r = bot.post(
        "/v1/events",
        json={"events": [{"id": "e-range", "type": "unsubscribe", "user_id": "u-range", "channel": "sms", "ts": ts}]},
    )
    assert r.status_code == 422, r.text
    reason = r.json()["rejected"][0]["reason"]
    assert "out of range" in reason and "future" not in reason, reason
    assert clients.hub.store.get_doc("users", "u-range") is None


@pytest.mark.parametrize("path", ["/v1/assets", "/v1/assets/import"])
def test_an_asset_dated_year_one_is_refused(clients: Any, path: str) -> None:
    editor = clients.as_("editor")
    if path == "/v1/assets":
        r = editor.post(path, json={"title": "t", "valid_from": "0001-01-01T00:00:00Z"})
    else:
        r = editor.post(path, content=b'{"title": "t", "valid_from": "0001-01-01T00:00:00Z"}\n')
    assert r.status_code == 422 and "out of range" in r.text, r.text


def test_a_bad_stored_asset_is_skipped_listed_and_never_fails_reads(clients: Any) -> None:
    """High 1: an asset stored by an older version with a year-1 stamp took every next content down."""
    hub = clients.hub
    editor, bot, admin = clients.as_("editor"), clients.as_("bot"), clients.as_("admin")
    good = _asset(editor)
    bad = _asset(editor, title="旧版本写的")
    doc = hub.store.get_asset(bad["id"])
    doc["valid_from"] = "1-01-01T00:00:00.000000Z"  # exactly what the older version stored
    hub.store.put_asset(doc)
    hub.touch("assets")
    for url in (
        "/v1/recommendations/users/u-1?channel=wecom_1v1",
        "/v1/recommendations/users/u-1?channel=wecom_1v1&strategy=default&n=2",
    ):
        r = bot.get(url)
        assert r.status_code == 200, r.text
        assert [p["asset_id"] for p in r.json()["picks"]] == [good["id"]]
    admin.put("/v1/groups", json={"id": "g-1"})
    assert bot.get("/v1/recommendations/groups/g-1?channel=wecom_group").status_code == 200
    r = admin.post("/v1/plans", json={"week": "2030-01-07"})
    assert r.status_code in (200, 201), r.text
    listed = admin.get("/v1/admin/bad-records").json()
    assert [(e["kind"], e["record_id"], e["field"]) for e in listed] == [("asset", bad["id"], "valid_from")]
    page = admin.get("/admin/bad-records")
    assert page.status_code == 200 and bad["id"] in page.text
    assert bot.get("/v1/admin/bad-records").status_code == 403
    # fixed through the normal API: it is served again and leaves the list
    r = editor.patch(f"/v1/assets/{bad['id']}", json={"valid_from": "2020-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    r = bot.get("/v1/recommendations/users/u-2?channel=wecom_1v1&n=5")
    assert sorted(p["asset_id"] for p in r.json()["picks"]) == sorted([good["id"], bad["id"]])
    assert admin.get("/v1/admin/bad-records").json() == []


def test_a_user_stored_with_a_bad_stamp_still_gets_next_content(clients: Any) -> None:
    hub = clients.hub
    editor, bot = clients.as_("editor"), clients.as_("bot")
    _asset(editor)
    hub.store.put_doc(
        "users",
        "u-old",
        {"id": "u-old", "created_at": "1-01-01T00:00:00.000000Z", "updated_at": "2026-01-01T00:00:00.000000Z"},
    )
    r = bot.get("/v1/recommendations/users/u-old?channel=wecom_1v1")
    assert r.status_code == 200, r.text
    listed = clients.as_("admin").get("/v1/admin/bad-records").json()
    assert ("user", "u-old") in {(e["kind"], e["record_id"]) for e in listed}
    now = datetime.now(UTC)
    assert now - timedelta(minutes=5) < from_iso(listed[0]["found_at"]) <= now + timedelta(minutes=5)


# ---- High 2 / Medium 3: validation before any side effect, partial acceptance for every per-event error -----------


def _users(hub: Any) -> set[str]:
    return {d["id"] for d in hub.store.list_docs("users", limit=1000)}


def test_a_batch_with_a_year_one_event_stores_the_others_and_creates_no_user_for_it(clients: Any) -> None:
    bot = clients.as_("bot")
    base = {"type": "unsubscribe", "channel": "sms"}
    r = bot.post(
        "/v1/events",
        json={
            "events": [
                {**base, "id": "a", "user_id": "u-a"},
                {**base, "id": "b", "user_id": "u-zero", "ts": "0001-01-01T00:00:00Z"},
                {**base, "id": "c", "user_id": "u-c"},
            ]
        },
    )
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["accepted"] == 2 and [x["index"] for x in body["rejected"]] == [1]
    assert _users(clients.hub) == {"u-a", "u-c"}
    again = bot.post("/v1/events", json={"events": [{**base, "id": "a", "user_id": "u-a"}]})
    assert again.status_code == 200 and again.json()["duplicates"] == 1  # a retrying bot is not stuck


@pytest.mark.parametrize(
    "entry,reason",
    [
        (
            {
                "id": "x",
                "type": "open",
                "identity": {"type": "phone", "value": "n/a"},
                "channel": "sms",
                "asset_id": "a",
            },
            "phone number",
        ),
        ("not an object", "JSON object"),
        (42, "JSON object"),
        (None, "JSON object"),
        ({"id": "x", "type": "unsubscribe", "user_id": "../../etc/passwd", "channel": "sms"}, "not a valid id"),
        ({"id": "x", "type": "unsubscribe", "user_id": "a/b?c#d", "channel": "sms"}, "user_id"),
        ({"id": "x", "type": "unsubscribe", "user_id": "a..b", "channel": "sms"}, "not a valid id"),
    ],
)
def test_every_per_event_error_is_a_partial_acceptance(clients: Any, entry: Any, reason: str) -> None:
    bot = clients.as_("bot")
    ok = {"id": "ok-1", "type": "unsubscribe", "user_id": "u-ok", "channel": "sms"}
    r = bot.post("/v1/events", json={"events": [ok, entry]})
    assert r.status_code == 207, r.text
    assert r.json()["accepted"] == 1
    rejected = r.json()["rejected"]
    assert [x["index"] for x in rejected] == [1] and reason in rejected[0]["reason"], rejected
    assert _users(clients.hub) == {"u-ok"}
    alone = bot.post("/v1/events", json={"events": [entry]})
    assert alone.status_code == 422 and alone.json()["rejected"][0]["index"] == 0
    assert _users(clients.hub) == {"u-ok"}


@pytest.mark.parametrize("user_id", ["../../etc/passwd", "a/b?c#d", "..", ".", "a..b", "x" * 129, "a b", "é"])
def test_one_user_id_rule_for_every_way_in(clients: Any, user_id: str) -> None:
    admin = clients.as_("admin")
    admin.put("/v1/groups", json={"id": "g-ids"})
    calls = [
        admin.put("/v1/users", json={"id": user_id}),
        admin.post("/v1/groups/g-ids/members", json={"join": [user_id]}),
        admin.put("/v1/groups", json={"id": user_id}),
        admin.post(
            "/v1/events", json={"events": [{"id": "e", "type": "unsubscribe", "user_id": user_id, "channel": "sms"}]}
        ),
    ]
    for r in calls:
        assert r.status_code == 422, (r.request.url, r.text)
    assert _users(clients.hub) == set()


def test_the_users_page_quotes_ids_in_links(clients: Any) -> None:
    hub = clients.hub
    hub.store.put_doc(
        "users",
        "../../etc/passwd",
        {
            "id": "../../etc/passwd",
            "created_at": "2026-01-01T00:00:00.000000Z",
            "updated_at": "2026-01-01T00:00:00.000000Z",
        },
    )
    page = clients.as_("admin").get("/users")
    assert page.status_code == 200
    assert 'href="/users/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"' in page.text
    assert 'href="/users/../' not in page.text


# ---- Medium 4: the console session never writes through /v1 ------------------------------------------------------


def _login(clients: Any, role: str = "editor") -> Any:
    from fastapi.testclient import TestClient

    c = TestClient(clients.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
    r = c.post(
        "/login", data={"key": clients.keys[role], "csrf_token": token, "next": "/library"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return c


def test_a_session_cookie_cannot_write_through_the_api(clients: Any) -> None:
    web = _login(clients, "admin")
    assert web.get("/v1/me").json()["via"] == "session"  # reads still work (exports, the console's own links)
    before = clients.hub.store.count_assets(
        __import__("contenthub.store.query", fromlist=["AssetFilter"]).AssetFilter()
    )
    for r in (
        web.post("/v1/assets", json={"title": "forged"}),
        web.post("/v1/assets/import", content=b'{"title": "forged"}\n'),
        web.post("/v1/assets/upload", data={"title": "forged"}, files={"file": ("a.txt", b"x", "text/plain")}),
        web.put("/v1/users", json={"id": "u-forged"}),
        web.get("/v1/recommendations/users/u-1", params={"channel": "wecom_1v1", "reserve": "true"}),
    ):
        assert r.status_code == 403 and "Authorization: Bearer" in r.json()["error"]["message"], (r.request.url, r.text)
    assert (
        clients.hub.store.count_assets(__import__("contenthub.store.query", fromlist=["AssetFilter"]).AssetFilter())
        == before
    )
    assert clients.hub.store.get_doc("users", "u-forged") is None


def test_reserve_still_works_for_a_bot_key(clients: Any) -> None:
    _asset(clients.as_("editor"))
    r = clients.as_("bot").get("/v1/recommendations/users/u-1", params={"channel": "wecom_1v1", "reserve": "true"})
    assert r.status_code == 200 and r.json()["reserved"] is True, r.text


# ---- Medium 5: authentication before the body ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/assets/upload", "/v1/assets/import", "/v1/events", "/library/upload"])
def test_a_body_is_never_read_before_authentication(clients: Any, path: str) -> None:
    from fastapi.testclient import TestClient

    read = []

    def body() -> Any:  # the body a client would stream; reading any of it would be the bug
        read.append(1)
        yield b"x" * 1024

    anon = TestClient(clients.app)
    r = anon.post(path, content=body(), headers={"content-type": "application/octet-stream"}, follow_redirects=False)
    if path.startswith("/v1/"):
        assert r.status_code == 401 and r.headers["connection"] == "close", r.text
    else:
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    wrong = TestClient(clients.app, headers={"Authorization": "Bearer chk_nope_nope"})
    r = wrong.post(path, content=body(), headers={"content-type": "application/octet-stream"}, follow_redirects=False)
    assert r.status_code == 401
    assert read == []


# ---- Low 8: server-side sessions ---------------------------------------------------------------------------------


def test_logout_ends_the_session_and_the_cookie_holds_nothing_of_the_key(clients: Any) -> None:
    import base64
    import json

    web = _login(clients)
    cookie = web.cookies["contenthub_session"]
    payload = json.loads(base64.b64decode(cookie.split(".")[0] + "=="))
    stored_hashes = {d["hash"] for d in clients.hub.store.list_docs("api_keys")}
    assert set(payload) == {"sid", "csrf"} and not stored_hashes & set(map(str, payload.values()))
    assert web.get("/library", follow_redirects=False).status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/library").text).group(1)  # type: ignore[union-attr]
    assert web.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    from fastapi.testclient import TestClient

    replay = TestClient(clients.app, cookies={"contenthub_session": cookie})  # the old cookie, kept by a thief
    assert replay.get("/library", follow_redirects=False).status_code == 303
    assert replay.get("/v1/me").status_code == 401


# ---- Low 11: realistic rate limit, failed authentication limited per address ---------------------------------------


def test_default_rate_limit_is_realistic() -> None:
    from contenthub.config import Settings

    assert Settings().rate_limit_per_minute == 6000


def test_failed_authentication_is_limited_per_address(clients: Any) -> None:
    from fastapi.testclient import TestClient

    wrong = TestClient(clients.app, headers={"Authorization": "Bearer chk_abc_guess"})
    codes = [wrong.get("/v1/assets").status_code for _ in range(8)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429, codes
    r = wrong.get("/v1/assets")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    token_page = TestClient(clients.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', token_page.get("/login").text).group(1)  # type: ignore[union-attr]
    assert token_page.post("/login", data={"key": "guess", "csrf_token": token}).status_code == 429
    # another address is unaffected, and so is a key this process has already verified
    other = TestClient(
        clients.app, client=("203.0.113.9", 4000), headers={"Authorization": f"Bearer {clients.keys['bot']}"}
    )
    assert other.get("/v1/me").status_code == 200
    assert clients.as_("viewer").get("/v1/me").status_code == 429  # not remembered: verifying waits out the limit
    assert (
        TestClient(clients.app, headers={"Authorization": f"Bearer {clients.keys['bot']}"}).get("/v1/me").status_code
        == 200
    )  # remembered


# ---- Low 6: control bytes in search queries --------------------------------------------------------------------


@pytest.mark.parametrize("q", ["abc\x00", "a\x00b", "\x00", "护眼\x01\x1f", "abc\x7f", "\x00\x00\x00abcdef"])
def test_control_bytes_in_queries_are_answered(clients: Any, q: str) -> None:
    editor = clients.as_("editor")
    # whole words match (jieba/FTS words, not substrings): the title holds both words the queries carry
    asset = _asset(editor, title="abc abcdef 护眼")
    for mode in ("text", "hybrid"):
        r = editor.get("/v1/assets", params={"q": q, "mode": mode})
        assert r.status_code == 200, r.text
        if mode == "text" and q.strip("\x00\x01\x1f\x7f") in ("abc", "abcdef"):
            assert [h["asset"]["id"] for h in r.json()["items"]] == [asset["id"]]
    assert editor.get("/library", params={"q": q}).status_code in (200, 303)


# ---- Low 7: deep nesting ----------------------------------------------------------------------------------------


DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize(
    "method,path,body,ctype",
    [
        ("post", "/v1/assets/import", '{"title": "x", "tags": ' + DEEP + "}\n", "application/x-ndjson"),
        ("post", "/v1/assets/import", '{"title": "x", "tags": ' + DEEP + "}\n", "text/plain"),
        ("post", "/v1/assets", '{"title": "x", "tags": ' + DEEP + "}", "application/json"),
        ("post", "/v1/events", '{"events": [{"attributes": ' + DEEP + "}]}", "application/json"),
        ("post", "/v1/journeys", '{"name": "x", "steps": ' + DEEP + "}", "application/json"),
        ("put", "/v1/users", '{"id": "u", "attributes": {"a": ' + DEEP + "}}", "application/json"),
    ],
)
def test_deep_nesting_is_422_everywhere(clients: Any, method: str, path: str, body: str, ctype: str) -> None:
    r = getattr(clients.as_("admin"), method)(path, content=body.encode(), headers={"content-type": ctype})
    assert r.status_code == 422 and "levels deep" in r.json()["error"]["message"], r.text


def test_deep_nesting_in_the_journey_editor_form_is_explained(clients: Any) -> None:
    web = _login(clients, "admin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/journeys").text).group(1)  # type: ignore[union-attr]
    r = web.post("/journeys/new", data={"csrf_token": token, "definition": DEEP})
    assert r.status_code == 422 and "levels deep" in r.text


# ---- Low 10: phone numbers never in a URL ----------------------------------------------------------------------


def test_phone_lookups_go_by_post_body(clients: Any) -> None:
    editor = clients.as_("editor")
    uid = editor.put("/v1/users", json={"identities": [{"type": "phone", "value": "+86 138 0013 8000"}]}).json()["id"]
    r = editor.post("/v1/identities/lookup", json={"type": "phone", "value": "13800138000"})
    assert r.status_code == 200 and r.json()["id"] == uid
    r = editor.get("/v1/identities/phone/13800138000")
    assert r.status_code == 410 and "POST /v1/identities/lookup" in r.json()["error"]["message"]
    assert editor.post("/v1/identities/lookup", json={"type": "phone", "value": "n/a"}).status_code == 422
    assert editor.post("/v1/identities/lookup", json={"type": "openid", "value": "nobody"}).status_code == 404


# ---- Low 12: bounded strategy weights ----------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [1e308, -1e308, 100.5, float("inf")])
def test_strategy_weights_are_bounded(clients: Any, weight: float) -> None:
    admin = clients.as_("admin")
    body = '{"id": "huge", "weights": {"similarity": ' + (repr(weight) if weight != float("inf") else "1e999") + "}}"
    r = admin.put("/v1/strategies/huge", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "weights" in r.text, r.text


def test_a_stored_unbounded_strategy_is_skipped_not_fatal(clients: Any) -> None:
    hub = clients.hub
    _asset(clients.as_("editor"))
    hub.store.put_doc("strategies", "default", {"id": "default", "weights": {"similarity": 1e308}})
    hub.touch("strategies")
    r = clients.as_("bot").get("/v1/recommendations/users/u-1", params={"channel": "wecom_1v1"})
    assert r.status_code == 200 and all(isinstance(p["score"], float) for p in r.json()["picks"]), r.text
    assert clients.as_("bot").get("/v1/strategies").status_code == 200
    listed = clients.as_("admin").get("/v1/admin/bad-records").json()
    assert ("strategy", "default") in {(e["kind"], e["record_id"]) for e in listed}


# ---- Low 13: CSP, redirects without the Host header, HEAD ----------------------------------------------------------


def test_pages_carry_a_content_security_policy_with_a_fresh_nonce(clients: Any) -> None:
    web = _login(clients, "admin")
    a, b = web.get("/library"), web.get("/library")
    csp = a.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src-attr")[0]
    assert "'nonce-" in csp and csp != b.headers["content-security-policy"]
    assert clients.as_("viewer").get("/v1/assets").headers["content-security-policy"].startswith("default-src 'none'")


def test_trailing_slash_redirects_are_relative_and_ignore_the_host(clients: Any) -> None:
    viewer = clients.as_("viewer")
    r = viewer.get("/v1/assets/", headers={"host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/v1/assets"
    r = viewer.get("/v1/assets/?q=a", follow_redirects=False)
    assert r.headers["location"] == "/v1/assets?q=a"
    r = viewer.get("http://testserver//evil.example/", follow_redirects=False)  # the path //evil.example/
    assert r.status_code == 404 and "location" not in r.headers
    assert viewer.get("/static/nothing.css/", follow_redirects=False).status_code == 404


@pytest.mark.parametrize("path", ["/healthz", "/v1/assets", "/v1/me", "/login", "/static/app.css", "/openapi.json"])
def test_head_is_answered_on_get_routes(clients: Any, path: str) -> None:
    viewer = clients.as_("viewer")
    head, get = viewer.head(path), viewer.get(path)
    assert head.status_code == get.status_code == 200 and head.content == b""
    assert head.headers.get("content-type") == get.headers.get("content-type")


def test_head_never_reserves(clients: Any) -> None:
    r = clients.as_("bot").head("/v1/recommendations/users/u-1", params={"channel": "wecom_1v1", "reserve": "true"})
    assert r.status_code == 405


def test_failure_buckets_do_not_grow_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from contenthub.access import ratelimit

    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 100)
    limiter = ratelimit.RateLimiter(30)
    for i in range(1000):
        limiter.hit(f"198.51.100.{i}", now=float(i))  # one failure per address per second, each refills in 2 s
    assert len(limiter._buckets) <= 100
