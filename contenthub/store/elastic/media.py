"""Elasticsearch media metadata: the reserved ``_media`` collection beside the shared content-addressed
folder (store/media.py; with several API hosts a shared folder)."""

from __future__ import annotations

from typing import Any

from contenthub.errors import ConflictError
from contenthub.store.elastic.client import MEDIA
from contenthub.store.elastic.documents import ElasticDocuments
from contenthub.store.media import MediaFiles


class ElasticMedia(MediaFiles, ElasticDocuments):
    def record_media(self, sha256: str, size: int, mime: str, created_at: str) -> None:
        """Metadata of a stored file; the first record stands (bytes are content-addressed)."""
        try:
            self.put_doc(
                MEDIA,
                sha256,
                {"sha256": sha256, "size": size, "mime": mime, "created_at": created_at},
                expected_version=0,
            )
        except ConflictError:
            pass

    def media_info(self, sha256: str) -> dict[str, Any] | None:
        return self.get_doc(MEDIA, sha256)
