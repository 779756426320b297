"""Persistence behind one narrow interface (``Store``); pick the backend from the store URL."""

from __future__ import annotations

from pathlib import Path

from contenthub.config import Settings
from contenthub.store.base import Store


def open_store(settings: Settings) -> Store:
    url = settings.resolved_store_url()
    if url.startswith("sqlite:///"):
        from contenthub.store.sqlite import SQLiteStore

        return SQLiteStore(Path(url.removeprefix("sqlite:///")), settings.media_dir)
    if url.startswith(("elasticsearch://", "elasticsearch+https://", "http://", "https://")):
        from contenthub.store.elastic import ElasticStore

        return ElasticStore(url, settings)
    raise ValueError(f"Unsupported store URL {url!r}: use sqlite:///path/to/file.db or elasticsearch://host:port")


__all__ = ["Store", "open_store"]
