"""Text printed on posters and PDF pages, read with RapidOCR (PP-OCR models shipped inside the
``rapidocr-onnxruntime`` wheel: nothing is downloaded).

Limits keep one bad file from holding the worker: an image over MAX_PIXELS or a PDF over MAX_PDF_PAGES is
refused before decoding, and pages are scaled down to MAX_SIDE pixels (poster text stays legible and the
detector's cost grows with the area).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pypdfium2
from PIL import Image
from rapidocr_onnxruntime import RapidOCR

MAX_PIXELS = 50_000_000
MAX_SIDE = 1600
MAX_PDF_PAGES = 20
IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"})
PDF_MIME = "application/pdf"
_lock = threading.Lock()


class OcrError(ValueError):
    """The file cannot be read as an image or PDF, or is over the limits (the message says which)."""


def readable(mime: str) -> bool:
    return mime in IMAGE_MIMES or mime == PDF_MIME


@cache
def _engine() -> RapidOCR:
    return RapidOCR()


def _scaled(img: Image.Image) -> np.ndarray:
    img = img.convert("RGB")
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(img)


def _pages(path: Path, mime: str) -> tuple[int, Iterator[np.ndarray]]:
    if mime == PDF_MIME:
        try:
            pdf = pypdfium2.PdfDocument(str(path))
        except pypdfium2.PdfiumError as exc:
            raise OcrError(f"not a readable PDF ({exc})") from exc
        n = len(pdf)
        if n > MAX_PDF_PAGES:
            raise OcrError(f"the PDF has {n} pages; text is read from PDFs of at most {MAX_PDF_PAGES}")

        def pdf_pages() -> Iterator[np.ndarray]:
            for i in range(n):
                yield _scaled(pdf[i].render(scale=2).to_pil())

        return n, pdf_pages()
    try:
        img = Image.open(path)
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise OcrError(f"the image is {w}×{h} pixels; text is read from images of at most {MAX_PIXELS:,} pixels")
        img.load()
    except OcrError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise OcrError(f"not a readable image ({exc})") from exc
    return 1, iter([_scaled(img)])


def read_text(path: Path, mime: str, progress: Callable[[int, int], None] | None = None) -> str:
    """The lines of text found, page by page, in reading order; ``progress(done, pages)`` after each page."""
    n, pages = _pages(path, mime)
    lines: list[str] = []
    for i, page in enumerate(pages, start=1):
        with _lock:  # one inference at a time: the engine is shared and the worker is one thread anyway
            result, _ = _engine()(page)
        lines.extend(r[1] for r in result or [] if r[1].strip())
        if progress is not None:
            progress(i, n)
    return "\n".join(lines)
