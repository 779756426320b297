"""The in-memory cache of verified API keys: revocation at once in this process, within KEY_CACHE_TTL elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contenthub.access import keys
from contenthub.app import create_app
from contenthub.config import Settings
from contenthub.hub import open_hub


@pytest.fixture
def app_and_key(tmp_path: Path):  # noqa: ANN201
    hub = open_hub(Settings(data_dir=tmp_path, session_secret="t", journeys_loop_seconds=0))
    app = create_app(hub.settings, hub)
    info, secret = keys.create_key(hub.store, "bot", "cache test")
    yield hub, app, info.id, secret
    hub.close()


def test_a_change_made_by_another_process_shows_within_the_ttl(app_and_key, monkeypatch: pytest.MonkeyPatch) -> None:
    hub, app, key_id, secret = app_and_key
    client = TestClient(app, headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"})
    assert client.get("/v1/strategies").status_code == 200
    # Another process revokes it: the row changes, nothing in this process is told.
    other = open_hub(hub.settings)
    try:
        doc, version = other.store.get_doc_version(keys.COLLECTION, key_id)
        other.store.put_doc(
            keys.COLLECTION, key_id, {**doc, "revoked_at": "2026-01-01T00:00:00Z"}, expected_version=version
        )
    finally:
        other.close()
    assert client.get("/v1/strategies").status_code == 200, "remembered for up to KEY_CACHE_TTL"
    later = keys._clock() + keys.KEY_CACHE_TTL + 0.01
    monkeypatch.setattr(keys, "_clock", lambda: later)
    r = client.get("/v1/strategies")
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_revoke_and_rotate_in_this_process_forget_at_once(app_and_key) -> None:
    hub, app, key_id, secret = app_and_key
    client = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/v1/strategies").status_code == 200
    _, new_secret = keys.rotate(hub.store, key_id)  # e.g. the CLI in this process, on its own hub
    assert client.get("/v1/strategies").status_code == 401
    rotated = TestClient(app, headers={"Authorization": f"Bearer {new_secret}"})
    assert rotated.get("/v1/strategies").status_code == 200
    keys.revoke(hub.store, key_id)
    assert rotated.get("/v1/strategies").status_code == 401


def test_wrong_keys_are_never_remembered(app_and_key) -> None:
    hub, app, key_id, secret = app_and_key
    bad = TestClient(app, headers={"Authorization": f"Bearer {secret}x"})
    assert bad.get("/v1/strategies").status_code == 401
    assert keys.cached_principal(hub.store, keys.cache_key(secret + "x")) is None
    assert keys.cached_principal(hub.store, keys.cache_key(secret)) is None  # not asked yet
    assert keys.verify_cached(hub.store, secret) is not None
    assert keys.cached_principal(hub.store, keys.cache_key(secret)) is not None
