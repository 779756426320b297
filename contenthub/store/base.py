"""The narrow interface every backend implements and all domain code calls.

Shaped for two engines at once: SQLite (embedded) and Elasticsearch (scale-out). So it speaks in
documents and collections, filters and hits, and additive counters — operations both engines do
natively — and keeps business rules out (ranking, caps and statistics live in the domain folders).

Collections of small documents (taxonomy, keys, strategies, segments, rules, plans, experiments,
journeys, audit) go through the generic ``*_doc`` calls. Assets, vectors, media and events have
their own calls because they need search, kNN, streaming bytes or idempotent bulk ingestion.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import numpy as np

from contenthub.store.columns import EventColumns
from contenthub.store.query import AssetFilter, AssetSort, EventQuery, Hit, HitPage, SubjectData, SubjectRead

CounterDeltas = list[tuple[str, str, dict[str, float]]]
"""Counter increments grouped per (collection, key) — each key once, in key order — as {field: delta}:
the shape ingestion sums them in, so a store applies a batch's ~80,000 increments without regrouping."""
CounterDeriver = Callable[[list[dict[str, Any]]], CounterDeltas]


def flat_deltas(deltas: CounterDeltas) -> list[tuple[str, str, str, float]]:
    """The increments as (collection, key, field, delta) tuples."""
    return [(c, k, f, v) for c, k, fields in deltas for f, v in fields.items()]


def required_model(model_id: str | None) -> str:
    """The model id ``put_assets(..., vectors=...)`` was given: vectors are stored under the model that made them."""
    if not model_id:
        raise ValueError("put_assets with vectors needs the model_id that made them")
    return model_id


Docs = dict[str, dict[str, Any]]


def follow_docs(
    keys: Sequence[str], first: Docs, read: Callable[[list[str]], Docs], spec: SubjectRead
) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """``following`` with each hop's documents read by ``read``."""
    asks = following(keys, first, spec)
    try:
        ids = next(asks)
        while True:
            ids = asks.send(read(ids))
    except StopIteration as done:
        return done.value


def following(
    keys: Sequence[str], first: Docs, spec: SubjectRead
) -> Generator[list[str], Docs, dict[str, tuple[str, dict[str, Any] | None]]]:
    """(id reached, its document) per key: each key's document (``first``), then the one its
    ``spec.follow`` field names, at most ``spec.hops`` times, asking for each hop's targets for all keys
    at once (it yields their ids and is sent their documents). A key whose chain ends at a missing
    document reads as (key, None). Shared by the backends (sync reads through ``follow_docs``, the
    Elasticsearch store's async read through its steps) so that every read follows a chain the same way."""
    at: dict[str, tuple[str, dict[str, Any] | None]] = {k: (k, first.get(k)) for k in keys}
    for _hop in range(spec.hops if spec.follow else 0):
        targets = {k: str(d[spec.follow]) for k, (_i, d) in at.items() if d is not None and d.get(spec.follow)}
        if not targets:
            break
        found = yield sorted(set(targets.values()))
        for k, target in targets.items():
            at[k] = (target, found.get(target))
    return {k: (i if d is not None else k, d) for k, (i, d) in at.items()}


def typed_among(events: list[dict[str, Any]], spec: SubjectRead) -> list[dict[str, Any]] | None:
    """The newest ``spec.typed_limit`` events of ``spec.typed`` when the ``spec.newest`` newest events hold
    them: they do when fewer than ``spec.newest`` came back (then they are the whole history). None when
    they must be read on their own."""
    if not spec.typed or spec.typed_limit <= 0:
        return []
    if len(events) >= spec.newest:
        return None
    types = set(spec.typed)
    return [e for e in events if e.get("type") in types][: spec.typed_limit]


def subject_data(
    keys: Sequence[str],
    reached: dict[str, tuple[str, dict[str, Any] | None]],
    events: dict[str, list[dict[str, Any]]],
    typed: dict[str, list[dict[str, Any]]],
    counters: dict[str, dict[str, float]],
) -> dict[str, SubjectData]:
    """``read_subjects``' answer from what a backend read, by the key each subject was read under."""
    out: dict[str, SubjectData] = {}
    for k in keys:
        key, doc = reached[k]
        out[k] = SubjectData(key, doc, events.get(key, []), typed.get(key, []), counters.get(key, {}))
    return out


@dataclass(frozen=True)
class Capabilities:
    """What differs between backends in ways callers may plan around (never in what they get back).

    Declared here so domain code asks ``store.capabilities`` instead of probing for methods or testing
    ``store.backend`` names."""

    local_reads: bool
    """A point read is a call into this process (an embedded file), not a network round trip: re-reading
    beats caching when a cache would have to be invalidated or refreshed under load."""


@runtime_checkable
class Store(Protocol):
    backend: str
    capabilities: Capabilities

    def close(self) -> None: ...

    # --- generic documents -------------------------------------------------------------
    def put_doc(self, collection: str, doc_id: str, doc: dict[str, Any], *, expected_version: int | None = None) -> int:
        """Create or replace; returns the new version. ``expected_version`` guards lost updates
        (raises ConflictError when the stored version differs; 0 means 'must not exist')."""

    def get_doc(self, collection: str, doc_id: str) -> dict[str, Any] | None: ...

    def get_doc_version(self, collection: str, doc_id: str) -> tuple[dict[str, Any], int] | None: ...

    def doc_versions(self, collection: str, doc_ids: list[str]) -> dict[str, int]:
        """The version of each stored doc among ``doc_ids`` (absent ones left out), in one read: the hub
        polls its change marks this way (one round trip on Elasticsearch instead of one per mark)."""

    def list_docs(
        self, collection: str, *, where: dict[str, Any] | None = None, limit: int = 1000, offset: int = 0
    ) -> list[dict[str, Any]]:
        """``where`` matches top-level scalar fields by equality."""

    def count_docs(self, collection: str, *, where: dict[str, Any] | None = None) -> int: ...

    def delete_doc(self, collection: str, doc_id: str) -> bool: ...

    def put_docs_atomic(self, collection: str, docs: dict[str, dict[str, Any]], delete: Sequence[str] = ()) -> None:
        """Replace several docs of one collection together: after a crash, all or none of them are
        stored once the store has recovered. SQLite makes them visible at once; Elasticsearch applies
        them in order — every doc but the last, the last, then the deletions — so a concurrent reader
        may see a prefix (put what readers follow, a pointer or a head, last; store/es_intents.py)."""

    def get_docs_versioned(self, collection: str, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
        """(body, version) of each stored doc among ``doc_ids``, in one read: the input of ``put_docs_if``."""

    def put_docs_if(self, collection: str, docs: Mapping[str, tuple[dict[str, Any], int | None]]) -> set[str]:
        """Write each doc whose stored version still equals its expected one (0: absent; None: whatever
        version ``put_docs_if`` itself reads first), each on its own — not together — in one round of
        writes. Returns the ids left unwritten because another writer came first: journeys claim and
        reserve a page of due sends this way instead of one compare-and-set per send."""

    # --- assets ------------------------------------------------------------------------
    def put_asset(self, asset: dict[str, Any]) -> None: ...

    def put_assets(
        self, assets: list[dict[str, Any]], *, model_id: str | None = None, vectors: dict[str, np.ndarray] | None = None
    ) -> None:
        """Create or replace assets; with ``vectors`` (made by ``model_id``, keyed by asset id) store those
        too, as ``put_vectors`` would. Why together: Elasticsearch then indexes each asset once, with its
        vector, instead of indexing it and again when the vector arrives (the slow half of an asset load)."""

    def get_asset(self, asset_id: str) -> dict[str, Any] | None: ...

    def get_assets(self, asset_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    def asset_fields(self, asset_ids: list[str], fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Some top-level fields of each stored asset (absent and null both read as None), without
        decoding whole bodies: event ingestion needs only the tags of ~10,000 assets per batch."""

    def filter_assets(
        self, flt: AssetFilter, *, sort: AssetSort = "updated_desc", limit: int = 20, offset: int = 0
    ) -> HitPage: ...

    def text_search_assets(self, text: str, flt: AssetFilter, *, limit: int = 100) -> list[Hit]:
        """Assets matching every group of the query (a word, its full pinyin or its initials; see
        store/analysis.py) in title, body, tags or media text; BM25-ranked, best first."""

    def count_text_assets(self, text: str, flt: AssetFilter) -> int:
        """How many assets ``text_search_assets`` would match without a limit."""

    def count_assets(self, flt: AssetFilter) -> int: ...

    def asset_facet_counts(self, facet: str, flt: AssetFilter) -> dict[str, int]: ...

    # --- vectors -----------------------------------------------------------------------
    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None: ...

    def knn_assets(self, vector: np.ndarray, flt: AssetFilter, *, k: int = 20) -> list[Hit]:
        """Cosine nearest neighbours among assets matching the filter."""

    def get_vectors(self, asset_ids: list[str]) -> tuple[list[str], np.ndarray]:
        """The ids that have a vector (in the given order) and their rows."""

    def assets_with_vectors(self, flt: AssetFilter) -> tuple[dict[str, dict[str, Any]], list[str], np.ndarray]:
        """Every asset ``flt`` keeps (id → document), and the ids among them that have a vector (ascending)
        with their rows: ``filter_assets`` + ``get_assets`` + ``get_vectors`` over the whole filter. Why one
        call: the recommender's catalog reads the whole library on every asset change, and Elasticsearch
        answers this in one pass over the documents where those three calls make three."""

    def vector_model_ids(self) -> dict[str, int]:
        """How many vectors each model made (a model change means re-embedding)."""

    def assets_missing_vectors(self, model_id: str, *, limit: int = 1000) -> list[str]: ...

    # --- media -------------------------------------------------------------------------
    def media_path(self, sha256: str) -> Path | None: ...

    def put_media_file(self, tmp_path: Path, sha256: str, size: int, mime: str) -> bool:
        """Move a fully written temp file into place (atomically). False if it was already stored."""

    def media_tmp_dir(self) -> Path: ...

    def open_media(self, sha256: str) -> BinaryIO | None: ...

    # --- events ------------------------------------------------------------------------
    def add_events(self, events: list[dict[str, Any]], derive: CounterDeriver | None = None) -> list[str]:
        """Store a batch atomically; events whose id is already stored are skipped. Returns the ids inserted.
        ``derive`` maps the newly inserted events to counter deltas (``CounterDeltas``) that are applied
        together with them, so profiles count every event exactly once."""

    def query_events(self, q: EventQuery) -> list[dict[str, Any]]: ...

    def iter_events(self, *, batch: int = 10000) -> Iterator[list[dict[str, Any]]]: ...

    def count_events(self, q: EventQuery | None = None) -> int: ...

    def reassign_events(self, from_user: str, to_user: str) -> int:
        """Point a merged user's events at the surviving user (identity merge)."""

    def delete_events(self, q: EventQuery) -> int:
        """Erase events (privacy erasure of a user)."""

    def event_scan_parts(self) -> list[Any]:
        """Parts of the whole event log for ``event_columns(part=...)``, each a few hundred thousand events,
        that can be read in parallel (opaque to callers; one part when the backend reads in one stream)."""

    def event_columns(
        self, channel: str, types: tuple[str, ...], *, user_ids: list[str] | None = None, part: Any = None
    ) -> EventColumns:
        """Events as numpy columns (``columns.EventColumns``) for readers that vectorise over millions of
        events (recommend.batch): those of ``user_ids``, or of one ``part`` of ``event_scan_parts``, or
        all. Events without a user are left out."""

    def doc_field_columns(self, collection: str, fields: tuple[str, ...]) -> dict[str, list[str]]:
        """``id`` and the top-level ``fields`` ('' when absent or null) of every document of ``collection``,
        as columns, in one pass (recommend.batch reads every user's ``created_at`` and ``merged_into``)."""

    def delete_counters(self, collection: str, key: str) -> None: ...

    def get_docs(self, collection: str, doc_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    def doc_field(self, collection: str, doc_ids: list[str], field: str) -> dict[str, Any]:
        """One top-level field of each stored doc (None when absent), without decoding whole bodies:
        event ingestion's bulk user look-up."""

    def event_counts(self, group_by: tuple[str, ...], q: EventQuery) -> list[tuple[tuple[Any, ...], int, float]]:
        """Aggregate counts and value sums grouped by event fields (e.g. ('asset_id','channel','type'))."""

    def event_counts_by_period(
        self, group_by: tuple[str, ...], q: EventQuery, bounds: list[datetime]
    ) -> Iterator[tuple[tuple[Any, ...], int, int, float]]:
        """``event_counts`` per period, streamed: (group, period, count, value sum), where period ``i`` holds
        the events with ``bounds[i] <= ts < bounds[i + 1]`` (``bounds`` ascending; events outside
        [bounds[0], bounds[-1]) and ``q``'s since/until are not counted). For readers of the whole log by
        calendar period (the dashboard's weeks in the hub's zone), whose groups may not fit in one list."""

    # --- a subject's profile inputs, together ------------------------------------------
    def read_subjects(self, keys: Sequence[str], spec: SubjectRead) -> dict[str, SubjectData]:
        """For each key (a user or a group id; hundreds at once are fine): its document with its
        ``spec.follow`` chain followed (``follow_docs``), then, under the id reached, its newest events,
        its newest events of ``spec.typed`` and its counters (``SubjectRead``, ``SubjectData``).

        As fresh as the single reads it replaces: the document and the counters as ``get_doc`` and
        ``get_counters`` see them (at once, in every process), the events as ``query_events`` does
        (this process's own writes at once). SQLite reads everything in one read transaction;
        Elasticsearch in one real-time ``_mget`` (documents and counters; one more per hop of a chain)
        and one ``_msearch`` (events; one more for the subjects whose newest page did not hold the
        typed events) — a search cannot see an unrefreshed counter, a GET cannot run a query."""

    async def read_subjects_async(self, keys: Sequence[str], spec: SubjectRead) -> dict[str, SubjectData]:
        """``read_subjects`` for a caller on an event loop (next content's route), the same answer. A store
        whose reads wait for another machine (Elasticsearch) waits without holding the loop, so one API
        process serves other requests meanwhile; one whose reads are local (SQLite, which never waits for
        writers) just reads."""

    # --- counters (additive, order-independent) ----------------------------------------
    def add_to_counters(self, collection: str, updates: list[tuple[str, str, float]]) -> None:
        """Atomically add deltas to (key, field) counters; used for decayed profile weights."""

    def get_counters(self, collection: str, key: str) -> dict[str, float]: ...

    def scan_counters(self, collection: str) -> Iterator[tuple[str, str, float]]:
        """Every (key, field, value) of a collection: for periodic refreshes, never the hot path."""

    def prepare(self) -> list[str]:
        """Create what the store needs before first use (``contenthub store init``); one line per thing
        made ready, for the operator."""

    def integrity_check(self) -> bool: ...

    def now(self) -> datetime: ...
