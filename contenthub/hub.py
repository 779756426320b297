"""The running application's shared parts — settings, store, embedding model — handed to services.

Services take a ``Hub`` instead of importing globals, so tests build one with a temporary store and
the session's already-loaded model, and the CLI and HTTP app build theirs the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from contenthub.config import Settings
from contenthub.embeddings import Embedder, load_embedder
from contenthub.store import Store, open_store


@dataclass
class Hub:
    settings: Settings
    store: Store
    _embedder: Embedder | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    cache: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def touch(self, name: str) -> None:
        """Mark a kind of data as changed so in-memory views built from it (e.g. the catalog) rebuild."""
        self.versions[name] = self.versions.get(name, 0) + 1

    @property
    def embedder(self) -> Embedder:
        """Loaded on first use: pages and key management never pay for the model."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = load_embedder(self.settings.model_path)
        return self._embedder

    def close(self) -> None:
        self.store.close()


def open_hub(settings: Settings, embedder: Embedder | None = None) -> Hub:
    from contenthub.library import taxonomy

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    taxonomy.ensure_defaults(store)
    return Hub(settings=settings, store=store, _embedder=embedder)
