"""Elasticsearch store: the same ``Store`` interface as SQLite, for several API processes on one cluster.

Works on the parts every Elasticsearch 8 server has — no Painless scripts, no ``_update_by_query``,
``_delete_by_query`` or ``_reindex`` (see scripts/ELASTICSEARCH_NOTES.md) — so every read-modify-write
is done by the client with optimistic concurrency (``if_seq_no``/``if_primary_term``), and every
"update where" is a search for ids followed by a bulk request.

Consistency, per operation (why each choice):
- Reads by id (``get_doc``, ``get_asset(s)``, ``get_counters``, ``get_vectors``) are real-time GETs:
  they see every acknowledged write at once, in every process, with no refresh.
- ``put_doc(..., expected_version=0)`` is one ``op_type=create``: Elasticsearch rejects a second create
  of the same id atomically on the primary shard, so exactly one of any number of racing processes
  wins (cap reservations and idempotency keys rely on this). ``expected_version=n`` is a
  compare-and-set: a real-time GET checks ``n`` and the write carries the GET's
  ``if_seq_no``/``if_primary_term``.
- No write waits for a refresh (``refresh=wait_for`` cost every batch up to one refresh interval).
  Searches are read-your-own-writes instead: a process that wrote to an index refreshes it once before
  its next search of it (one refresh shared by every write since); other processes see the write
  within ``refresh_interval`` (default 1 s). Nothing that must be exact across processes is read by
  search: caps and reservations are create-if-absent documents, idempotency is the event id, counters
  are read by GET. ``list_docs``/``count_docs`` refresh the docs index first (cheap when nothing changed).
- Events: ``op_type=create`` per event id (a re-sent event is a 409, skipped) in bulk; their counter
  deltas are added to one document per key by compare-and-set, once per batch (see ``add_events``).
- Several documents at once (``put_docs_atomic``): an intent document and ordered, re-playable
  single-document writes (store/es_intents.py) — no multi-document transaction, nothing for readers to
  resolve.

Media bytes stay on a filesystem folder (``settings.media_dir``) in the same content-addressed layout
as SQLite; with several API hosts it must be a shared folder (NFS, a mounted volume). Only metadata
goes to Elasticsearch (reserved collection ``_media``).

Split by role, one mixin per module: client.py (connection, refreshes, bulk, scans, recovery),
documents.py, assets.py, search.py (full text, kNN), events.py, counters.py, subjects.py (a page of
users' profile inputs in one mget and one msearch), media.py (metadata;
bytes in store/media.py, shared with SQLite), copy_io.py (``contenthub store copy``).
"""

from __future__ import annotations

from pathlib import Path

from contenthub.config import Settings
from contenthub.store.base import Capabilities
from contenthub.store.elastic.client import outage_reason
from contenthub.store.elastic.copy_io import ElasticCopyIO
from contenthub.store.elastic.media import ElasticMedia
from contenthub.store.elastic.search import ElasticSearch
from contenthub.store.elastic.subjects import ElasticSubjects
from contenthub.store.outage import translate_outages

MEDIA_TMP_GRACE = 3600.0
"""Partial uploads younger than this survive a start: other API processes may share the folder and be
writing theirs right now."""


@translate_outages("Elasticsearch", outage_reason)
class ElasticStore(ElasticMedia, ElasticCopyIO, ElasticSearch, ElasticSubjects):
    capabilities = Capabilities(local_reads=False)

    def __init__(
        self, url: str, settings: Settings, *, prefix: str | None = None, media_dir: Path | None = None
    ) -> None:
        self._init_client(url, settings, prefix)
        self._init_media(Path(media_dir or settings.media_dir), keep_tmp_younger_than=MEDIA_TMP_GRACE)
        self.es.cluster.health(wait_for_status="yellow", timeout="30s")
        self.recover()
