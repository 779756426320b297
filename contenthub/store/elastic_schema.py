"""Index layout of the Elasticsearch store: names, versioned mappings behind aliases, lazy creation.

Why versioned indices behind aliases: a mapping change (a new analyzer, a new field type) cannot be
applied in place in Elasticsearch. Every index is named ``{prefix}-{kind}-v{N}`` and all reads and
writes go through the alias ``{prefix}-{kind}``; a migration creates ``v{N+1}``, copies, and moves the
alias in one atomic ``_aliases`` call.

Why lazy creation: creating an index is a cluster-state update (slow on a busy node), so
indices are created on their first write (reads of a missing index answer "empty"), and
``contenthub store init`` creates all of them up front for production.

Mapping choices (all ``dynamic: false``: unknown keys stay in ``_source`` but never grow the mapping):
- docs: one index for every collection. ``body`` is the document as an unindexed object
  (``enabled: false``); ``fields`` is a ``flattened`` copy of the top-level scalars, type-tagged
  (``s:text``, ``n:1``) so ``where={"n": 1}`` never matches the string ``"1"`` — the same rule as
  SQLite's ``json_extract(...) = ?``. Flattened keeps the mapping at one field however many keys the
  collections use.
- assets: text fields with the ``standard`` analyzer (the only multilingual one in the test
  distribution; CJK text becomes one token per character), keyword facets, time strings as
  ``keyword`` (stored times are fixed-width UTC ``…Z`` strings, so keyword order = time order and
  range filters compare exactly as SQLite does), the full asset as a JSON string (``json``: partial
  updates replace a string whole, while they would merge an object), and one ``dense_vector`` field
  per dimension (``vec_{dim}``), added to the mapping on the first ``put_vectors`` of that dimension,
  plus ``vec_b64`` (the float32 bytes) for reading vectors back cheaply, and ``json_b64`` (the ``json``
  string in base64): both in doc values, so the catalog reads the whole library without the source.
- events: event id as ``_id``; ``ts`` as ``date_nanos`` (microsecond order and fast point ranges for
  "this user's events since …", which a keyword range could not give).
- counters: one document per (collection, key) with its fields as an unindexed map.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError

from contenthub.store.analysis import TERM_FIELDS

KINDS = ("docs", "assets", "events", "counters")
MAPPING_VERSION = {"docs": 2, "assets": 2, "events": 1, "counters": 1}
"""Bump a kind's version with every mapping change of it, and say in store/es_migrate.py's TRANSFORMS how
a document of the old version becomes one of the new when the shape changed (`contenthub store migrate`).
docs v2: the staged-transaction fields gone (store/es_intents.py), ``intent`` added.
assets v2: ``vec_b64`` and the new ``json_b64`` in doc values, for the catalog's whole-library read."""
CATALOG_COLUMNS = {"assets": 2}
"""The first version of a kind whose index answers ``docvalue_fields`` reads of ``json_b64``/``vec_b64``."""

KEYWORD = {"type": "keyword"}
STORED_ONLY = {"type": "keyword", "index": False, "doc_values": False}
UNINDEXED_OBJECT = {"type": "object", "enabled": False}
BINARY_COLUMN = {"type": "binary", "doc_values": True}
"""A base64 value kept in doc values (a column per field), read with ``docvalue_fields`` and no stored
fields. Why: the recommender's catalog reads every asset's document and vector, and a hit read from the
stored source costs the node a decompression and parse of the whole source (mostly the dense_vector's
float array); from doc values the same read took a quarter of the time (bench/RESULTS.md, #24 catalog
build, sixth round)."""
# Pre-analysed terms (store/analysis.py: jieba words, pinyin, initials), split on spaces only; both stores
# index the same terms, so a query matches the same assets on either. position_increment_gap keeps a
# phrase from spanning two values.
TERMS_TEXT = {"type": "text", "analyzer": "whitespace", "position_increment_gap": 100}
TERMS_MAPPING = {"properties": {f: TERMS_TEXT for f in TERM_FIELDS}}

MAPPINGS: dict[str, dict[str, Any]] = {
    "docs": {
        "dynamic": False,
        "properties": {
            "collection": KEYWORD,
            "id": KEYWORD,
            "version": {"type": "long"},
            "updated_at": KEYWORD,
            "body": UNINDEXED_OBJECT,
            # Long strings are not indexed for `where` (Lucene terms are limited to 32 KB).
            "fields": {"type": "flattened", "ignore_above": 1024},
            # the multi-document write (put_docs_atomic, store/es_intents.py) that last wrote the doc
            "intent": KEYWORD,
            # bookkeeping docs (intents, counter batches): when they were made, for recovery
            "created": {"type": "double"},
        },
    },
    "assets": {
        "dynamic": False,
        "properties": {
            "id": KEYWORD,
            "json": STORED_ONLY,
            "title": {
                "type": "text",
                "analyzer": "standard",
                "fields": {"sort": {"type": "keyword", "ignore_above": 1024}},
            },
            "body": {"type": "text", "analyzer": "standard"},
            # position_increment_gap keeps a phrase from spanning two tags.
            "tags": {
                "type": "keyword",
                "fields": {"text": {"type": "text", "analyzer": "standard", "position_increment_gap": 100}},
            },
            "scenes": KEYWORD,
            "channels": KEYWORD,
            "stages": KEYWORD,
            "kind": KEYWORD,
            "content_type": KEYWORD,
            "status": KEYWORD,
            "valid_from": KEYWORD,
            "valid_until": KEYWORD,
            "created_at": KEYWORD,
            "updated_at": KEYWORD,
            "vector_model": KEYWORD,
            "vector_dim": {"type": "integer"},
            # The same vector as base64 float32: reading it back is 4x smaller and much faster to
            # parse than the JSON float array the dense_vector field is indexed from.
            "vec_b64": BINARY_COLUMN,
            # ``json`` again, base64, in doc values: see BINARY_COLUMN.
            "json_b64": BINARY_COLUMN,
            "terms": TERMS_MAPPING,
        },
    },
    "events": {
        "dynamic": False,
        "properties": {
            "id": KEYWORD,
            "type": KEYWORD,
            "user_id": KEYWORD,
            "asset_id": KEYWORD,
            "channel": KEYWORD,
            "group_id": KEYWORD,
            "recommendation_id": KEYWORD,
            "ts": {"type": "date_nanos"},
            "value": {"type": "double"},
            "attributes": UNINDEXED_OBJECT,
            "_batch": KEYWORD,
            "_deltas": STORED_ONLY,
        },
    },
    "counters": {
        "dynamic": False,
        "properties": {
            "collection": KEYWORD,
            "key": KEYWORD,
            "values": UNINDEXED_OBJECT,
            "applied": UNINDEXED_OBJECT,
        },
    },
}


def version_of(index: str) -> int:
    """The mapping version in a concrete index's name (``{prefix}-{kind}-v{N}``)."""
    return int(index.rsplit("-v", 1)[1])


def vector_field(dim: int) -> str:
    return f"vec_{dim}"


def vector_mapping(dim: int) -> dict[str, Any]:
    """Float HNSW, not the 8.19 default int8_hnsw: scores then equal SQLite's exact cosine (a stored
    vector scores 1.0, not 0.9999). For millions of assets int8_hnsw quarters the memory; change it here."""
    return {
        "type": "dense_vector",
        "dims": dim,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "hnsw"},
    }


class Indices:
    """Knows the alias of each kind and creates missing indices once per process."""

    def __init__(
        self, es: Elasticsearch, prefix: str, *, shards: int | None, replicas: int | None, refresh_interval: str
    ) -> None:
        self.es = es
        self.prefix = prefix
        self.shards = shards
        self.replicas = replicas
        self.refresh_interval = refresh_interval
        self._ready: set[str] = set()
        self._shard_counts: dict[str, int] = {}
        self._vector_dims: set[int] | None = None

    def alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def serving_version(self, kind: str) -> int | None:
        """The mapping version of the index the alias points at now (None when there is none): before
        `store migrate` it can be older than the code's, and readers of fields it lacks must know."""
        try:
            found = self.es.indices.get_alias(name=self.alias(kind))
        except NotFoundError:
            return None
        return min(version_of(index) for index in found) if found else None

    def version(self, kind: str) -> int:
        return MAPPING_VERSION[kind]

    def concrete(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-v{self.version(kind)}"

    def settings(self, kind: str) -> dict[str, Any]:
        """Settings of a new index. Copies: one replica on a cluster, none on a single node (a replica
        could never be placed there, and the node would stay yellow) unless the URL says ``replicas``.

        A write is acknowledged only when a majority of the shard's configured copies are active
        (``index.write.wait_for_active_shards``: 1 of 1, 2 of 2, 2 of 3), so an acknowledged write is never
        on one copy alone when the index has two. After a node is lost its missing copies are rebuilt on
        the remaining nodes after 5 s (``node_left.delayed_timeout``, default 1 min): that, not a minute,
        is how long writes to the shards it held wait for their second copy."""
        # An explicit refresh_interval also keeps idle shards refreshing, so refresh=wait_for never
        # waits for a search to wake a search-idle shard.
        s: dict[str, Any] = {
            "refresh_interval": self.refresh_interval,
            "max_result_window": 100_000 if kind in ("assets", "docs") else 10_000,
        }
        if self.shards is not None:
            s["number_of_shards"] = self.shards
        replicas = self.replicas if self.replicas is not None else self.default_replicas()
        s["number_of_replicas"] = replicas
        s["write.wait_for_active_shards"] = (replicas + 1) // 2 + 1 if replicas else 1
        if replicas:
            s["unassigned.node_left.delayed_timeout"] = "5s"
        return s

    def shard_count(self, kind: str) -> int:
        """Primary shards of the index behind ``kind``'s alias (read once; a shard count never changes)."""
        if kind not in self._shard_counts:
            got = self.es.indices.get_settings(index=self.alias(kind), name="index.number_of_shards")
            self._shard_counts[kind] = int(next(iter(got.body.values()))["settings"]["index"]["number_of_shards"])
        return self._shard_counts[kind]

    def forget(self, kind: str) -> None:
        """The alias of ``kind`` moved to another index (store migrate): read its facts again."""
        self._shard_counts.pop(kind, None)
        if kind == "assets":
            self._vector_dims = None

    def default_replicas(self) -> int:
        return 1 if int(self.es.cluster.health()["number_of_data_nodes"]) > 1 else 0

    def ensure(self, kind: str) -> str:
        """Create ``{prefix}-{kind}-vN`` with its alias unless the alias exists; safe to race."""
        alias = self.alias(kind)
        if kind in self._ready:
            return alias
        if not self.es.indices.exists_alias(name=alias):
            try:
                self.es.indices.create(
                    index=self.concrete(kind),
                    mappings=MAPPINGS[kind],
                    settings=self.settings(kind),
                    aliases={alias: {}},
                )
            except ApiError as exc:
                if exc.meta.status != 400 or "resource_already_exists" not in str(exc):
                    raise
                if not self.es.indices.exists_alias(name=alias):
                    # The concrete index exists without its alias (half-finished init): add it.
                    self.es.indices.put_alias(index=self.concrete(kind), name=alias)
        elif kind == "assets":
            # indices made before the terms field existed gain it (additive; such assets are found by
            # words once they are stored again)
            self.es.indices.put_mapping(index=alias, properties={"terms": TERMS_MAPPING})
        self.wait_ready(kind)
        self._ready.add(kind)
        return alias

    def wait_ready(self, kind: str) -> None:
        """Block until the primaries of a just-created index have started (another process may have
        created it a moment ago). A new index reports yellow while its primary is still starting,
        so wait for no initializing shards and the active count too."""
        self.es.cluster.health(
            index=self.alias(kind),
            wait_for_status="yellow",
            wait_for_no_initializing_shards=True,
            wait_for_active_shards=str(self.shards or 1),
            timeout="60s",
        )

    def ensure_all(self) -> list[str]:
        return [self.ensure(kind) for kind in KINDS]

    def existing(self) -> dict[str, list[str]]:
        """Alias → concrete indices, for the aliases of this prefix that exist."""
        out: dict[str, list[str]] = {}
        for kind in KINDS:
            alias = self.alias(kind)
            try:
                found = self.es.indices.get_alias(name=alias)
            except ApiError as exc:
                if exc.meta.status == 404:
                    continue
                raise
            out[alias] = sorted(found.body)
        return out

    def vector_dims(self) -> set[int]:
        """Dimensions that have a vector field in the assets mapping (read once, then kept up to date)."""
        if self._vector_dims is None:
            dims: set[int] = set()
            try:
                mapping = self.es.indices.get_mapping(index=self.alias("assets"))
            except ApiError as exc:
                if exc.meta.status != 404:
                    raise
                mapping = None
            if mapping is not None:
                for body in mapping.body.values():
                    for name in body["mappings"].get("properties", {}):
                        if name.startswith("vec_") and name[4:].isdigit():
                            dims.add(int(name[4:]))
            self._vector_dims = dims
        return self._vector_dims

    def ensure_vector_field(self, dim: int) -> str:
        field = vector_field(dim)
        if dim not in self.vector_dims():
            self.ensure("assets")
            self.es.indices.put_mapping(index=self.alias("assets"), properties={field: vector_mapping(dim)})
            self.vector_dims().add(dim)
        return field

    def forget_vector_dims(self) -> None:
        self._vector_dims = None

    def delete_all(self) -> None:
        """Drop every index of this prefix (tests and `store copy --replace`)."""
        for indices in self.existing().values():
            for index in indices:
                self.es.indices.delete(index=index, ignore_unavailable=True)
        self._ready.clear()
        self._shard_counts.clear()
        self._vector_dims = None
