"""Elasticsearch: a page of subjects' profile inputs (``Store.read_subjects``) in two requests — one
real-time ``_mget`` for their documents and counters, one ``_msearch`` for their newest events.

Why two and not one: a search sees only what a refresh has published, and ``get_doc``/``get_counters``
promise every acknowledged write at once, in every process (a counter added or a user merged by
another API process a moment ago); a GET cannot run a query. So the reads by id stay real-time GETs,
gathered into one ``_mget`` across both indices, and the event queries into one ``_msearch`` that is as
fresh as ``query_events`` (this process's own writes refreshed first).

The read is written once, as the requests it makes (``client.Steps``), and run by either client:
``read_subjects`` with the sync one, ``read_subjects_async`` awaited with the async one, which next content's
route uses so that its event loop serves other requests while the node answers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

from elasticsearch import NotFoundError as ESNotFound

from contenthub.store import elastic_query as eq
from contenthub.store.base import Docs, following, subject_data, typed_among
from contenthub.store.elastic.client import (
    INTERNAL_EVENT_FIELDS,
    MGET_CHUNK,
    Blocking,
    Call,
    Steps,
    _chunks,
    failed_items,
)
from contenthub.store.elastic.events import ElasticEvents
from contenthub.store.es_docs import Raw, StoreError
from contenthub.store.es_docs import key_id as _key_id
from contenthub.store.es_docs import live as _live
from contenthub.store.query import EventQuery, SubjectData, SubjectRead

R = TypeVar("R")

MSEARCH_CHUNK = 200
"""Searches per ``_msearch`` request: a page of due sends' users in a couple of requests, each answer a
few MB at most."""


class ElasticSubjects(ElasticEvents):
    def read_subjects(self, keys: Sequence[str], spec: SubjectRead) -> dict[str, SubjectData]:
        return self._drive(self._read_subjects_steps(keys, spec))

    async def read_subjects_async(self, keys: Sequence[str], spec: SubjectRead) -> dict[str, SubjectData]:
        """The same requests with the async client: the event loop serves other requests while the node
        answers."""
        return await self._drive_async(self._read_subjects_steps(keys, spec))

    def _read_subjects_steps(self, keys: Sequence[str], spec: SubjectRead) -> Steps[dict[str, SubjectData]]:
        keys = list(dict.fromkeys(keys))
        counters: dict[str, dict[str, float]] = {}

        def read(ids: list[str]) -> Steps[Docs]:
            """The documents of ``ids`` (returned) and their counters (into ``counters``), in one mget."""
            doc_ids = {_key_id(spec.docs, i): i for i in ids} if spec.docs else {}
            counter_ids = {_key_id(spec.counters, spec.counter_prefix + i): i for i in ids}
            raws = yield from self._mget_kinds(
                [("docs", d, None) for d in doc_ids] + [("counters", c, ["values"]) for c in counter_ids]
            )
            for cid, i in counter_ids.items():
                if (raw := raws.get(("counters", cid))) is not None:
                    counters[i] = {f: float(v) for f, v in (raw.src.get("values") or {}).items()}
            docs: Docs = {}
            for did, i in doc_ids.items():
                if (raw := raws.get(("docs", did))) is not None and (found := _live(raw.src)) is not None:
                    docs[i] = found[0]
            return docs

        first = yield from read(keys)
        reached = yield from _answering(following(keys, first, spec), read)
        subjects = sorted({key for key, _doc in reached.values()})
        events = yield from self._newest_events(spec, subjects, ())
        typed: dict[str, list[dict[str, Any]]] = {}
        for k in subjects:
            if (among := typed_among(events[k], spec)) is not None:
                typed[k] = among
        if missing := [k for k in subjects if k not in typed]:
            typed.update((yield from self._newest_events(spec, missing, spec.typed)))
        return subject_data(keys, reached, events, typed, counters)

    def _mget_kinds(self, items: list[tuple[str, str, list[str] | None]]) -> Steps[dict[tuple[str, str], Raw]]:
        """Real-time GETs of (kind, _id, source fields or None for all) across indices, in one ``_mget``
        per MGET_CHUNK items."""
        out: dict[tuple[str, str], Raw] = {}
        for chunk in _chunks(items, MGET_CHUNK):
            specs = [
                {"_index": self._alias(kind), "_id": did, **({"_source": src} if src is not None else {})}
                for kind, did, src in chunk
            ]
            kinds = sorted({kind for kind, _d, _s in chunk})
            found = yield from self._mget_chunk_steps(kinds, docs=specs)
            for (kind, did, _s), d in zip(chunk, found, strict=True):
                if d.get("found"):
                    out[(kind, did)] = Raw(d.get("_source", {}), d["_seq_no"], d["_primary_term"])
        return out

    def _newest_events(
        self, spec: SubjectRead, subjects: list[str], types: tuple[str, ...]
    ) -> Steps[dict[str, list[dict[str, Any]]]]:
        """Each subject's newest events (of ``types`` when given), newest first, one search each, in one
        ``_msearch`` per MSEARCH_CHUNK subjects; as fresh as ``query_events``."""
        limit = spec.typed_limit if types else spec.newest
        out: dict[str, list[dict[str, Any]]] = {k: [] for k in subjects}
        if limit <= 0 or not subjects:
            return out
        field = "user_ids" if spec.by == "user_id" else "group_ids"
        if self._events_unrefreshed(EventQuery(**{field: tuple(subjects)})):  # type: ignore[arg-type]
            yield Blocking(functools.partial(self._fresh, "events"))
        header = {"index": self._alias("events"), "ignore_unavailable": True, "allow_no_indices": True}
        for chunk in _chunks(subjects, MSEARCH_CHUNK):
            searches: list[dict[str, Any]] = []
            for k in chunk:
                q = EventQuery(**{field: (k,)}, types=types, limit=limit)  # type: ignore[arg-type]
                body = {
                    "query": eq.event_query(q),
                    "sort": eq.event_sort(True),
                    "size": limit,
                    "_source": {"excludes": list(INTERNAL_EVENT_FIELDS)},
                    "track_total_hits": False,
                }
                searches += [header, body]
            found = yield from self._msearch("events", searches)
            for k, hits in zip(chunk, found, strict=True):
                out[k] = [h["_source"] for h in hits]
        return out

    def _msearch(self, kind: str, searches: list[dict[str, Any]]) -> Steps[list[list[dict[str, Any]]]]:
        """The hits of each (header, body) pair; a shard still starting is waited for and searched again."""
        try:
            answer = yield from self._ready_steps(
                kind,
                Call(lambda es: es.msearch(searches=searches)),
                lambda answer: any(e.get("status") == 503 for e in failed_items(answer["responses"])),
            )
        except ESNotFound:
            return [[] for _pair in range(len(searches) // 2)]
        responses: list[dict[str, Any]] = answer["responses"]
        if failed := failed_items(responses):
            raise StoreError(f"searching {kind}: {failed[0]['error']}")
        return [r["hits"]["hits"] if "error" not in r else [] for r in responses]


def _answering(asks: Generator[list[str], Docs, R], read: Callable[[list[str]], Steps[Docs]]) -> Steps[R]:
    """Run ``asks`` (``base.following``: the ids it needs next, then its answer) reading each ask with ``read``."""
    try:
        ids = next(asks)
        while True:
            docs = yield from read(ids)
            ids = asks.send(docs)
    except StopIteration as done:
        return done.value
