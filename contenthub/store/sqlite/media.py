"""SQLite media metadata: the ``media`` table beside the shared content-addressed folder (store/media.py)."""

from __future__ import annotations

from contenthub.store.media import MediaFiles
from contenthub.store.sqlite.connection import SQLiteBase


class SQLiteMedia(MediaFiles, SQLiteBase):
    def record_media(self, sha256: str, size: int, mime: str, created_at: str) -> None:
        with self._tx() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO media (sha256, size, mime, created_at) VALUES (?,?,?,?)",
                (sha256, size, mime, created_at),
            )
