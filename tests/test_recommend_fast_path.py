"""NextContentFastPath answers next content for a user exactly as the FastAPI route would: same bodies for
errors, same rate limit, and it hands everything unusual to the route (validation, auth, reserve, sessions)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from contenthub.access.ratelimit import RateLimiter
from contenthub.recommend import routes
from tests.helpers import asset

USER = "/v1/recommendations/users/u1"


@pytest.fixture
def fast(clients, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Small library; records for every request of the route whether the fast path took it."""
    editor = clients.as_("editor")
    for key, title in [("a1", "护眼小课堂：20-20-20 法则"), ("a2", "手冲咖啡入门：粉水比怎么调"), ("a3", "新人专享：首单立减20元")]:
        r = editor.post("/v1/assets", json=asset(title=title, id=key, channels=["wecom_1v1", "wecom_group"]))
        assert r.status_code == 201, r.text
    taken: list[bool] = []
    parse = routes.NextContentFastPath._parse

    def spy(self: Any, scope: Any) -> Any:
        call = parse(self, scope)
        if scope["type"] == "http" and scope["path"].startswith("/v1/recommendations/users/"):
            taken.append(call is not None)
        return call

    monkeypatch.setattr(routes.NextContentFastPath, "_parse", spy)
    return taken


def _same_shape(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert set(a) == set(b)
    assert {k: v for k, v in a.items() if k != "picks"} == {k: v for k, v in b.items() if k != "picks"}
    assert [set(p) for p in a["picks"]] == [set(p) for p in b["picks"]]


def test_fast_path_answers_like_the_route(clients, fast) -> None:
    bot = clients.as_("bot")
    first = bot.get(USER, params={"channel": "wecom_1v1", "n": 2, "reserve": "false"})  # `reserve`: the route
    again = bot.get(USER, params={"channel": "wecom_1v1", "n": 2})  # the fast path
    assert fast == [False, True]
    assert first.status_code == again.status_code == 200
    assert again.headers["content-type"] == "application/json"
    assert again.headers["x-content-type-options"] == "nosniff", "the middlewares still apply"
    _same_shape(first.json(), again.json())
    assert len(again.json()["picks"]) == 2


def test_a_key_not_remembered_yet_is_verified_on_the_fast_path(clients, fast) -> None:
    """On SQLite an expired or new cache entry is re-verified in place (one read and a SHA-256), so the
    requests in flight when the entries expire do not all fall to the route at once; a wrong key still
    goes to the route and gets its 401."""
    from contenthub.access import keys

    bot = clients.as_("bot")
    keys.forget_verified_keys()
    assert bot.get(USER, params={"channel": "wecom_1v1"}).status_code == 200
    keys.forget_verified_keys()
    wrong = clients.anon.get(USER, params={"channel": "wecom_1v1"}, headers={"Authorization": "Bearer chk_nope_nope"})
    assert wrong.status_code == 401
    assert fast == [True, False]


@pytest.mark.parametrize("params", [
    {"channel": "myspace"},                      # unknown channel: the service's 422
    {"channel": "wecom_1v1", "scene": "nope"},   # unknown scene
    {"channel": "wecom_1v1", "strategy": "nope"},  # unknown strategy
])
def test_service_errors_are_the_routes(clients, fast, params: dict[str, str]) -> None:
    bot = clients.as_("bot")
    bot.get("/v1/strategies")  # verifies the key
    via_fast = bot.get(USER, params=params)
    via_route = bot.get(USER, params={**params, "other": "1"})  # an unknown parameter: the route
    assert fast == [True, False]
    assert via_fast.status_code == via_route.status_code and via_fast.status_code in (404, 422)
    assert via_fast.json() == via_route.json() and via_fast.json()["error"]["message"]


@pytest.mark.parametrize("query", [
    "", "n=3",                                      # channel missing: 422 from validation
    "channel=wecom_1v1&n=0", "channel=wecom_1v1&n=101", "channel=wecom_1v1&n=x", "channel=wecom_1v1&n=03",
    "channel=", "channel=wecom_1v1&channel=wecom_group",  # blank, repeated
    "channel=wecom_1v1&reserve=true", "channel=wecom_1v1&reserve=false",
])
def test_unusual_requests_go_to_the_route(clients, fast, query: str) -> None:
    bot = clients.as_("bot")
    bot.get("/v1/strategies")
    r = bot.get(f"{USER}?{query}")
    assert fast == [False]
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["error"]["message"]


def test_auth_and_roles_go_through_the_route(clients, fast) -> None:
    assert clients.anon.get(USER, params={"channel": "wecom_1v1"}).status_code == 401
    bad = TestClient(clients.app, headers={"Authorization": "Bearer chk_nope_nope"})
    assert bad.get(USER, params={"channel": "wecom_1v1"}).status_code == 401
    viewer = clients.as_("viewer")
    viewer.get("/v1/taxonomy/scenes")  # verified, but may not read recommendations
    assert viewer.get(USER, params={"channel": "wecom_1v1"}).status_code == 403
    assert fast == [False, False, False]


def test_revoked_key_is_refused_at_once(clients, fast) -> None:
    admin = clients.as_("admin")
    created = admin.post("/v1/keys", json={"role": "bot", "name": "b"}).json()
    c = TestClient(clients.app, headers={"Authorization": f"Bearer {created['key']}"})
    assert c.get(USER, params={"channel": "wecom_1v1"}).status_code == 200
    assert c.get(USER, params={"channel": "wecom_1v1"}).status_code == 200
    admin.post(f"/v1/keys/{created['info']['id']}/revoke")
    assert c.get(USER, params={"channel": "wecom_1v1"}).status_code == 401
    assert fast == [True, True, False]  # verified on the fast path; once revoked, the route answers


def test_rate_limit_on_the_fast_path(clients, fast) -> None:
    bot = clients.as_("bot")
    bot.get(USER, params={"channel": "wecom_1v1"})  # verifies the key (on the fast path)
    clients.hub.cache["rate_limiter"] = RateLimiter(per_minute=6)  # burst of 1
    assert bot.get(USER, params={"channel": "wecom_1v1"}).status_code == 200
    r = bot.get(USER, params={"channel": "wecom_1v1"})
    assert fast == [True, True, True]
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "per minute" in r.json()["error"]["message"]
