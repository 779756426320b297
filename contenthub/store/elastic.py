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
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit, urlunsplit

import numpy as np
import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TlsError
from elasticsearch import ApiError, Elasticsearch
from elasticsearch import NotFoundError as ESNotFound

from contenthub.config import Settings
from contenthub.errors import ConflictError
from contenthub.i18n import _
from contenthub.store import analysis, es_intents, es_json
from contenthub.store import elastic_query as eq
from contenthub.store.base import CounterDeriver, flat_deltas
from contenthub.store.columns import EventColumns, doc_columns_of, event_columns_of
from contenthub.store.elastic_schema import KINDS, Indices, vector_field
from contenthub.store.es_docs import OUTAGE_STATUSES, Raw, StoreError
from contenthub.store.es_docs import key_id as _key_id
from contenthub.store.es_docs import live as _live
from contenthub.store.es_docs import live_version as _live_version
from contenthub.store.es_docs import write_failure as _write_failure
from contenthub.store.es_docs import write_op as _write_op
from contenthub.store.outage import translate_outages
from contenthub.store.query import AssetFilter, AssetSort, EventQuery, Hit, HitPage
from contenthub.timeutil import from_iso, to_iso, utcnow

FACETS = ("scenes", "channels", "tags", "stages")
SCALAR_FACETS = ("kind", "content_type", "status")
# Buckets per composite-aggregation page: each page is one request that visits every matching document,
# so fewer, larger pages answer a many-group aggregation (the dashboard's per-user weeks) in fewer passes;
# well under search.max_buckets (65,536).
COMPOSITE_PAGE = 10_000
EVENT_COLUMNS = ("id", "type", "user_id", "asset_id", "channel", "group_id", "recommendation_id", "ts", "value")
INTERNAL_EVENT_FIELDS = ("_batch", "_deltas")

COUNTER_BATCH = "_counter_batch"
MEDIA = "_media"

BULK_CHUNK = 2000  # documents per bulk request
MGET_CHUNK = 1000
SCAN_PAGE = 5000
BATCH_GRACE = 120.0  # a counter batch still marked after this long is taken as crashed and finished
APPLIED_RETENTION = 1800.0  # how long a counter doc remembers the batches applied to it (≫ BATCH_GRACE)
RECOVERY_EVERY = 60.0
MAX_RETRIES = 200


def _dumps(doc: Any) -> str:
    # datetimes through ``str`` as before (orjson would write them in its own ISO form)
    return orjson.dumps(doc, default=str, option=es_json.OPTIONS | orjson.OPT_PASSTHROUGH_DATETIME).decode()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def parse_url(url: str) -> tuple[list[str], dict[str, str]]:
    """``elasticsearch://host:port[,host:port…]?opt=v`` or ``http(s)://…`` → (one client URL per node, options).

    Several hosts name the nodes of one cluster: the client spreads requests over them and fails over
    when one does not answer. Credentials and a path prefix, when given, apply to every host
    (``elasticsearch://user:pass@h1:9200,h2:9200/prefix``).
    Options: ``refresh_interval`` (index setting, default 1s), ``shards``, ``replicas`` (for new indices).
    """
    parts = urlsplit(url)
    scheme = {"elasticsearch": "http", "elasticsearch+https": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https"):
        raise ValueError(f"not an Elasticsearch URL: {url!r}")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - {"refresh_interval", "shards", "replicas"}
    if unknown:
        raise ValueError(f"unknown Elasticsearch URL option(s) {sorted(unknown)}; known: refresh_interval, shards, replicas")
    userinfo, _ignored, hostlist = parts.netloc.rpartition("@")
    hosts = [h.strip() for h in hostlist.split(",")]
    if not hostlist or not all(hosts):
        raise ValueError(f"no host in Elasticsearch URL {url!r}: write elasticsearch://host:9200[,host2:9200…]")
    for host in hosts:
        try:
            urlsplit(f"//{host}").port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError(f"bad host {host!r} in Elasticsearch URL {url!r}: write host or host:port") from None
    auth = f"{userinfo}@" if userinfo else ""
    return [urlunsplit((scheme, auth + host, parts.path or "", "", "")) for host in hosts], options


def outage_reason(exc: BaseException) -> str | None:
    """What ``translate_outages`` asks: is this Elasticsearch exception an outage, and why (in words safe
    to show a caller: no host names, no credentials)."""
    if isinstance(exc, TlsError):
        return None  # a certificate problem is configuration, not an outage
    if isinstance(exc, ConnectionTimeout):
        return "no node answered in time"
    if isinstance(exc, TransportConnectionError):
        return "no node of the cluster could be reached"
    if isinstance(exc, ApiError) and exc.meta.status in OUTAGE_STATUSES:
        return f"the cluster answered {exc.meta.status} ({exc.message})"
    if isinstance(exc, ApiError) and exc.meta.status == 403 and "cluster_block_exception" in str(exc):
        return "an index is read-only for now (a `store migrate` is copying it, or the disk is full)"
    return None


@translate_outages("Elasticsearch", outage_reason)
class ElasticStore:
    backend = "elasticsearch"

    def __init__(self, url: str, settings: Settings, *, prefix: str | None = None,
                 media_dir: Path | None = None) -> None:
        client_urls, options = parse_url(url)
        self.url = url
        self.prefix = (prefix or settings.es_index_prefix).lower()
        self.media_dir = Path(media_dir or settings.media_dir)
        # Every node of the URL, taken in turn (round robin); a node that fails to answer is set aside with
        # a growing back-off and its request retried on the next one, so losing one node costs no request.
        # No sniffing: the nodes named are the ones clients can reach (behind a proxy or NAT the addresses
        # a cluster publishes may not be). A 429/502/503/504 is retried on another node as well.
        self.es = Elasticsearch(client_urls, request_timeout=60, retry_on_timeout=True,
                                max_retries=max(3, len(client_urls)), connections_per_node=64,
                                serializers=es_json.SERIALIZERS)
        refresh_interval = options.get("refresh_interval", "1s")
        if refresh_interval.startswith("-"):
            raise ValueError("refresh_interval must be positive: other API processes see writes at the next refresh")
        self.schema = Indices(
            self.es, self.prefix,
            shards=int(options["shards"]) if "shards" in options else None,
            replicas=int(options["replicas"]) if "replicas" in options else None,
            refresh_interval=refresh_interval,
        )
        self._dirty: set[str] = set()  # kinds this process wrote to since its last refresh of them
        self._refresh_locks = {kind: threading.Lock() for kind in KINDS}
        self._unrefreshed_events: set[tuple[str | None, str | None]] = set()  # (user, group) of such events
        self._last_recovery = 0.0
        self._recovery_lock = threading.Lock()
        self.media_dir.mkdir(parents=True, exist_ok=True)
        (self.media_dir / ".tmp").mkdir(exist_ok=True)
        self._cleanup_tmp()
        self.es.cluster.health(wait_for_status="yellow", timeout="30s")
        self.recover()

    # --- housekeeping ------------------------------------------------------------------
    def close(self) -> None:
        self.es.close()

    def now(self) -> datetime:
        return utcnow()

    def init(self) -> list[str]:
        """Create every index and alias now (``contenthub store init``) instead of on first write."""
        return self.schema.ensure_all()

    def drop(self) -> None:
        """Delete every index of this prefix (tests, and replacing a copy target)."""
        self.schema.delete_all()

    def integrity_check(self) -> bool:
        """The cluster answers and is not red, and each alias of this prefix points at one index."""
        try:
            health = self.es.cluster.health(timeout="10s")
            existing = self.schema.existing()
        except Exception:  # noqa: BLE001 - any failure to answer is "not healthy"
            return False
        if health["status"] == "red":
            return False
        return all(len(indices) == 1 for indices in existing.values())

    def _cleanup_tmp(self) -> None:
        """Partial uploads from a crash are never referenced. Other API processes may share this
        folder and be writing theirs right now, so only files older than an hour go."""
        cutoff = time.time() - 3600
        for p in (self.media_dir / ".tmp").iterdir():
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink()
            except OSError:
                pass

    def recover(self) -> None:
        """Finish what a crashed process left half done: multi-document writes and counter batches."""
        with self._recovery_lock:
            self._last_recovery = time.monotonic()
            es_intents.recover(self)
            self._recover_counter_batches()

    def _maybe_recover(self) -> None:
        """Every RECOVERY_EVERY seconds, in whichever thread writes first; others never wait for it."""
        if time.monotonic() - self._last_recovery <= RECOVERY_EVERY or not self._recovery_lock.acquire(blocking=False):
            return
        try:
            self._last_recovery = time.monotonic()
            es_intents.recover(self)
            self._recover_counter_batches()
        finally:
            self._recovery_lock.release()

    # --- low-level helpers -------------------------------------------------------------
    def _alias(self, kind: str) -> str:
        return self.schema.alias(kind)

    def _refresh(self, kind: str) -> None:
        self._dirty.discard(kind)
        if kind == "events":
            self._unrefreshed_events.clear()
        self._when_ready(kind, lambda: self.es.indices.refresh(index=self._alias(kind), ignore_unavailable=True,
                                                               allow_no_indices=True))

    def _wrote(self, kind: str) -> None:
        """A write this process's next search of ``kind`` must see (read-your-own-writes without
        ``refresh=wait_for``: the refresh is paid once by the next reader, not by every writer)."""
        self._dirty.add(kind)

    def _fresh(self, kind: str) -> None:
        """Threads that search at once share one refresh: the first refreshes, the others wait for it and
        find nothing left to do (unless a write landed meanwhile)."""
        if kind in self._dirty:
            with self._refresh_locks[kind]:
                if kind in self._dirty:
                    self._refresh(kind)

    def _when_ready(self, kind: str, call: Callable[[], Any]) -> Any:
        """Run ``call``; if it met a shard still starting (another process created the index a moment
        ago: 503), wait for the index to be ready and run it once more."""
        try:
            return call()
        except ApiError as exc:
            if exc.meta.status != 503:
                raise
        self.schema.wait_ready(kind)
        return call()

    def _search(self, kind: str, *, fresh: bool = True, **body: Any) -> dict[str, Any]:
        if fresh:
            self._fresh(kind)
        return self._when_ready(kind, lambda: self.es.search(index=self._alias(kind), ignore_unavailable=True,
                                                             allow_no_indices=True, **body).body)

    def _count(self, kind: str, query: dict[str, Any], *, fresh: bool = True) -> int:
        if fresh:
            self._fresh(kind)
        resp = self._when_ready(kind, lambda: self.es.count(index=self._alias(kind), query=query,
                                                            ignore_unavailable=True, allow_no_indices=True))
        return int(resp["count"])

    def _get(self, kind: str, doc_id: str, **kw: Any) -> Raw | None:
        try:
            r = self._when_ready(kind, lambda: self.es.get(index=self._alias(kind), id=doc_id, **kw))
        except ESNotFound:
            return None
        return Raw(r["_source"], r["_seq_no"], r["_primary_term"])

    def _mget(self, kind: str, ids: list[str], **kw: Any) -> dict[str, Raw]:
        out: dict[str, Raw] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), MGET_CHUNK):
            docs = self._mget_chunk(kind, chunk, **kw)
            if docs is None:
                return out
            for d in docs:
                if d.get("found"):
                    out[d["_id"]] = Raw(d.get("_source", {}), d["_seq_no"], d["_primary_term"])
        return out

    def _mget_chunk(self, kind: str, ids: list[str], **kw: Any) -> list[dict[str, Any]] | None:
        """One mget; per-document errors (a shard still starting) are retried, never taken as 'missing'."""
        for attempt in range(2):
            try:
                docs = self.es.mget(index=self._alias(kind), ids=ids, **kw)["docs"]
            except ESNotFound:
                return None
            errors = [d["error"] for d in docs if "error" in d]
            if not errors:
                return docs
            if all(isinstance(e, dict) and e.get("type") == "index_not_found_exception" for e in errors):
                return None
            if attempt == 0:
                self.schema.wait_ready(kind)
        raise StoreError(f"reading {kind}: {errors[0]}")

    def _bulk(self, ops: list[dict[str, Any]], *, refresh: str | bool = False) -> list[tuple[str, dict[str, Any]]]:
        """Send (action, source-or-None) pairs in chunks; returns (op type, result) per action.

        With ``refresh=wait_for`` only the last chunk waits: one refresh covers all earlier chunks."""
        out: list[tuple[str, dict[str, Any]]] = []
        actions = _pair_ops(ops)
        for i, chunk in enumerate(_chunks(actions, BULK_CHUNK)):
            lines: list[dict[str, Any]] = []
            for action, source in chunk:
                lines.append(action)
                if source is not None:
                    lines.append(source)
            last = i == (len(actions) - 1) // BULK_CHUNK
            resp = self.es.bulk(operations=lines, refresh=refresh if last else False)
            for item in resp["items"]:
                (op, result), = item.items()
                out.append((op, result))
        return out

    def _scan(self, kind: str, query: dict[str, Any], *, sort: list[Any] | None = None, page: int = SCAN_PAGE,
              source: Any = True, limit: int | None = None, fresh: bool = True) -> Iterator[list[dict[str, Any]]]:
        """Every hit of ``query`` in pages, on a point in time (a consistent view while paging)."""
        if fresh:
            self._fresh(kind)
        try:
            pit = self._when_ready(kind, lambda: self.es.open_point_in_time(index=self._alias(kind),
                                                                            keep_alive="2m")["id"])
        except ESNotFound:
            return
        sort = list(sort or []) + ["_shard_doc"]
        after: list[Any] | None = None
        seen = 0
        try:
            while limit is None or seen < limit:
                size = page if limit is None else min(page, limit - seen)
                body: dict[str, Any] = {"query": query, "size": size, "sort": sort, "source": source,
                                        "pit": {"id": pit, "keep_alive": "2m"}, "track_total_hits": False}
                if after is not None:
                    body["search_after"] = after
                resp = self.es.search(**body)
                pit = resp.get("pit_id", pit)
                hits = resp["hits"]["hits"]
                if not hits:
                    return
                seen += len(hits)
                after = hits[-1]["sort"]
                yield hits
                if len(hits) < size:
                    return
        finally:
            try:
                self.es.close_point_in_time(id=pit)
            except ApiError:
                pass

    def _page(self, kind: str, query: dict[str, Any], sort: list[Any], offset: int, limit: int,
              source: Any = True, window: int = 10_000, fresh: bool = True) -> list[dict[str, Any]]:
        """Hits ``offset … offset+limit`` in ``sort`` order; past the index's result window by
        walking a point in time with search_after (the skipped pages carry no source)."""
        if limit <= 0:
            return []
        if offset + limit <= window:
            resp = self._search(kind, query=query, sort=sort, from_=offset, size=limit, source=source,
                                track_total_hits=False, fresh=fresh)
            return resp["hits"]["hits"]
        out: list[dict[str, Any]] = []
        skipped = 0
        for hits in self._scan(kind, query, sort=sort, page=10_000, source=source, limit=offset + limit, fresh=fresh):
            for h in hits:
                if skipped < offset:
                    skipped += 1
                else:
                    out.append(h)
        return out

    # --- generic documents -------------------------------------------------------------
    def _doc_source(self, collection: str, doc_id: str, doc: dict[str, Any], version: int,
                    intent: str | None = None) -> dict[str, Any]:
        src = {"collection": collection, "id": doc_id, "version": version, "updated_at": to_iso(utcnow()),
               "body": doc, "fields": eq.scalar_fields(doc)}
        if intent is not None:
            src["intent"] = intent  # which multi-document write put it there (store/es_intents.py)
        return src

    def _conflict(self, collection: str, doc_id: str, current: int, expected: int) -> ConflictError:
        return ConflictError(
            _("{collection} '{doc_id}' was changed by someone else (version {current}, you had {expected}). Reload and apply your change again.").format(collection=collection, doc_id=doc_id, current=current, expected=expected),
            field="version", value=expected, extra={"current_version": current},
        )

    def _current_version(self, collection: str, doc_id: str) -> int:
        found = self.get_doc_version(collection, doc_id)
        return found[1] if found else 0

    def put_doc(self, collection: str, doc_id: str, doc: dict[str, Any], *, expected_version: int | None = None) -> int:
        self.schema.ensure("docs")
        did = _key_id(collection, doc_id)
        self._wrote("docs")
        if expected_version == 0:
            # one round trip: cap slots and idempotency keys are decided here, on the primary shard
            if self._create_doc(did, self._doc_source(collection, doc_id, doc, 1)):
                return 1
            raise self._conflict(collection, doc_id, self._current_version(collection, doc_id), 0)
        for _ignored in range(MAX_RETRIES):
            raw = self._get("docs", did)
            current = _live_version(raw)
            if expected_version is not None and expected_version != current:
                raise self._conflict(collection, doc_id, current, expected_version)
            source = self._doc_source(collection, doc_id, doc, current + 1)
            try:
                if raw is None:
                    self.es.create(index=self._alias("docs"), id=did, document=source)
                else:
                    self.es.index(index=self._alias("docs"), id=did, document=source,
                                  if_seq_no=raw.seq_no, if_primary_term=raw.primary_term)
                return current + 1
            except ApiError as exc:
                if exc.meta.status != 409:
                    raise
                if expected_version is not None:
                    raise self._conflict(collection, doc_id, self._current_version(collection, doc_id),
                                         expected_version) from None
                time.sleep(random.uniform(0, 0.005))
        raise StoreError(f"gave up writing {collection} '{doc_id}': too many concurrent writers")

    def _create_doc(self, did: str, source: dict[str, Any]) -> bool:
        """``op_type=create``: False when the id is taken."""
        try:
            self.es.create(index=self._alias("docs"), id=did, document=source)
        except ApiError as exc:
            if exc.meta.status != 409:
                raise
            return False
        return True

    def get_doc(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        found = self.get_doc_version(collection, doc_id)
        return found[0] if found else None

    def get_doc_version(self, collection: str, doc_id: str) -> tuple[dict[str, Any], int] | None:
        raw = self._get("docs", _key_id(collection, doc_id))
        return _live(raw.src) if raw is not None else None

    def get_docs(self, collection: str, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        ids = {_key_id(collection, d): d for d in doc_ids}
        out: dict[str, dict[str, Any]] = {}
        for did, raw in self._mget("docs", list(ids)).items():
            found = _live(raw.src)
            if found is not None:
                out[ids[did]] = found[0]
        return out

    def _list_query(self, collection: str, where: dict[str, Any] | None) -> dict[str, Any]:
        return {"bool": {"filter": [{"term": {"collection": collection}}, {"range": {"version": {"gte": 1}}},
                                    *eq.where_clauses(where)]}}

    def list_docs(
        self, collection: str, *, where: dict[str, Any] | None = None, limit: int = 1000, offset: int = 0
    ) -> list[dict[str, Any]]:
        self._refresh("docs")
        hits = self._page("docs", self._list_query(collection, where), [{"id": "asc"}], offset, limit, window=100_000)
        return [h["_source"]["body"] for h in hits if "body" in h["_source"]]

    def count_docs(self, collection: str, *, where: dict[str, Any] | None = None) -> int:
        self._refresh("docs")
        return self._count("docs", self._list_query(collection, where))

    def delete_doc(self, collection: str, doc_id: str) -> bool:
        did = _key_id(collection, doc_id)
        self._wrote("docs")
        for _ignored in range(MAX_RETRIES):
            raw = self._get("docs", did)
            if raw is None:
                return False
            try:
                self.es.delete(index=self._alias("docs"), id=did, if_seq_no=raw.seq_no,
                               if_primary_term=raw.primary_term)
            except ESNotFound:
                return False
            except ApiError as exc:
                if exc.meta.status != 409:
                    raise
                continue
            return _live(raw.src) is not None
        raise StoreError(f"gave up deleting {collection} '{doc_id}': too many concurrent writers")

    # --- multi-document writes ---------------------------------------------------------
    def put_docs_atomic(self, collection: str, docs: dict[str, dict[str, Any]], delete: list[str] = ()) -> None:
        """Elasticsearch has no multi-document transaction; this is an intent document (an outbox) and
        ordered, re-playable single-document writes — see store/es_intents.py for the protocol and why
        each caller is safe with it."""
        self.schema.ensure("docs")
        self._maybe_recover()
        self._wrote("docs")
        es_intents.write(self, collection, docs, list(delete))

    def _delete_quietly(self, kind: str, doc_id: str) -> None:
        try:
            self.es.delete(index=self._alias(kind), id=doc_id)
        except ESNotFound:
            pass

    # --- assets ------------------------------------------------------------------------
    def put_asset(self, asset: dict[str, Any]) -> None:
        self.put_assets([asset])

    def put_assets(self, assets: list[dict[str, Any]]) -> None:
        """Partial updates (``doc_as_upsert``) so an asset's vector, written by put_vectors, survives
        an edit of its text; ``json`` is a string, so it is replaced whole, never merged."""
        if not assets:
            return
        alias = self.schema.ensure("assets")
        ops = [({"update": {"_index": alias, "_id": a["id"], "retry_on_conflict": 5}},
                {"doc": _asset_source(a), "doc_as_upsert": True}) for a in assets]
        try:
            _raise_failures(self._bulk(ops), "storing assets")
        finally:
            self._wrote("assets")

    def get_asset(self, asset_id: str) -> dict[str, Any] | None:
        raw = self._get("assets", asset_id, source_includes=["json"])
        return json.loads(raw.src["json"]) if raw is not None and "json" in raw.src else None

    def get_assets(self, asset_ids: list[str]) -> dict[str, dict[str, Any]]:
        raws = self._mget("assets", asset_ids, source_includes=["json"])
        return {aid: json.loads(r.src["json"]) for aid, r in raws.items() if "json" in r.src}

    def filter_assets(
        self, flt: AssetFilter, *, sort: AssetSort = "updated_desc", limit: int = 20, offset: int = 0
    ) -> HitPage:
        query = eq.asset_query(flt)
        order = eq.ASSET_SORTS[sort]
        if offset + limit <= 100_000:
            resp = self._search("assets", query=query, sort=order, from_=offset, size=limit, source=False,
                                track_total_hits=True)
            hits = resp["hits"]["hits"]
            total = int(resp["hits"]["total"]["value"])
        else:
            hits = self._page("assets", query, order, offset, limit, source=False, window=100_000)
            total = self._count("assets", query)
        return HitPage(hits=[Hit(h["_id"], 0.0) for h in hits], total=total)

    def count_assets(self, flt: AssetFilter) -> int:
        return self._count("assets", eq.asset_query(flt))

    def asset_facet_counts(self, facet: str, flt: AssetFilter) -> dict[str, int]:
        if facet not in FACETS and facet not in SCALAR_FACETS:
            raise ValueError(f"unknown facet {facet}")
        return {k[0]: n for k, n, _ignored in self._composite("assets", eq.asset_query(flt), (facet,), missing=False)}

    def _composite(self, kind: str, query: dict[str, Any], fields: tuple[str, ...], *, missing: bool = True,
                   sum_field: str | None = None) -> Iterator[tuple[tuple[Any, ...], int, float]]:
        """Every bucket of a composite aggregation (paged with after_key: exact, however many groups)."""
        after: dict[str, Any] | None = None
        while True:
            comp: dict[str, Any] = {"size": COMPOSITE_PAGE, "sources": [
                {f"g{i}": {"terms": {"field": f, "missing_bucket": missing}}} for i, f in enumerate(fields)]}
            if after is not None:
                comp["after"] = after
            agg: dict[str, Any] = {"composite": comp}
            if sum_field:
                agg["aggs"] = {"s": {"sum": {"field": sum_field}}}
            resp = self._search(kind, query=query, size=0, aggs={"c": agg}, track_total_hits=False)
            buckets = resp.get("aggregations", {}).get("c", {}).get("buckets", [])
            for b in buckets:
                key = tuple(b["key"][f"g{i}"] for i in range(len(fields)))
                yield key, int(b["doc_count"]), float(b["s"]["value"]) if sum_field else 0.0
            after = resp.get("aggregations", {}).get("c", {}).get("after_key")
            if not buckets or after is None:
                return

    def text_search_assets(self, text: str, flt: AssetFilter, *, limit: int = 100) -> list[Hit]:
        query = eq.text_query(text, flt)
        if query is None or limit <= 0:
            return []
        resp = self._search("assets", query=query, size=min(limit, 10_000), source=False,
                            sort=["_score", {"updated_at": "desc"}, {"id": "asc"}], track_total_hits=False)
        return [Hit(h["_id"], float(h["_score"])) for h in resp["hits"]["hits"]]

    def count_text_assets(self, text: str, flt: AssetFilter) -> int:
        query = eq.text_query(text, flt)
        return 0 if query is None else self._count("assets", query)

    # --- vectors -----------------------------------------------------------------------
    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        """Vectors live on their asset's document (so kNN filters on the asset's facets), in the field
        of their dimension. A vector for an asset that does not exist is dropped."""
        if not vectors:
            return
        by_dim: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
        for aid, v in vectors.items():
            arr = np.asarray(v, dtype=np.float32).reshape(-1)
            by_dim[int(arr.shape[0])][aid] = arr
        for dim in by_dim:
            self.schema.ensure_vector_field(dim)
        alias = self._alias("assets")
        dims = self.schema.vector_dims()
        ops = []
        for dim, group in by_dim.items():
            others = {vector_field(d): None for d in dims if d != dim}
            for aid, arr in group.items():
                doc = {vector_field(dim): arr.tolist(), "vec_b64": base64.b64encode(arr.tobytes()).decode(),
                       "vector_model": model_id, "vector_dim": dim, **others}
                ops.append(({"update": {"_index": alias, "_id": aid, "retry_on_conflict": 5}}, {"doc": doc}))
        try:
            results = self._bulk(ops)
        finally:
            self._wrote("assets")
        _raise_failures([(op, r) for op, r in results if r["status"] != 404], "storing vectors")

    def knn_assets(self, vector: np.ndarray, flt: AssetFilter, *, k: int = 20) -> list[Hit]:
        """Top-level kNN with the filter applied inside the graph search (exact when the filter leaves
        fewer docs than num_candidates). Elasticsearch scores cosine as (1 + cos) / 2; mapped back."""
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        dim = int(q.shape[0])
        k = min(k, 10_000)
        if k <= 0 or dim not in self.schema.vector_dims() or not np.any(q):
            return []
        knn: dict[str, Any] = {"field": vector_field(dim), "query_vector": q.tolist(), "k": k,
                               "num_candidates": min(max(4 * k, 100), 10_000)}
        clauses = eq.asset_filter(flt)
        if clauses:
            knn["filter"] = clauses
        resp = self._search("assets", knn=knn, size=k, source=False, track_total_hits=False)
        return [Hit(h["_id"], 2.0 * float(h["_score"]) - 1.0) for h in resp["hits"]["hits"]]

    def get_vectors(self, asset_ids: list[str]) -> tuple[list[str], np.ndarray]:
        raws = self._mget("assets", asset_ids, source_includes=["vec_b64"])
        rows: dict[str, np.ndarray] = {}
        for aid, raw in raws.items():
            if raw.src.get("vec_b64"):
                rows[aid] = _decode_vector(raw.src["vec_b64"])
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        # Mid re-embedding to another dimension: keep the dimension most rows have.
        dims = [r.shape[0] for r in rows.values()]
        dim = max(set(dims), key=dims.count)
        found = [a for a in asset_ids if a in rows and rows[a].shape[0] == dim]
        return found, np.stack([rows[a] for a in found]) if found else np.zeros((0, dim), dtype=np.float32)

    def vector_model_ids(self) -> dict[str, int]:
        query = {"exists": {"field": "vector_model"}}
        return {k[0]: n for k, n, _ignored in self._composite("assets", query, ("vector_model",), missing=False)}

    def assets_missing_vectors(self, model_id: str, *, limit: int = 1000) -> list[str]:
        query = {"bool": {"must_not": [{"term": {"vector_model": model_id}}]}}
        hits = self._page("assets", query, [{"id": "asc"}], 0, limit, source=False, window=100_000)
        return [h["_id"] for h in hits]

    # --- media -------------------------------------------------------------------------
    def _media_file(self, sha256: str) -> Path:
        return self.media_dir / sha256[:2] / sha256[2:4] / sha256

    def media_tmp_dir(self) -> Path:
        return self.media_dir / ".tmp"

    def media_path(self, sha256: str) -> Path | None:
        p = self._media_file(sha256)
        return p if p.exists() else None

    def put_media_file(self, tmp_path: Path, sha256: str, size: int, mime: str) -> bool:
        dest = self._media_file(sha256)
        existed = dest.exists()
        if existed:
            tmp_path.unlink(missing_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, dest)  # atomic within one filesystem: never a partial file under its name
            _fsync_dir(dest.parent)
        self.record_media(sha256, size, mime, to_iso(utcnow()))
        return not existed

    def record_media(self, sha256: str, size: int, mime: str, created_at: str) -> None:
        """Metadata of a stored file; the first record stands (bytes are content-addressed)."""
        try:
            self.put_doc(MEDIA, sha256, {"sha256": sha256, "size": size, "mime": mime, "created_at": created_at},
                         expected_version=0)
        except ConflictError:
            pass

    def media_info(self, sha256: str) -> dict[str, Any] | None:
        return self.get_doc(MEDIA, sha256)

    def open_media(self, sha256: str) -> BinaryIO | None:
        p = self.media_path(sha256)
        return p.open("rb") if p else None

    # --- events ------------------------------------------------------------------------
    def add_events(self, events: list[dict[str, Any]], derive: CounterDeriver | None = None) -> list[str]:
        """Create each event with ``op_type=create`` (a stored id answers 409: a duplicate, skipped),
        then add the counter deltas of exactly the created ones.

        Crash safety without transactions: ``derive`` is applied to each event on its own *before*
        the write, and each event document carries its own deltas and a batch id. A marker doc for the
        batch exists from before the write until the counters are updated. Each counter doc records
        the batches already added to it, so adding a batch twice changes nothing. If the process dies
        in between, recovery (at start and every minute, in any process) finds the marker older than
        ``BATCH_GRACE``, sums the deltas stored on that batch's created events and adds them — once.
        This needs ``derive`` to be additive over events (derive(a + b) = derive(a) + derive(b)),
        which profile counters are by design.
        """
        if not events:
            return []
        self._maybe_recover()
        alias = self.schema.ensure("events")
        batch = uuid.uuid4().hex[:16]
        per_event = [flat_deltas(derive([ev])) if derive else [] for ev in events]  # (collection, key, field, delta)
        marker = _key_id(COUNTER_BATCH, batch)
        if derive:
            self.schema.ensure("docs")
            self.es.create(index=self._alias("docs"), id=marker, document={
                "collection": COUNTER_BATCH, "id": batch, "version": 1, "status": "pending", "created": time.time()})
        ops = []
        for ev, deltas in zip(events, per_event, strict=True):
            source = {**ev, "_batch": batch, "_deltas": _dumps(deltas)} if derive else dict(ev)
            ops.append(({"create": {"_index": alias, "_id": ev["id"]}}, source))
        try:
            results = self._bulk(ops)
        finally:
            self._unrefreshed_events.update((ev.get("user_id"), ev.get("group_id")) for ev in events)
            self._wrote("events")
        inserted: list[int] = []
        failures = []
        statuses = []
        for i, (_ignored, r) in enumerate(results):
            if r["status"] == 201:
                inserted.append(i)
            elif r["status"] != 409:
                failures.append(f"event {events[i].get('id')!r}: {r.get('error')}")
                statuses.append(r["status"])
        if failures:
            # the marker stays: recovery adds what was created
            raise _write_failure("; ".join(failures[:5]), statuses)
        if derive:
            if inserted:
                self._apply_counters(_sum_deltas(d for i in inserted for d in per_event[i]), batch)
            self._delete_quietly("docs", marker)
        return [events[i]["id"] for i in inserted]

    def _recover_counter_batches(self) -> None:
        self._refresh("docs")
        query = {"bool": {"filter": [{"term": {"collection": COUNTER_BATCH}},
                                     {"range": {"created": {"lt": time.time() - BATCH_GRACE}}}]}}
        stale = [h["_source"]["id"] for hits in self._scan("docs", query) for h in hits]
        if not stale:
            return
        self._refresh("events")
        for batch in stale:
            deltas: list[tuple[str, str, str, float]] = []
            for hits in self._scan("events", {"term": {"_batch": batch}}, source=["_deltas"]):
                for h in hits:
                    deltas.extend(tuple(d) for d in json.loads(h["_source"].get("_deltas") or "[]"))
            if deltas:
                self._apply_counters(_sum_deltas(deltas), batch)
            self._delete_quietly("docs", _key_id(COUNTER_BATCH, batch))

    def _fresh_events(self, q: EventQuery) -> None:
        """Refresh before a search of events only when an event this process wrote since its last refresh
        could match: the recommender reads one user's events right after storing another user's."""
        users, groups = set(q.user_ids), set(q.group_ids)
        if any((not users or u in users) and (not groups or g in groups) for u, g in list(self._unrefreshed_events)):
            self._fresh("events")

    def query_events(self, q: EventQuery) -> list[dict[str, Any]]:
        self._fresh_events(q)
        hits = self._page("events", eq.event_query(q), eq.event_sort(q.newest_first), 0, q.limit, fresh=False,
                          source={"excludes": list(INTERNAL_EVENT_FIELDS)})
        return [h["_source"] for h in hits]

    def iter_events(self, *, batch: int = 10000) -> Iterator[list[dict[str, Any]]]:
        self._refresh("events")
        for hits in self._scan("events", {"match_all": {}}, sort=[{"id": "asc"}], page=min(batch, 10_000),
                               source={"excludes": list(INTERNAL_EVENT_FIELDS)}):
            yield [h["_source"] for h in hits]

    def event_scan_parts(self) -> list[Any]:
        return [None]  # one scroll on a point in time

    def event_columns(self, channel: str, types: tuple[str, ...], *, user_ids: list[str] | None = None,
                      part: Any = None) -> EventColumns:
        names = ("user_id", "type", "asset_id", "channel", "ts", "recommendation_id")
        rows: list[tuple[Any, ...]] = []
        self._refresh("events")
        queries = ([{"terms": {"user_id": chunk}} for chunk in _chunks(list(user_ids), 5000)]
                   if user_ids is not None else [{"exists": {"field": "user_id"}}])
        for query in queries:
            for hits in self._scan("events", query, page=10_000, source=[*names, "attributes.reserved"]):
                for h in hits:
                    e = h["_source"]
                    reserved = e.get("type") == "served" and bool((e.get("attributes") or {}).get("reserved"))
                    rec = e.get("recommendation_id") if reserved or e.get("type") == "delivered" else None
                    rows.append((e.get("user_id"), e.get("type"), e.get("asset_id"), e.get("channel"),
                                 from_iso(e["ts"]).timestamp(), rec, reserved))
        return event_columns_of(rows, channel, types)

    def doc_field_columns(self, collection: str, fields: tuple[str, ...]) -> dict[str, list[str]]:
        self._refresh("docs")
        docs = ((h["_source"]["id"], h["_source"].get("body") or {})
                for hits in self._scan("docs", self._list_query(collection, None),
                                       source=["id", *(f"body.{f}" for f in fields)])
                for h in hits)
        return doc_columns_of(docs, fields)

    def count_events(self, q: EventQuery | None = None) -> int:
        q = q or EventQuery()
        self._fresh_events(q)
        return self._count("events", eq.event_query(q), fresh=False)

    def event_counts(self, group_by: tuple[str, ...], q: EventQuery) -> list[tuple[tuple[Any, ...], int, float]]:
        for col in group_by:
            if col not in EVENT_COLUMNS:
                raise ValueError(f"cannot group events by {col}")
        query = eq.event_query(q)
        if "ts" not in group_by:
            return list(self._composite("events", query, group_by, sum_field="value"))
        # date_nanos buckets come back as epoch millis; group the stored strings client-side instead.
        acc: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0])
        for hits in self._scan("events", query, source=list(group_by) + ["value"]):
            for h in hits:
                s = h["_source"]
                cell = acc[tuple(s.get(c) for c in group_by)]
                cell[0] += 1
                cell[1] += float(s.get("value") or 0.0)
        return [(k, int(v[0]), float(v[1])) for k, v in acc.items()]

    def event_counts_by_period(self, group_by: tuple[str, ...], q: EventQuery, bounds: list[datetime]
                               ) -> Iterator[tuple[tuple[Any, ...], int, int, float]]:
        """One composite aggregation per period, its range intersected with ``q``'s (a date_histogram
        source cannot follow arbitrary bounds, and this node has no scripting to compute a period)."""
        for col in group_by:
            if col not in EVENT_COLUMNS or col == "ts":
                raise ValueError(f"cannot group events by {col}")
        if [to_iso(b) for b in bounds] != sorted(to_iso(b) for b in bounds):
            raise ValueError("period bounds must be ascending")
        for i in range(len(bounds) - 1):
            since = max(t for t in (bounds[i], q.since) if t is not None)
            until = min(t for t in (bounds[i + 1], q.until) if t is not None)
            if since >= until:
                continue
            query = eq.event_query(replace(q, since=since, until=until))
            for key, n, value in self._composite("events", query, group_by, sum_field="value"):
                yield key, i, n, value

    def _event_ids(self, query: dict[str, Any]) -> list[str]:
        self._refresh("events")
        return [h["_id"] for hits in self._scan("events", query, source=False) for h in hits]

    def reassign_events(self, from_user: str, to_user: str) -> int:
        alias = self._alias("events")
        ids = self._event_ids({"term": {"user_id": from_user}})
        ops = [({"update": {"_index": alias, "_id": i, "retry_on_conflict": 5}}, {"doc": {"user_id": to_user}})
               for i in ids]
        results = self._bulk(ops, refresh="wait_for")
        _raise_failures([(op, r) for op, r in results if r["status"] != 404], "reassigning events")
        return sum(1 for _ignored, r in results if r["status"] == 200)

    def delete_events(self, q: EventQuery) -> int:
        alias = self._alias("events")
        ops = [({"delete": {"_index": alias, "_id": i}}, None) for i in self._event_ids(eq.event_query(q))]
        results = self._bulk(ops, refresh="wait_for")
        return sum(1 for _ignored, r in results if r["status"] == 200)

    # --- counters ----------------------------------------------------------------------
    def _apply_counters(self, deltas: dict[tuple[str, str], dict[str, float]], batch: str | None) -> None:
        """Read-modify-write of one doc per (collection, key), guarded by if_seq_no/if_primary_term and
        retried on conflict (no scripts in the server). Each doc is updated atomically; a doc that
        already holds ``batch`` is skipped, which makes re-applying a batch harmless."""
        if not deltas:
            return
        alias = self.schema.ensure("counters")
        pending = {_key_id(c, k): (c, k) for c, k in deltas}
        for _ignored in range(MAX_RETRIES):
            raws = self._mget("counters", list(pending))
            now = time.time()
            ops: list[dict[str, Any]] = []
            targets: list[str] = []
            for cid, (collection, key) in pending.items():
                raw = raws.get(cid)
                src = raw.src if raw is not None else {"collection": collection, "key": key, "values": {}, "applied": {}}
                applied = dict(src.get("applied") or {})
                if batch is not None and batch in applied:
                    targets.append(cid)
                    ops.append({"noop": True})
                    continue
                values = dict(src.get("values") or {})
                for field, delta in deltas[(collection, key)].items():
                    values[field] = float(values.get(field, 0.0)) + delta
                if batch is not None:
                    applied = {b: t for b, t in applied.items() if t > now - APPLIED_RETENTION}
                    applied[batch] = round(now, 1)
                ops.append(_write_op(alias, cid, {"collection": collection, "key": key, "values": values,
                                                  "applied": applied}, raw))
                targets.append(cid)
            real = [(cid, op) for cid, op in zip(targets, ops, strict=True) if "noop" not in op]
            results = self._bulk([op for _ignored, op in real])
            done = {cid for cid, op in zip(targets, ops, strict=True) if "noop" in op}
            for (cid, _ignored), (_ignored, r) in zip(real, results, strict=True):
                if r["status"] in (200, 201):
                    done.add(cid)
                elif r["status"] != 409:
                    raise StoreError(f"counter {cid}: {r.get('error')}")
            for cid in done:
                pending.pop(cid, None)
            if not pending:
                return
            time.sleep(random.uniform(0, 0.01))
        raise StoreError("gave up updating counters: too many concurrent writers")

    def add_to_counters(self, collection: str, updates: list[tuple[str, str, float]]) -> None:
        self._apply_counters(_sum_deltas((collection, k, f, v) for k, f, v in updates), None)

    def get_counters(self, collection: str, key: str) -> dict[str, float]:
        raw = self._get("counters", _key_id(collection, key), source_includes=["values"])
        return {f: float(v) for f, v in (raw.src.get("values") or {}).items()} if raw is not None else {}

    def scan_counters(self, collection: str) -> Iterator[tuple[str, str, float]]:
        self._refresh("counters")
        for hits in self._scan("counters", {"term": {"collection": collection}}, source=["key", "values"]):
            for h in hits:
                key = h["_source"]["key"]
                for field, value in (h["_source"].get("values") or {}).items():
                    yield key, field, float(value)

    def delete_counters(self, collection: str, key: str) -> None:
        self._delete_quietly("counters", _key_id(collection, key))

    # --- bulk export/import for `contenthub store copy` --------------------------------
    def collections(self) -> list[str]:
        """Collections holding documents (reserved ``_…`` bookkeeping collections left out)."""
        self._refresh("docs")
        return sorted(k[0] for k, _ignored, _ignored in self._composite("docs", {"match_all": {}}, ("collection",), missing=False)
                      if not k[0].startswith("_"))

    def iter_doc_versions(self, collection: str) -> Iterator[list[tuple[str, dict[str, Any], int]]]:
        self._refresh("docs")
        query = {"bool": {"filter": [{"term": {"collection": collection}}]}}
        for hits in self._scan("docs", query, sort=[{"id": "asc"}]):
            rows = []
            for h in hits:
                found = _live(h["_source"])
                if found is not None:
                    rows.append((h["_source"]["id"], found[0], found[1]))
            yield rows

    def import_docs(self, collection: str, rows: list[tuple[str, dict[str, Any], int]]) -> None:
        """Overwrite docs keeping their versions (a copy must not break clients' expected_version)."""
        alias = self.schema.ensure("docs")
        ops = [({"index": {"_index": alias, "_id": _key_id(collection, d)}}, self._doc_source(collection, d, body, v))
               for d, body, v in rows]
        _raise_failures(self._bulk(ops, refresh="wait_for"), "importing docs")

    def iter_assets(self, batch: int = 1000) -> Iterator[list[dict[str, Any]]]:
        self._refresh("assets")
        for hits in self._scan("assets", {"match_all": {}}, sort=[{"id": "asc"}], page=batch, source=["json"]):
            yield [json.loads(h["_source"]["json"]) for h in hits if "json" in h["_source"]]

    def iter_vectors(self, batch: int = 1000) -> Iterator[list[tuple[str, str, np.ndarray]]]:
        self._refresh("assets")
        query = {"exists": {"field": "vector_model"}}
        for hits in self._scan("assets", query, sort=[{"id": "asc"}], page=batch, source=["vector_model", "vec_b64"]):
            yield [(h["_id"], h["_source"]["vector_model"], _decode_vector(h["_source"]["vec_b64"]))
                   for h in hits if h["_source"].get("vec_b64")]

    def counter_collections(self) -> list[str]:
        self._refresh("counters")
        return sorted(k[0] for k, _ignored, _ignored in self._composite("counters", {"match_all": {}}, ("collection",),
                                                          missing=False))

    def set_counters(self, collection: str, rows: dict[str, dict[str, float]]) -> None:
        """Overwrite whole counter docs (copying; not for live traffic, which adds)."""
        alias = self.schema.ensure("counters")
        ops = [({"index": {"_index": alias, "_id": _key_id(collection, key)}},
                {"collection": collection, "key": key, "values": values, "applied": {}}) for key, values in rows.items()]
        _raise_failures(self._bulk(ops), "importing counters")

    def iter_media(self) -> Iterator[dict[str, Any]]:
        for rows in self.iter_doc_versions(MEDIA):
            for _ignored, body, _ignored in rows:
                yield body


def _pair_ops(ops: Iterable[Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for op in ops:
        if isinstance(op, tuple):
            out.append(op)
        else:
            out.append((op, None))
    return out


def _raise_failures(results: list[tuple[str, dict[str, Any]]], what: str) -> None:
    bad = [r for _ignored, r in results if r.get("status", 500) >= 300]
    if bad:
        raise _write_failure(f"{what}: {len(bad)} failed, first: {bad[0].get('error')}",
                             [r.get("status", 500) for r in bad])


def _sum_deltas(deltas: Iterable[tuple[str, str, str, float] | list[Any]]) -> dict[tuple[str, str], dict[str, float]]:
    acc: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for collection, key, field, value in deltas:
        acc[(collection, key)][field] += float(value)
    return {k: dict(v) for k, v in acc.items()}


def _asset_source(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a["id"], "json": _dumps(a), "title": a["title"], "body": a.get("body") or "",
        "tags": a.get("tags") or [], "scenes": a.get("scenes") or [], "channels": a.get("channels") or [],
        "stages": a.get("stages") or [], "kind": a.get("kind"), "content_type": a.get("content_type"),
        "status": a.get("status"), "valid_from": a.get("valid_from"), "valid_until": a.get("valid_until"),
        "created_at": a.get("created_at"), "updated_at": a.get("updated_at"), "terms": analysis.asset_terms(a),
    }


def _decode_vector(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.float32).copy()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
