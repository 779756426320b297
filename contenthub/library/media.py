"""Media uploads: streamed to a temp file while hashing, typed from the bytes, stored by sha256.

The name and the declared Content-Type are never trusted: an executable renamed .jpg is refused
because its bytes say so. Oversized uploads stop at the limit and leave nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import filetype

from contenthub.errors import InvalidError, TooLargeError, UnsupportedMediaError
from contenthub.i18n import _
from contenthub.library.models import MediaRef
from contenthub.store.base import Store

ALLOWED_MIME: dict[str, str] = {
    "image/png": "poster",
    "image/jpeg": "poster",
    "image/gif": "poster",
    "image/webp": "poster",
    "video/mp4": "video",
    "video/webm": "video",
    "video/quicktime": "video",
    "audio/mpeg": "audio",
    "audio/ogg": "audio",
    "audio/x-wav": "audio",
    "audio/mp4": "audio",
    "audio/x-m4a": "audio",
    "application/pdf": "file",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "file",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "file",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "file",
}

CHUNK = 1024 * 1024
MAX_ZIP_RATIO = 100  # office files are zips: refuse ones that expand absurdly (zip bombs)
_SAFE_NAME = re.compile(r"[^\w.\-() \u4e00-\u9fff]+")


def safe_filename(name: str | None) -> str:
    """Keep only the last path part, drop anything that could climb directories or hide control bytes."""
    if not name:
        return ""
    base = name.replace("\\", "/").split("/")[-1]
    if base in ("", ".", "..") or "\x00" in name:
        raise InvalidError(_("File name '{name}' is not allowed.").format(name=name), field="filename", value=name)
    if name != base and (".." in name.replace("\\", "/").split("/")):
        raise InvalidError(
            _("File name '{name}' must not contain a path; send just the file name.").format(name=name),
            field="filename",
            value=name,
        )
    return _SAFE_NAME.sub("_", base)[:200]


def detect_mime(head: bytes) -> str | None:
    kind = filetype.guess(head)
    return kind.mime if kind else None


def _check_zip(path: Path, size: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            expanded = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise UnsupportedMediaError(_("The file claims to be an Office document but is not a valid one.")) from exc
    if expanded > max(size, 1) * MAX_ZIP_RATIO:
        raise UnsupportedMediaError(
            _("The document expands to {expanded} bytes ({value}× its size); refusing a possible zip bomb.").format(
                expanded=expanded, value=expanded // max(size, 1)
            )
        )


def store_upload(store: Store, stream: BinaryIO | Iterable[bytes], filename: str | None, max_bytes: int) -> MediaRef:
    """Stream to a temp file under the media folder, check size and type, then move into place by hash."""
    name = safe_filename(filename)
    tmp_dir = store.media_tmp_dir()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as out:
            chunks = iter(lambda: stream.read(CHUNK), b"") if hasattr(stream, "read") else iter(stream)
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLargeError(
                        _("The file is larger than the upload limit of {value} MB.").format(
                            value=max_bytes // (1024 * 1024)
                        ),
                        field="file",
                        extra={"limit_bytes": max_bytes},
                    )
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise InvalidError(_("The uploaded file is empty."), field="file")
        mime = detect_mime(head)
        if mime is None or mime not in ALLOWED_MIME:
            raise UnsupportedMediaError(
                _(
                    "The file's bytes are {mime}, which is not allowed. Upload an image (PNG, JPEG, GIF, WebP), video (MP4, WebM, MOV), audio (MP3, OGG, WAV, M4A), PDF or Office document."
                ).format(mime=mime or "of an unknown type"),
                field="file",
                value=mime,
                allowed=sorted(ALLOWED_MIME),
            )
        if mime.startswith("application/vnd.openxmlformats"):
            _check_zip(tmp, size)
        sha = digest.hexdigest()
        store.put_media_file(tmp, sha, size, mime)
        return MediaRef(sha256=sha, size=size, mime=mime, filename=name)
    finally:
        tmp.unlink(missing_ok=True)


def kind_for_mime(mime: str) -> str:
    return ALLOWED_MIME.get(mime, "file")
