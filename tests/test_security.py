"""Keys, rate limits, audit log and erasure."""

from __future__ import annotations

from fastapi.testclient import TestClient

from contenthub.access.ratelimit import RateLimiter
from tests.helpers import asset


def test_rate_limiter_bucket() -> None:
    rl = RateLimiter(per_minute=60)  # 1/s, bursts of 10
    assert all(rl.hit("k", now=0.0) == 0 for _ in range(10))
    wait = rl.hit("k", now=0.0)
    assert 0.9 < wait <= 1.0
    assert rl.hit("k", now=1.5) == 0
    assert rl.hit("other", now=0.0) == 0, "one key's bucket never slows another"


def test_429_with_retry_after(clients) -> None:
    clients.hub.cache["rate_limiter"] = RateLimiter(per_minute=6)  # burst of 1
    viewer = clients.as_("viewer")
    assert viewer.get("/v1/taxonomy/scenes").status_code == 200
    r = viewer.get("/v1/taxonomy/scenes")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "per minute" in r.json()["error"]["message"]


def test_rotate_and_revoke_take_effect_at_once(clients) -> None:
    admin = clients.as_("admin")
    created = admin.post("/v1/keys", json={"role": "bot", "name": "wecom bot"}).json()
    key, key_id = created["key"], created["info"]["id"]
    c = TestClient(clients.app, headers={"Authorization": f"Bearer {key}"})
    assert c.get("/v1/strategies").status_code == 200
    rotated = admin.post(f"/v1/keys/{key_id}/rotate").json()["key"]
    assert c.get("/v1/strategies").status_code == 401, "the old secret stops working at once"
    c2 = TestClient(clients.app, headers={"Authorization": f"Bearer {rotated}"})
    assert c2.get("/v1/strategies").status_code == 200
    admin.post(f"/v1/keys/{key_id}/revoke")
    assert c2.get("/v1/strategies").status_code == 401
    assert clients.as_("editor").get("/v1/keys").status_code == 403


def test_audit_log_records_changes(clients) -> None:
    editor = clients.as_("editor")
    a = editor.post("/v1/assets", json=asset()).json()
    editor.patch(f"/v1/assets/{a['id']}", json={"title": "新标题"})
    log = clients.as_("admin").get("/v1/audit", params={"target_id": a["id"]}).json()
    assert [e["action"] for e in log] == ["update", "create"]
    assert log[0]["actor"] == "test-editor" and log[0]["details"]["changed"] == ["title"]
    assert editor.get("/v1/audit").status_code == 403


def test_erase_user_removes_everything_and_is_logged(clients) -> None:
    editor = clients.as_("editor")
    a = editor.post("/v1/assets", json=asset(id="er1")).json()
    editor.put(
        "/v1/users",
        json={
            "id": "victim",
            "identities": [{"type": "phone", "value": "13800138000"}, {"type": "openid", "value": "o-victim"}],
        },
    )
    editor.put("/v1/groups", json={"id": "gx"})
    editor.post("/v1/groups/gx/members", json={"join": ["victim"]})
    clients.as_("bot").post(
        "/v1/events",
        json={
            "events": [{"id": "v1", "type": "click", "user_id": "victim", "asset_id": a["id"], "channel": "moments"}]
        },
    )
    assert clients.as_("editor").delete("/v1/users/victim").status_code == 403
    r = clients.as_("admin").delete("/v1/users/victim")
    assert r.status_code == 200 and r.json()["removed"]["events"] == 1
    store = clients.hub.store
    assert store.get_doc("users", "victim") is None and store.count_events() == 0
    assert store.get_counters("profile", "victim") == {}
    assert not store.list_docs("identities")
    assert editor.get("/v1/groups/gx").json()["members"] == []
    log = clients.as_("admin").get("/v1/audit", params={"target_kind": "user"}).json()
    assert log[0]["action"] == "erase" and log[0]["target_id"] == "victim"
