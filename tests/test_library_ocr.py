"""Text printed on uploaded posters: read in the background, searchable, shown on the asset page — and a
corrupt or huge image never costs the upload."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from contenthub.library import ocr_jobs
from contenthub.library.demo_corpus import (
    POSTER_FONT,
    generate_media_bytes,
    poster_text,
)
from tests.conftest import Clients


def upload(client: TestClient, data: bytes, title: str, filename: str = "poster.png") -> dict:
    r = client.post(
        "/v1/assets/upload", files={"file": (filename, data, "image/png")}, data={"title": title, "kind": "poster"}
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.skipif(not POSTER_FONT.exists(), reason="no CJK font to print the demo poster")
def test_poster_text_is_read_searchable_and_shown(clients: Clients) -> None:
    editor = clients.as_("editor")
    data, _ = generate_media_bytes("poster", seed=3)
    code = poster_text(3)[1].split("：")[1]
    a = upload(editor, data, "周末海报")
    assert a["ocr"]["status"] == "pending", "the upload answers before the text is read"
    ocr_jobs.wait_idle(clients.hub)
    done = editor.get(f"/v1/assets/{a['id']}").json()
    assert done["ocr"]["status"] == "done" and done["ocr"]["pages_done"] == 1
    assert code in done["media_text"]
    r = editor.get("/v1/assets", params={"q": code}).json()
    assert [h["asset"]["id"] for h in r["items"]] == [a["id"]], "found only through the printed text"
    page = editor.get(f"/library/assets/{a['id']}")
    assert code in page.text


def test_corrupt_and_huge_images_keep_their_upload(clients: Clients) -> None:
    editor = clients.as_("editor")
    corrupt = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    buf = io.BytesIO()
    Image.new("RGB", (8000, 8000), (255, 255, 255)).save(buf, "PNG")
    huge = buf.getvalue()
    assert len(huge) < 2 * 1024 * 1024
    a = upload(editor, corrupt, "坏图")
    b = upload(editor, huge, "超大图")
    ocr_jobs.wait_idle(clients.hub)
    for asset, words in ((a, "not a readable image"), (b, "pixels")):
        got = editor.get(f"/v1/assets/{asset['id']}").json()
        assert got["ocr"]["status"] == "failed" and words in got["ocr"]["error"], got["ocr"]
        assert got["title"] == asset["title"] and got["media"] == asset["media"]
        assert editor.get(f"/v1/assets/{asset['id']}/media").status_code == 200
