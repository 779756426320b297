"""Bench: event ingestion through ``events.ingest`` (the batch endpoint's logic) into a fresh SQLite hub.

A small, self-contained run for side-by-side comparisons of ingestion code: ``--assets`` approved assets,
``--events`` events (deliveries, opens, clicks, conversions with a value, some mutes) of ``--users`` users
over the last 12 weeks, sent in time order in batches of ``--batch``, the users created by the first events
that name them (as bots do). Then the first batch is sent again (every event a duplicate). The script uses
only public functions, so the same file runs against another checkout (``PYTHONPATH=/other/tree``).

Prints one JSON object: events/s (wall), events per CPU-second of this process, what was stored.
Usage: python bench/ingest.py [--events 50000] [--users 5000] [--assets 500] [--batch 10000] [--sqlite-writer lock]

``--sqlite-writer thread`` runs every write of the SQLite store on one writer thread per store, as Datasette
does (datasette/database.py: ``execute_write_fn`` queues the function, ``_execute_writes`` runs it on the
write connection and hands back the result): the #19 comparison against the default, a lock file
(store/sqlite/connection.py ``_writer_turn``) taken by whichever thread writes.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from contenthub.config import Settings
from contenthub.hub import open_hub
from contenthub.recommend import events
from contenthub.timeutil import to_iso, utcnow

CHANNELS = ["wecom_1v1", "mp_subscription", "wecom_group"]
SQLITE_WRITES = (
    "put_doc",
    "put_docs_atomic",
    "delete_doc",
    "put_assets",
    "put_vectors",
    "put_media_file",
    "add_events",
    "reassign_events",
    "delete_events",
    "add_to_counters",
    "delete_counters",
)


def use_writer_thread(store: Any) -> None:
    """Route the store's public writes through one writer thread (Datasette's design): callers queue
    (function, arguments, reply queue) and wait; the thread runs one write at a time. Inside, the write
    takes the store's own lock and lock file as before (uncontended in this process, still needed between
    processes), so what is measured is the thread hand-off against writing on the caller's thread."""
    tasks: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], queue.SimpleQueue[Any]]] = (
        queue.SimpleQueue()
    )

    def run() -> None:
        while True:
            fn, args, kwargs, reply = tasks.get()
            try:
                reply.put((True, fn(*args, **kwargs)))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller, as Datasette does
                reply.put((False, exc))

    writer = threading.Thread(target=run, name="sqlite-writer", daemon=True)
    writer.start()

    def routed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is writer:
                return fn(*args, **kwargs)
            reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
            tasks.put((fn, args, kwargs, reply))
            ok, value = reply.get()
            if ok:
                return value
            raise value

        return call

    for name in SQLITE_WRITES:
        setattr(store, name, routed(getattr(store, name)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--users", type=int, default=5_000)
    p.add_argument("--assets", type=int, default=500)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--sqlite-writer", choices=("lock", "thread"), default="lock")
    a = p.parse_args()
    rng = random.Random(9)
    now = utcnow()
    stamp = to_iso(now)
    assets = [
        {
            "id": f"ia{i}",
            "title": f"素材 {i}",
            "status": "approved",
            "kind": "article",
            "content_type": "educational",
            "scenes": ["education"],
            "channels": CHANNELS,
            "tags": [f"t{i % 20}"],
            "created_at": stamp,
            "updated_at": stamp,
        }
        for i in range(a.assets)
    ]
    evs = []
    for k in range(a.events):
        at = now - timedelta(seconds=rng.uniform(60, 84 * 86400))
        etype = rng.choices(["delivered", "open", "click", "convert", "mute"], weights=[50, 25, 15, 5, 1])[0]
        evs.append(
            {
                "id": f"ie{k}",
                "type": etype,
                "user_id": f"iu{rng.randrange(a.users)}",
                "asset_id": f"ia{rng.randrange(a.assets)}",
                "channel": rng.choice(CHANNELS),
                "ts": to_iso(at),
                **({"value": round(rng.uniform(10, 300), 2)} if etype == "convert" else {}),
            }
        )
    evs.sort(key=lambda e: e["ts"])
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        hub = open_hub(Settings(data_dir=Path(tmp), session_secret="bench", learn_every_events=0))
        if a.sqlite_writer == "thread":
            use_writer_thread(hub.store)
        try:
            hub.store.put_assets(assets)
            accepted = 0
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(evs), a.batch):
                accepted += events.ingest(hub, evs[i : i + a.batch]).accepted
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            resend = events.ingest(hub, evs[: a.batch])
            stored = hub.store.count_events()
        finally:
            hub.close()
    print(
        json.dumps(
            {
                "bench": "ingest",
                "sqlite_writer": a.sqlite_writer,
                "events": a.events,
                "accepted": accepted,
                "stored": stored,
                "resend_duplicates": resend.duplicates,
                "resend_accepted": resend.accepted,
                "seconds": round(wall, 2),
                "events_per_s": round(accepted / wall),
                "events_per_cpu_s": round(accepted / cpu),
                "load_avg": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
