"""Media bytes, shared by every backend: a content-addressed folder (``<aa>/<bb>/<sha256>``) with a ``.tmp``
folder for uploads in progress.

Why one implementation: both stores keep bytes on a filesystem (for Elasticsearch a shared folder when
several hosts serve) in the same layout, so a store copy moves the folder as it is; only where the
metadata (size, type, first stored) lives differs — a table on SQLite, the reserved ``_media`` collection
on Elasticsearch — so a store supplies ``record_media`` and gets the rest of the ``Store`` media calls
from ``MediaFiles``.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO

from contenthub.timeutil import to_iso, utcnow


class MediaFiles(ABC):
    """The ``Store`` protocol's media calls over ``self.media_dir``; the store records metadata."""

    media_dir: Path

    def _init_media(self, media_dir: Path, *, keep_tmp_younger_than: float) -> None:
        """Create the folders and remove partial uploads a crash left. ``keep_tmp_younger_than`` seconds:
        0 when this process owns the folder, longer when other processes may be writing theirs now."""
        self.media_dir = Path(media_dir)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        (self.media_dir / ".tmp").mkdir(exist_ok=True)
        cutoff = time.time() - keep_tmp_younger_than
        for p in (self.media_dir / ".tmp").iterdir():
            try:
                if not keep_tmp_younger_than or p.stat().st_mtime < cutoff:
                    p.unlink()
            except OSError:
                pass

    @abstractmethod
    def record_media(self, sha256: str, size: int, mime: str, created_at: str) -> None:
        """Metadata of a stored file; the first record stands (bytes are content-addressed)."""

    def _media_file(self, sha256: str) -> Path:
        return self.media_dir / sha256[:2] / sha256[2:4] / sha256

    def media_tmp_dir(self) -> Path:
        return self.media_dir / ".tmp"

    def media_path(self, sha256: str) -> Path | None:
        p = self._media_file(sha256)
        return p if p.exists() else None

    def put_media_file(self, tmp_path: Path, sha256: str, size: int, mime: str) -> bool:
        """Move a fully written temp file into place, then record it (so a crash in between leaves bytes
        without metadata, re-recorded by the next upload of the same bytes — never metadata without bytes)."""
        dest = self._media_file(sha256)
        existed = dest.exists()
        if existed:
            tmp_path.unlink(missing_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, dest)  # atomic within one filesystem: never a partial file under its final name
            fsync_dir(dest.parent)
        self.record_media(sha256, size, mime, to_iso(utcnow()))
        return not existed

    def open_media(self, sha256: str) -> BinaryIO | None:
        p = self.media_path(sha256)
        return p.open("rb") if p else None


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: some filesystems cannot open a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
