"""Small builders shared by tests: tiny real media files, asset payloads, stored assets with random vectors."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np


def png_bytes(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


ELF_BYTES = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200


def asset(title: str = "护眼小课堂：20-20-20 法则", **extra: object) -> dict[str, object]:
    return {
        "title": title,
        "body": "每用眼20分钟，看20英尺外20秒，缓解视疲劳。",
        "kind": "article",
        "content_type": "educational",
        "scenes": ["education"],
        "channels": ["mp_subscription", "wecom_group"],
        "tags": ["护眼", "科普"],
        "status": "approved",
        **extra,
    }


def put_assets_with_random_vectors(hub: Any, docs: list[dict[str, Any]], dim: int, rng: np.random.Generator) -> None:
    """Store asset documents with random unit vectors (model id "test-random") and tell the catalog."""
    hub.store.put_assets(docs)
    vecs = rng.standard_normal((len(docs), dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    hub.store.put_vectors("test-random", {d["id"]: v for d, v in zip(docs, vecs, strict=True)})
    hub.touch("assets")
