"""Bench: which B-trees a 10,000-event ingestion batch dirties — the pages its commit writes to the WAL.

Why: a commit's cost is mostly its WAL frames (one per dirty page: a checksum and two writes each), so the
pages per event bound ingestion more than the Python around it. On a copy of a bench/recommend.py data set
it ingests one batch to warm up, checkpoints the WAL to empty, ingests one more batch like the bench's, and
maps every frame's page number to its table or index with SQLite's ``dbstat``.

Usage: python bench/ingest_wal_pages.py --data-dir DIR (a copy: it adds 20,000 events)
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import struct
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recommend as bench  # noqa: E402  (bench/recommend.py: settings and the bench's event batches)

from contenthub.recommend import events  # noqa: E402


def wal_pages(wal: Path) -> list[int]:
    """The page number of every frame in a WAL file (32-byte header, then 24-byte frame headers + pages)."""
    data = wal.read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    return [struct.unpack(">I", data[off : off + 4])[0] for off in range(32, len(data) - 23, 24 + page_size)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    args = p.parse_args()
    meta = json.loads((args.data_dir / "bench-meta.json").read_text())
    hub = bench.open_hub(bench.settings_for(args.data_dir))
    db = args.data_dir / "contenthub.db"
    try:
        warm, measured = bench.event_batches(hub, meta["users"], 20000, 10000, "w")
        events.ingest(hub, warm)
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        result = events.ingest(hub, measured)
        pages = wal_pages(Path(f"{db}-wal"))
        with sqlite3.connect(db) as conn:
            owner = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    finally:
        hub.close()
    by_tree = Counter(owner.get(p, "?") for p in set(pages))
    print(
        json.dumps(
            {
                "events_accepted": result.accepted,
                "wal_frames": len(pages),
                "distinct_pages": len(set(pages)),
                "frames_per_event": round(len(pages) / max(result.accepted, 1), 2),
                "pages_by_table_or_index": dict(by_tree.most_common()),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
