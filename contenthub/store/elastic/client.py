"""The Elasticsearch client side every role of ``ElasticStore`` shares: the store URL, outages, index
aliases, read-your-own-writes refreshes, bulk requests, scans, composite aggregations and recovery."""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import orjson
from elastic_transport import AiohttpHttpNode, BaseNode, ConnectionTimeout, TlsError
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, AsyncElasticsearch, Elasticsearch
from elasticsearch import NotFoundError as ESNotFound

from contenthub.config import Settings
from contenthub.store import es_json
from contenthub.store.elastic_schema import KINDS, Indices
from contenthub.store.es_docs import OUTAGE_STATUSES, Raw, StoreError
from contenthub.store.es_docs import write_failure as _write_failure
from contenthub.timeutil import utcnow

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
PARALLEL_REQUESTS = 3
"""Chunks of one large bulk or mget in flight at once (``_bulk(..., parallel=True)``, ``_mget``): the node
works on several (its write pool has a thread per core; concurrent bulks share translog fsyncs) while
this process encodes the next and decodes the last. Past three, the bench's node on two cores gained nothing."""
MIN_PARALLEL_CHUNK = 250  # documents: below this a bulk is not split further to run in parallel
SCAN_PAGE = 5000
SCAN_SLICES = 2
"""Parallel slices of a whole-index read (``_scan_sliced``): one per core of the one-node setup the targets
are measured on; more would queue on the node's search threads."""
APPLIED_RETENTION = 1800.0  # how long a counter doc remembers the batches applied to it (≫ BATCH_GRACE)
RECOVERY_EVERY = 60.0
MAX_RETRIES = 200
ASYNC_NODE_CLASS: type[BaseNode] = AiohttpHttpNode
"""elastic_transport's HTTP client for ``AsyncElasticsearch`` (``_async_es``)."""


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
        raise ValueError(
            f"unknown Elasticsearch URL option(s) {sorted(unknown)}; known: refresh_interval, shards, replicas"
        )
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


T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One request to the node, made with the client of whoever runs the steps: ``send(es)`` with the
    sync client returns the answer, with the async one (``AsyncElasticsearch``, same methods) an awaitable
    of it."""

    send: Callable[[Any], Any]


@dataclass(frozen=True)
class Blocking:
    """Work that blocks the calling thread (waiting for an index to be ready, a shared refresh behind a lock):
    run inline by the sync driver, in a worker thread by the async one, so it never holds an event loop."""

    run: Callable[[], Any]


Steps = Generator[Call | Blocking, Any, T]
"""A read written once as the requests it makes (``Call``) and what it does with each answer (an exception
is thrown back in): ``ElasticBase._drive`` runs it with the sync client, ``_drive_async`` awaits it with the
async one, so both paths keep one copy of every rule (retries, what counts as missing or failed)."""


BulkOp = tuple[Mapping[str, Any], Mapping[str, Any] | None] | Mapping[str, Any]
"""A bulk action with its source (None for a delete), or an action alone."""


class ElasticBase:
    """What every role mixin of ``ElasticStore`` builds on: the client, index names, refreshes, bulk
    requests, scans."""

    backend = "elasticsearch"

    def _init_client(self, url: str, settings: Settings, prefix: str | None) -> None:
        client_urls, options = parse_url(url)
        self.url = url
        self.prefix = (prefix or settings.es_index_prefix).lower()
        # Every node of the URL, taken in turn (round robin); a node that fails to answer is set aside with
        # a growing back-off and its request retried on the next one, so losing one node costs no request.
        # No sniffing: the nodes named are the ones clients can reach (behind a proxy or NAT the addresses
        # a cluster publishes may not be). A 429/502/503/504 is retried on another node as well.
        self._client_urls = client_urls
        self.es = Elasticsearch(client_urls, **self._client_options())
        self._async_clients: dict[
            asyncio.AbstractEventLoop, tuple[AsyncElasticsearch, AsyncGenerator[AsyncElasticsearch, None]]
        ] = {}
        refresh_interval = options.get("refresh_interval", "1s")
        if refresh_interval.startswith("-"):
            raise ValueError("refresh_interval must be positive: other API processes see writes at the next refresh")
        self.schema = Indices(
            self.es,
            self.prefix,
            shards=int(options["shards"]) if "shards" in options else None,
            replicas=int(options["replicas"]) if "replicas" in options else None,
            refresh_interval=refresh_interval,
        )
        self._dirty: set[str] = set()  # kinds this process wrote to since its last refresh of them
        self._refresh_locks = {kind: threading.Lock() for kind in KINDS}
        self._unrefreshed_events: set[tuple[str | None, str | None]] = set()  # (user, group) of such events
        self._last_recovery = 0.0
        self._recovery_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(PARALLEL_REQUESTS, thread_name_prefix="es-chunks")

    def _client_options(self) -> dict[str, Any]:
        """What the sync client and every async one share: the nodes' round robin, retries and fail-over."""
        return {
            "request_timeout": 60,
            "retry_on_timeout": True,
            "max_retries": max(3, len(self._client_urls)),
            "connections_per_node": 64,
            "serializers": es_json.SERIALIZERS,
        }

    async def _async_es(self) -> AsyncElasticsearch:
        """The async client of the running event loop, made on its first use there (its connections belong to
        that loop) and closed when the loop ends: an async generator holds it, and asyncio closes a loop's
        unfinished async generators as the loop shuts down (``shutdown_asyncgens``, which ``asyncio.run``,
        uvicorn and a test client's portal all call). Clients of loops closed since are forgotten."""
        loop = asyncio.get_running_loop()
        found = self._async_clients.get(loop)
        if found is not None:
            return found[0]
        for gone in [other for other in self._async_clients if other.is_closed()]:
            del self._async_clients[gone]
        holder = _held_until_loop_ends(
            AsyncElasticsearch(self._client_urls, node_class=ASYNC_NODE_CLASS, **self._client_options())
        )
        client = await anext(holder)  # runs to the holder's yield without giving the loop a turn
        self._async_clients[loop] = (client, holder)  # asyncio holds its async generators weakly
        return client

    # --- housekeeping ------------------------------------------------------------------
    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.es.close()

    def now(self) -> datetime:
        return utcnow()

    def init(self) -> list[str]:
        """Create every index and alias now (``contenthub store init``) instead of on first write."""
        return self.schema.ensure_all()

    def prepare(self) -> list[str]:
        return [f"{alias} → {self.schema.concrete(alias.rsplit('-', 1)[1])}" for alias in self.init()]

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

    # --- low-level helpers -------------------------------------------------------------
    def _delete_quietly(self, kind: str, doc_id: str) -> None:
        try:
            self.es.delete(index=self._alias(kind), id=doc_id)
        except ESNotFound:
            pass

    def _alias(self, kind: str) -> str:
        return self.schema.alias(kind)

    def _refresh(self, kind: str) -> None:
        self._dirty.discard(kind)
        if kind == "events":
            self._unrefreshed_events.clear()
        self._when_ready(
            kind,
            lambda: self.es.indices.refresh(index=self._alias(kind), ignore_unavailable=True, allow_no_indices=True),
        )

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

    def _when_ready(
        self, kinds: str | Sequence[str], call: Callable[[], Any], starting: Callable[[Any], bool] | None = None
    ) -> Any:
        """``_ready_steps`` of a call made with the sync client."""
        return self._drive(self._ready_steps(kinds, Call(lambda _es: call()), starting))

    def _ready_steps(
        self, kinds: str | Sequence[str], call: Call, starting: Callable[[Any], bool] | None = None
    ) -> Steps[Any]:
        """Make ``call``; if it met a shard still starting (another process created the index a moment
        ago: a 503 raised, or an answer that ``starting`` says holds one — an mget's or msearch's items
        fail one by one), wait for the indices of ``kinds`` to be ready and make it once more. The one
        place a read waits for a starting index."""
        try:
            answer = yield call
            if starting is None or not starting(answer):
                return answer
        except ApiError as exc:
            if exc.meta.status != 503:
                raise
        for kind in (kinds,) if isinstance(kinds, str) else kinds:
            yield Blocking(functools.partial(self.schema.wait_ready, kind))
        return (yield call)

    def _drive(self, steps: Steps[T]) -> T:
        """Run ``steps`` with the sync client, on this thread."""
        reply: Any = None
        error: Exception | None = None
        while True:
            try:
                step = steps.send(reply) if error is None else steps.throw(error)
            except StopIteration as done:
                return done.value
            try:
                reply, error = (step.send(self.es) if isinstance(step, Call) else step.run()), None
            except Exception as exc:  # noqa: BLE001 - thrown back into the steps, which decide
                reply, error = None, exc

    async def _drive_async(self, steps: Steps[T]) -> T:
        """Run ``steps`` with the running loop's async client: while the node works, the loop serves others."""
        reply: Any = None
        error: Exception | None = None
        while True:
            try:
                step = steps.send(reply) if error is None else steps.throw(error)
            except StopIteration as done:
                return done.value
            try:
                pending: Awaitable[Any] = (
                    step.send(await self._async_es()) if isinstance(step, Call) else asyncio.to_thread(step.run)
                )
                reply, error = await pending, None
            except Exception as exc:  # noqa: BLE001 - thrown back into the steps, which decide
                reply, error = None, exc

    def _search(self, kind: str, *, fresh: bool = True, **body: Any) -> dict[str, Any]:
        if fresh:
            self._fresh(kind)
        return self._when_ready(
            kind,
            lambda: (
                self.es.search(index=self._alias(kind), ignore_unavailable=True, allow_no_indices=True, **body).body
            ),
        )

    def _count(self, kind: str, query: dict[str, Any], *, fresh: bool = True) -> int:
        if fresh:
            self._fresh(kind)
        resp = self._when_ready(
            kind,
            lambda: self.es.count(index=self._alias(kind), query=query, ignore_unavailable=True, allow_no_indices=True),
        )
        return int(resp["count"])

    def _get(self, kind: str, doc_id: str, **kw: Any) -> Raw | None:
        try:
            r = self._when_ready(kind, lambda: self.es.get(index=self._alias(kind), id=doc_id, **kw))
        except ESNotFound:
            return None
        return Raw(r["_source"], r["_seq_no"], r["_primary_term"])

    def _mget(self, kind: str, ids: list[str], **kw: Any) -> dict[str, Raw]:
        out: dict[str, Raw] = {}
        chunks = list(_chunks(list(dict.fromkeys(ids)), MGET_CHUNK))
        if len(chunks) > 1:
            answers = list(
                self._pool.map(lambda chunk: self._mget_chunk(kind, index=self._alias(kind), ids=chunk, **kw), chunks)
            )
        else:
            answers = [self._mget_chunk(kind, index=self._alias(kind), ids=chunk, **kw) for chunk in chunks]
        for docs in answers:
            for d in docs:
                if d.get("found"):
                    out[d["_id"]] = Raw(d.get("_source", {}), d["_seq_no"], d["_primary_term"])
        return out

    def _mget_chunk(self, kinds: str | Sequence[str], **request: Any) -> list[dict[str, Any]]:
        return self._drive(self._mget_chunk_steps(kinds, **request))

    def _mget_chunk_steps(self, kinds: str | Sequence[str], **request: Any) -> Steps[list[dict[str, Any]]]:
        """One mget (``index=``/``ids=``, or ``docs=`` specs naming their indices, across ``kinds``), one answer
        per document asked. A document whose index does not exist reads as not found; any other error of a
        document (a shard still starting) is waited for and read again, never taken as 'missing'."""
        try:
            answer = yield from self._ready_steps(
                kinds, Call(lambda es: es.mget(**request)), lambda answer: bool(failed_items(answer["docs"]))
            )
        except ESNotFound:  # the index of ``index=`` does not exist: nothing of it is found
            return [{"found": False} for _asked in request.get("ids") or request.get("docs") or ()]
        docs: list[dict[str, Any]] = answer["docs"]
        if failed := failed_items(docs):
            raise StoreError(f"reading {kinds if isinstance(kinds, str) else ', '.join(kinds)}: {failed[0]['error']}")
        return docs

    def _bulk(
        self, ops: Sequence[BulkOp], *, refresh: str | bool = False, parallel: bool = False
    ) -> list[tuple[str, dict[str, Any]]]:
        """Send (action, source-or-None) pairs in chunks; returns (op type, result) per action, in order.

        With ``refresh=wait_for`` only the last chunk waits: one refresh covers all earlier chunks, so such
        a bulk goes chunk after chunk. ``parallel``: the actions are independent of each other (distinct
        ids, no order a reader relies on), so its chunks may be in flight at once (PARALLEL_REQUESTS);
        without it, chunks go one after another and a shard applies each one's items in order."""
        actions = _pair_ops(ops)
        if parallel and refresh is False and len(actions) >= 2 * MIN_PARALLEL_CHUNK:
            n = max(PARALLEL_REQUESTS, math.ceil(len(actions) / BULK_CHUNK))
            size = max(MIN_PARALLEL_CHUNK, math.ceil(len(actions) / n))
            parts = list(self._pool.map(self._bulk_chunk, _chunks(actions, size)))
            return [item for part in parts for item in part]
        out: list[tuple[str, dict[str, Any]]] = []
        for i, chunk in enumerate(_chunks(actions, BULK_CHUNK)):
            last = i == (len(actions) - 1) // BULK_CHUNK
            out.extend(self._bulk_chunk(chunk, refresh if last else False))
        return out

    def _bulk_chunk(
        self, chunk: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]], refresh: str | bool = False
    ) -> list[tuple[str, dict[str, Any]]]:
        lines: list[Mapping[str, Any]] = []
        for action, source in chunk:
            lines.append(action)
            if source is not None:
                lines.append(source)
        resp = self.es.bulk(operations=lines, refresh=refresh)
        out: list[tuple[str, dict[str, Any]]] = []
        for item in resp["items"]:
            ((op, result),) = item.items()
            out.append((op, result))
        return out

    def _scan(
        self,
        kind: str,
        query: dict[str, Any],
        *,
        sort: list[Any] | None = None,
        page: int = SCAN_PAGE,
        source: Any = True,
        limit: int | None = None,
        fresh: bool = True,
        part: tuple[int, int] | None = None,
        columns: list[str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every hit of ``query`` in pages, on a point in time (a consistent view while paging); with
        ``part`` (i, n), only the i-th of n slices of them; with ``columns``, each hit holds those fields'
        doc values (``fields``) and nothing of the stored document, not even ``_id``."""
        if fresh:
            self._fresh(kind)
        try:
            pit = self._when_ready(
                kind, lambda: self.es.open_point_in_time(index=self._alias(kind), keep_alive="2m")["id"]
            )
        except ESNotFound:
            return
        search: dict[str, Any] = {"query": query, "sort": [*(sort or []), "_shard_doc"], "source": source}
        if part is not None and part[1] > 1:
            search["slice"] = {"id": part[0], "max": part[1]}
        if columns is not None:
            search.update(source=False, stored_fields=["_none_"], docvalue_fields=columns)
        yield from pit_pages(self.es, pit, search, page=page, limit=limit, keep_alive="2m")

    def _scan_sliced(
        self,
        kind: str,
        query: dict[str, Any],
        *,
        source: Any = False,
        columns: list[str] | None = None,
        slices: int = SCAN_SLICES,
    ) -> list[list[dict[str, Any]]]:
        """Every hit of ``query`` (in no order), read as ``slices`` scans at once, each on its own point in
        time. Why: fetching hits (reading their stored source) is the node's work of a whole-index read, and
        one scan does it on one core; a document falls in one slice only (slices split by id), so none is
        read twice or missed, whatever is written meanwhile."""
        self._fresh(kind)

        def one(i: int) -> list[dict[str, Any]]:
            pages = self._scan(kind, query, source=source, fresh=False, part=(i, slices), columns=columns)
            return [h for hits in pages for h in hits]

        return list(self._pool.map(one, range(slices)))

    def _page(
        self,
        kind: str,
        query: dict[str, Any],
        sort: list[Any],
        offset: int,
        limit: int,
        source: Any = True,
        window: int = 10_000,
        fresh: bool = True,
    ) -> list[dict[str, Any]]:
        """Hits ``offset … offset+limit`` in ``sort`` order; past the index's result window by
        walking a point in time with search_after (the skipped pages carry no source)."""
        if limit <= 0:
            return []
        if offset + limit <= window:
            resp = self._search(
                kind,
                query=query,
                sort=sort,
                from_=offset,
                size=limit,
                source=source,
                track_total_hits=False,
                fresh=fresh,
            )
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

    def _composite(
        self,
        kind: str,
        query: dict[str, Any],
        fields: tuple[str, ...],
        *,
        missing: bool = True,
        sum_field: str | None = None,
    ) -> Iterator[tuple[tuple[Any, ...], int, float]]:
        """Every bucket of a composite aggregation (paged with after_key: exact, however many groups)."""
        after: dict[str, Any] | None = None
        while True:
            comp: dict[str, Any] = {
                "size": COMPOSITE_PAGE,
                "sources": [
                    {f"g{i}": {"terms": {"field": f, "missing_bucket": missing}}} for i, f in enumerate(fields)
                ],
            }
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


async def _held_until_loop_ends(client: AsyncElasticsearch) -> AsyncGenerator[AsyncElasticsearch, None]:
    """``client`` until its event loop shuts down (``ElasticBase._async_es``), then closed."""
    try:
        yield client
    finally:
        await client.close()


def failed_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents of an mget or the searches of an msearch that failed, other than on a missing index
    (which reads as nothing found, as a search with ``ignore_unavailable`` does)."""
    return [
        i
        for i in items
        if "error" in i and not (isinstance(i["error"], dict) and i["error"].get("type") == "index_not_found_exception")
    ]


def _pair_ops(ops: Iterable[BulkOp]) -> list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    out: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = []
    for op in ops:
        if isinstance(op, tuple):
            out.append(op)
        else:
            out.append((op, None))
    return out


def _raise_failures(results: list[tuple[str, dict[str, Any]]], what: str) -> None:
    bad = [r for _ignored, r in results if r.get("status", 500) >= 300]
    if bad:
        raise _write_failure(
            f"{what}: {len(bad)} failed, first: {bad[0].get('error')}", [r.get("status", 500) for r in bad]
        )


def pit_pages(
    es: Elasticsearch,
    pit: str,
    search: dict[str, Any],
    *,
    page: int,
    keep_alive: str,
    limit: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of hits of ``search`` (query, sort ending in ``_shard_doc``, source) on the point in time ``pit``,
    which is closed when paging ends. The store's reads and the index migration page the same way."""
    after: list[Any] | None = None
    seen = 0
    try:
        while limit is None or seen < limit:
            size = page if limit is None else min(page, limit - seen)
            body: dict[str, Any] = {
                **search,
                "size": size,
                "pit": {"id": pit, "keep_alive": keep_alive},
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            resp = es.search(**body)
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
            es.close_point_in_time(id=pit)
        except ApiError:
            pass
