"""Next content for a user: one route, documented by FastAPI and answered by its own lean handler
(``routes._answer_next_content``). Every request — good, malformed, unauthenticated, rate-limited — gets
exactly what FastAPI's generic handler for the same route gives (same status, body and language)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute, request_response
from fastapi.testclient import TestClient

from contenthub.access.ratelimit import RateLimiter
from contenthub.recommend import routes
from tests.helpers import asset

USER = "/v1/recommendations/users/u1"


@pytest.fixture
def library(clients) -> Any:
    editor = clients.as_("editor")
    for key, title in [
        ("a1", "护眼小课堂：20-20-20 法则"),
        ("a2", "手冲咖啡入门：粉水比怎么调"),
        ("a3", "新人专享：首单立减20元"),
    ]:
        r = editor.post("/v1/assets", json=asset(title=title, id=key, channels=["wecom_1v1", "wecom_group"]))
        assert r.status_code == 201, r.text
    return clients


def _route(app: Any) -> APIRoute:
    return next(
        r for r in app.router.routes if isinstance(r, APIRoute) and r.path == "/v1/recommendations/users/{user_id}"
    )


def _generic(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve the route through FastAPI's generic handler (dependency solving) instead of the lean one."""
    route = _route(app)
    monkeypatch.setattr(route, "app", request_response(APIRoute.get_route_handler(route)))


def _answer(client: TestClient, query: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    r = client.get(f"{USER}?{query}", headers=headers or {})
    body = r.json()
    if r.status_code == 200:  # recommendation ids differ per request; the shape and the picks' assets do not
        body = {**body, "picks": [p["asset_id"] for p in body["picks"]]}
    return r.status_code, body


QUERIES = [
    "channel=wecom_1v1",
    "channel=wecom_1v1&n=2",
    "channel=wecom_1v1&n=2.0",
    "channel=wecom_1v1&strategy=popular",
    "",
    "n=3",
    "channel=",
    "channel=wecom_1v1&n=0",
    "channel=wecom_1v1&n=101",
    "channel=wecom_1v1&n=x",
    "channel=wecom_1v1&n=03",
    "channel=myspace",
    "channel=wecom_1v1&scene=nope",
    "channel=wecom_1v1&strategy=nope",
    "channel=myspace&channel=wecom_1v1",
    "channel=wecom_1v1&other=1",
    "channel=wecom_1v1&reserve=maybe",
    "channel=wecom_1v1&n=x&lang=en",
    "channel=myspace&lang=en",
]


def test_the_lean_handler_serves_the_route() -> None:
    route = next(r for r in routes.router.routes if getattr(r, "path", "") == "/v1/recommendations/users/{user_id}")
    assert isinstance(route, routes.NextContentRoute)
    assert route.get_route_handler() is routes._answer_next_content


def test_answers_as_fastapis_generic_handler(library, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = library.as_("bot")
    lean = [_answer(bot, q) for q in QUERIES]
    lean.append(_answer(bot, "channel=wecom_1v1&n=x", {"Accept-Language": "en"}))
    _generic(library.app, monkeypatch)
    generic = [_answer(bot, q) for q in QUERIES]
    generic.append(_answer(bot, "channel=wecom_1v1&n=x", {"Accept-Language": "en"}))
    assert lean == generic
    assert [s for s, _b in lean].count(200) == 7 and {s for s, _b in lean} == {200, 422}
    assert lean[-1][1]["error"]["message"] == "n: Enter a whole number."


@pytest.mark.parametrize("generic", [False, True])
def test_auth_roles_and_errors(library, monkeypatch: pytest.MonkeyPatch, generic: bool) -> None:
    if generic:
        _generic(library.app, monkeypatch)
    q = {"channel": "wecom_1v1"}
    nokey = library.anon.get(USER, params=q)
    assert nokey.status_code == 401 and "API" in nokey.json()["error"]["message"]
    bad = TestClient(library.app, headers={"Authorization": "Bearer chk_nope_nope"})
    assert bad.get(USER, params=q).status_code == 401
    viewer = library.as_("viewer").get(USER, params=q)
    assert viewer.status_code == 403 and viewer.json()["error"]["needs"] == "recommend:read"
    ok = library.as_("bot").get(USER, params=q)
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/json"
    assert ok.headers["x-content-type-options"] == "nosniff", "the middlewares apply"
    assert library.as_("bot").head(USER, params={**q, "reserve": "true"}).status_code == 405  # HEAD changes nothing


def test_reserve_takes_one_pick(library) -> None:
    r = library.as_("bot").get(USER, params={"channel": "wecom_1v1", "n": 3, "reserve": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["reserved"] and len(r.json()["picks"]) == 1


def test_revoked_key_is_refused_at_once(library) -> None:
    admin = library.as_("admin")
    created = admin.post("/v1/keys", json={"role": "bot", "name": "b"}).json()
    c = TestClient(library.app, headers={"Authorization": f"Bearer {created['key']}"})
    assert c.get(USER, params={"channel": "wecom_1v1"}).status_code == 200
    admin.post(f"/v1/keys/{created['info']['id']}/revoke")
    assert c.get(USER, params={"channel": "wecom_1v1"}).status_code == 401


def test_a_key_not_remembered_is_verified(library) -> None:
    from contenthub.access import keys

    keys.forget_verified_keys()
    assert library.as_("bot").get(USER, params={"channel": "wecom_1v1"}).status_code == 200


def test_rate_limit(library) -> None:
    bot = library.as_("bot")
    bot.get(USER, params={"channel": "wecom_1v1"})
    library.hub.cache["rate_limiter"] = RateLimiter(per_minute=6)  # burst of 1
    assert bot.get(USER, params={"channel": "wecom_1v1"}).status_code == 200
    r = bot.get(USER, params={"channel": "wecom_1v1", "lang": "en"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "per minute" in r.json()["error"]["message"]
