"""The SQLite store, composed of one mixin per role (each in the module named for it):

- connection.py — connections, the write transaction and lock file, WAL checkpoints, migrations
- documents.py — generic collections (``*_doc``)
- assets.py — asset rows, facets, filters
- search.py — full text and vectors (kNN)
- events.py — ingestion, queries, aggregates, column scans
- counters.py — additive counters (packed rows)
- subjects.py — a page of users' or groups' profile inputs in one read transaction
- media.py — media metadata (bytes: store/media.py, shared with Elasticsearch)
- copy_io.py — bulk reads and writes for ``contenthub store copy``
"""

from __future__ import annotations

from pathlib import Path

from contenthub.store.base import Capabilities
from contenthub.store.outage import translate_outages
from contenthub.store.sqlite.connection import outage_reason
from contenthub.store.sqlite.copy_io import SQLiteCopyIO
from contenthub.store.sqlite.media import SQLiteMedia
from contenthub.store.sqlite.search import SQLiteSearch
from contenthub.store.sqlite.subjects import SQLiteSubjects
from contenthub.store.vectors import VectorIndex


@translate_outages("SQLite", outage_reason)
class SQLiteStore(SQLiteSubjects, SQLiteSearch, SQLiteMedia, SQLiteCopyIO):
    """Embedded store: SQLite in WAL mode, a content-addressed media folder and an in-memory vector matrix.

    Why SQLite first: one file, crash-safe transactions, FTS5 for Chinese/English full text (trigram
    tokenizer), and no server to run — enough for one team on one machine."""

    capabilities = Capabilities(local_reads=True)

    def __init__(self, db_path: Path, media_dir: Path) -> None:
        self._init_media(media_dir, keep_tmp_younger_than=0)
        self._init_connections(db_path)
        self._migrate()
        self._index_missing_terms()
        self.vectors = VectorIndex()
        self._load_vectors()
