"""SQLite media metadata: the ``media`` table beside the shared content-addressed folder (store/media.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from contenthub.store.media import MediaFiles
from contenthub.store.sqlite.connection import SQLiteBase


class SQLiteMedia(MediaFiles, SQLiteBase):
    def record_media(self, sha256: str, size: int, mime: str, created_at: str) -> None:
        with self._tx() as tx:
            tx.execute("INSERT OR IGNORE INTO media (sha256, size, mime, created_at) VALUES (?,?,?,?)",
                       (sha256, size, mime, created_at))

    def iter_media(self) -> Iterator[dict[str, Any]]:
        """Every media record, by hash (``contenthub store copy``)."""
        for r in self._conn().execute("SELECT sha256, size, mime, created_at FROM media ORDER BY sha256"):
            yield {"sha256": r[0], "size": int(r[1]), "mime": r[2], "created_at": r[3]}
