"""Text printed on uploaded posters: read in the background, searchable, shown on the asset page — and a
corrupt or huge image never costs the upload."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from contenthub.hub import Hub
from contenthub.library import ocr, ocr_jobs, tagging
from contenthub.library import service as library
from contenthub.library.demo_corpus import (
    POSTER_FONT,
    generate_media_bytes,
    poster_text,
)
from contenthub.library.models import AssetCreate
from tests.conftest import Clients
from tests.helpers import png_bytes


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


def test_tags_accepted_while_the_text_is_being_stored_are_kept(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader stores the text (re-embeds, re-suggests, writes the asset) while an editor accepts a tag: both
    must survive. Before the asset lock the reader wrote back the document it had read before the accept, and
    the accepted tag vanished (the library browser test's upload-then-accept walks into this window on a
    loaded machine, where the reader's first use loads the OCR engine for seconds)."""
    storing, release = threading.Event(), threading.Event()
    suggest = tagging.suggest

    def slow_suggest(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "ocr":  # the reader, between its read and its write
            storing.set()
            assert release.wait(60)
        return suggest(*args, **kwargs)

    monkeypatch.setattr(ocr, "read_text", lambda path, mime, progress=None: "海报上的字：直播抽奖")
    monkeypatch.setattr(tagging, "suggest", slow_suggest)
    created = library.create_asset(
        hub,
        AssetCreate(title="今晚直播预告", body="预约直播间"),
        "ed",
        upload=io.BytesIO(png_bytes()),
        filename="p.png",
    )
    assert storing.wait(60), "the reader reached the write"
    label = created.suggestions.scenes[0].id
    editor = threading.Thread(target=library.accept_label, args=(hub, created.id, "scenes", label, "ed"))
    editor.start()
    # Unlocked, the accept is written within this time and the reader's write then undoes it; locked, the
    # accept waits for the reader. Either way the assertions below hold only if both writes survive.
    editor.join(timeout=3)
    release.set()
    editor.join(timeout=60)
    ocr_jobs.wait_idle(hub)
    stored = hub.store.get_asset(created.id)
    assert stored["scenes"] == [label], "the editor's accept survived the reader's write"
    assert stored["ocr"]["status"] == "done" and "直播抽奖" in stored["media_text"], "the text survived the accept"
