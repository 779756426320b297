"""The running application's shared parts — settings, store, embedding model — handed to services.

Services take a ``Hub`` instead of importing globals, so tests build one with a temporary store and
the session's already-loaded model, and the CLI and HTTP app build theirs the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contenthub.config import Settings
from contenthub.embeddings import Embedder, load_embedder
from contenthub.hooks import Hooks, install
from contenthub.library import taxonomy
from contenthub.store import Store, open_store

CHANGES = "changes"
"""Store collection of change marks: one document per kind of data, whose store version counts its changes."""

CHANGES_POLL_S = 0.5
"""Seconds between reads of the change marks: how soon a change made by another process shows here."""

CLOSE_WAIT_S = 60.0
"""How long ``Hub.close`` waits for background work that reads the store (a rollup, a refit) to finish."""


@dataclass
class Hub:
    settings: Settings
    store: Store
    _embedder: Embedder | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    cache: dict[str, Any] = field(default_factory=dict)
    _versions: dict[str, int] = field(default_factory=dict)
    _versions_read_at: float = float("-inf")
    _background: list[threading.Thread] = field(default_factory=list)
    hooks: Hooks = field(default_factory=Hooks)
    """Who reacts to what this hub's services announce (``contenthub.hooks``); wired by ``open_hub``."""

    def start_background(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Run ``target`` on a daemon thread that ``close`` waits for.

        Why: background work (the dashboard's rollup, a strategy refit, statistics) reads the store; closing
        the store under it would pull a SQLite connection from under a running query, which crashes the
        process rather than raising."""
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._background = [t for t in self._background if t.is_alive()]
            self._background.append(thread)
        thread.start()
        return thread

    def touch(self, name: str) -> None:
        """Mark a kind of data as changed so in-memory views built from it (the catalog, the memoised
        configuration) rebuild — in this process at once, in every other process within ``CHANGES_POLL_S``.

        Why through the store: API worker processes and the CLI share one database but no memory. The
        mark is a document whose store version is the change count, so bumping it is one atomic write on
        either backend (no read-modify-write race between processes)."""
        version = self.store.put_doc(CHANGES, name, {"name": name})
        if version > self._versions.get(name, 0):
            self._versions[name] = version

    def version(self, name: str) -> int:
        """How often ``name`` has changed (any process): compare with the count a view was built at."""
        now = time.monotonic()
        if now - self._versions_read_at >= CHANGES_POLL_S or name not in self._versions:
            self._poll_versions(name)
            self._versions_read_at = now
        return self._versions[name]

    def _poll_versions(self, name: str) -> None:
        """Every mark this process follows, in one read (one round trip on Elasticsearch)."""
        keys = sorted({name, *self._versions})
        found = self.store.doc_versions(CHANGES, keys)
        for key in keys:
            version = found.get(key, 0)
            if version > self._versions.get(key, -1):
                self._versions[key] = version

    @property
    def embedder(self) -> Embedder:
        """Loaded on first use: pages and key management never pay for the model."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = load_embedder(self.settings.model_path)
        return self._embedder

    def close(self) -> None:
        deadline = time.monotonic() + CLOSE_WAIT_S
        for thread in list(self._background):
            thread.join(max(0.0, deadline - time.monotonic()))
        self.store.close()


def open_hub(settings: Settings, embedder: Embedder | None = None) -> Hub:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    taxonomy.ensure_defaults(store)
    hub = Hub(settings=settings, store=store, _embedder=embedder)
    install(hub.hooks)
    return hub
