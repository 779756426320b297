"""Reading uploaded media in the background: the upload answers at once, the text arrives later.

One worker thread per hub takes asset ids from a queue, records progress on the asset (``ocr``: pending →
running with pages done → done or failed with the reason), and hands the text to a callback that stores it,
re-embeds the asset and refreshes its tag suggestions. A failure (corrupt or oversized file) is recorded on
the asset and never touches the upload itself: the asset and its media stay as they were stored.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from contenthub.hub import Hub
from contenthub.library import ocr
from contenthub.library.asset_locks import asset_lock

log = logging.getLogger(__name__)
TextSink = Callable[[Hub, dict[str, Any]], None]
_KEY = "library.ocr_worker"
_workers: weakref.WeakSet[_Worker] = weakref.WeakSet()


class _Worker:
    def __init__(self, hub: Hub, sink: TextSink) -> None:
        self.hub = hub
        self.sink = sink
        self.jobs: queue.Queue[str | None] = queue.Queue()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="ocr", daemon=True)
        self.thread.start()
        _workers.add(self)

    def stop(self, timeout: float) -> None:
        self.stopping = True
        self.jobs.put(None)
        self.thread.join(timeout)

    def _loop(self) -> None:
        while True:
            asset_id = self.jobs.get()
            if asset_id is None:  # stop(): the hub is closing
                self.jobs.task_done()
                return
            try:
                if not self.stopping:  # reads queued behind stop() stay pending (resumed at next start)
                    self._read(asset_id)
            except Exception:  # never let one asset stop the worker; the asset says it failed when it can
                log.exception("reading the media of %s failed", asset_id)
                try:
                    self._set(asset_id, {"status": "failed", "error": "internal error while reading the file"})
                except Exception:  # noqa: BLE001  # the store is gone (shutting down): resume_ocr picks it up next start
                    log.warning("could not record the failed read of %s", asset_id)
            finally:
                self.jobs.task_done()

    def _set(self, asset_id: str, progress: dict[str, Any]) -> dict[str, Any] | None:
        with asset_lock(asset_id):  # an editor's edit in between would be undone by this write
            doc = self.hub.store.get_asset(asset_id)
            if doc is None:
                return None
            doc["ocr"] = {**(doc.get("ocr") or {}), **progress}
            self.hub.store.put_asset(doc)
            return doc

    def _read(self, asset_id: str) -> None:
        doc = self.hub.store.get_asset(asset_id)
        media = (doc or {}).get("media")
        path = self.hub.store.media_path(media["sha256"]) if media else None
        if doc is None or media is None or path is None:
            return
        self._set(asset_id, {"status": "running", "pages_done": 0})

        def progress(done: int, n: int) -> None:
            self._set(asset_id, {"pages": n, "pages_done": done})

        try:
            text = ocr.read_text(path, media["mime"], progress=progress)
        except ocr.OcrError as exc:
            self._set(asset_id, {"status": "failed", "error": str(exc)})
            return
        with asset_lock(asset_id):  # from this read to the sink's write: an edit meanwhile would be undone
            doc = self.hub.store.get_asset(asset_id)
            if doc is None:
                return
            doc["media_text"] = text
            doc["ocr"] = {**(doc.get("ocr") or {}), "status": "done", "error": None}
            self.sink(self.hub, doc)
        self.hub.touch("assets")


def enqueue(hub: Hub, asset_id: str, sink: TextSink) -> None:
    """Read the asset's media in the background (the asset already says ``ocr.status: pending``)."""
    worker = hub.cache.get(_KEY)
    if worker is None:
        worker = hub.cache.setdefault(_KEY, _Worker(hub, sink))
    worker.jobs.put(asset_id)


def wait_idle(hub: Hub) -> None:
    """Block until every queued read has finished (tests, the demo and the benchmark)."""
    worker = hub.cache.get(_KEY)
    if worker is not None:
        worker.jobs.join()


def stop(hub: Hub, timeout: float = 30.0) -> None:
    """Let the worker finish the read in hand and end (before the hub closes); queued reads stay pending on
    their assets and are resumed at the next start."""
    worker = hub.cache.pop(_KEY, None)
    if worker is not None:
        worker.stop(timeout)


@atexit.register
def _stop_all() -> None:
    """At interpreter exit (a CLI command, the demo) let a read in hand finish: killing the daemon thread inside
    onnxruntime aborts the process ("terminate called without an active exception")."""
    for worker in list(_workers):
        worker.stop(60.0)
