"""`contenthub store migrate` on Elasticsearch: move each index whose mapping version is behind the code's
(``elastic_schema.MAPPING_VERSION``) to a new index with the current mapping, without losing a document
and without stopping reads.

Per index, oldest first (why each step):
1. the new index ``{prefix}-{kind}-v{N}`` is created with the current mapping (plus the vector fields
   the old one had gained), without the alias — nothing reads or writes it yet;
2. the old index gets a write block: from here until the alias moves, writes answer 503 with
   Retry-After (store/es_docs.py: a block is an outage) instead of landing in an index that is being
   copied and would lose them. Reads keep going to the old index: zero downtime for reads;
3. every document is copied with its ``_id`` (a point-in-time scan and bulk writes: the test
   distribution has no ``_reindex``), passing through ``transform`` when a version changed the shape;
4. counts are compared, then one ``_aliases`` call moves the alias: readers switch atomically;
5. the old index is deleted (``keep_old`` keeps it, still write-blocked, for a manual rollback).

A run that dies half-way leaves the old index serving reads (write-blocked) and a partial new one;
running `store migrate` again deletes the partial copy and starts that index over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from elasticsearch import ApiError

from contenthub.store.elastic.assets import json_column
from contenthub.store.elastic.client import pit_pages
from contenthub.store.elastic_schema import MAPPING_VERSION, MAPPINGS, vector_mapping, version_of
from contenthub.store.es_docs import key_id, live

if TYPE_CHECKING:
    from contenthub.store.elastic import ElasticStore

Progress = Callable[[str, int, int], None]
"""(kind, documents copied so far, documents in the old index)."""

PAGE = 2000
OLD_TX = "_tx"  # the transaction documents of the protocol docs v1 used (store/es_intents.py replaced it)


@dataclass
class Step:
    kind: str
    source: str
    target: str
    copied: int = 0
    counted: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        extra = f" ({'; '.join(self.notes)})" if self.notes else ""
        return f"{self.kind}: {self.source} → {self.target}, {self.copied} documents{extra}"


def pending(store: ElasticStore) -> list[Step]:
    """The indices behind their kind's mapping version (a missing index is created new, not migrated)."""
    steps = []
    for alias, indices in store.schema.existing().items():
        kind = alias.rsplit("-", 1)[1]
        if len(indices) != 1:
            raise RuntimeError(f"alias {alias} points at {indices}: fix the aliases by hand before migrating")
        if version_of(indices[0]) < MAPPING_VERSION[kind]:
            steps.append(Step(kind, indices[0], store.schema.concrete(kind)))
    return steps


def migrate(store: ElasticStore, *, progress: Progress | None = None, keep_old: bool = False) -> list[Step]:
    steps = pending(store)
    for step in steps:
        _migrate_one(store, step, progress or (lambda kind, done, total: None), keep_old)
    return steps


def _migrate_one(store: ElasticStore, step: Step, progress: Progress, keep_old: bool) -> None:
    es = store.es
    alias = store.schema.alias(step.kind)
    if es.indices.exists(index=step.target):
        es.indices.delete(index=step.target)  # a partial copy of a run that died: start over
        step.notes.append("a partial copy from an earlier run was replaced")
    mappings = {
        **MAPPINGS[step.kind],
        "properties": {**MAPPINGS[step.kind]["properties"], **_vector_fields(store, step)},
    }
    es.indices.create(index=step.target, mappings=mappings, settings=store.schema.settings(step.kind))
    es.indices.put_settings(index=step.source, settings={"index.blocks.write": True})
    es.indices.refresh(index=step.source)
    step.counted = int(es.count(index=step.source)["count"])
    transform = TRANSFORMS.get((step.kind, version_of(step.source)))
    ctx = _Context(store, step)
    for hits in _scan(store, step.source):
        ops: list[dict[str, Any]] = []
        for h in hits:
            src = transform(ctx, h) if transform else h["_source"]
            if src is not None:
                ops += [{"index": {"_index": step.target, "_id": h["_id"]}}, src]
        if ops:
            resp = es.bulk(operations=ops, refresh=False)
            if resp["errors"]:
                bad = next(i for i in resp["items"] if i["index"].get("error"))
                raise RuntimeError(f"copying {step.kind}: {bad['index']['error']}")
        step.copied += len(ops) // 2
        progress(step.kind, step.copied + ctx.dropped, step.counted)
    es.indices.refresh(index=step.target)
    have = int(es.count(index=step.target)["count"])
    if have != step.copied:
        raise RuntimeError(
            f"{step.target} holds {have} documents, {step.copied} were copied; the alias still "
            f"points at {step.source} (write-blocked); run `store migrate` again"
        )
    if ctx.dropped:
        step.notes.append(f"{ctx.dropped} bookkeeping documents of the old format left behind")
    es.indices.update_aliases(
        actions=[{"remove": {"index": step.source, "alias": alias}}, {"add": {"index": step.target, "alias": alias}}]
    )
    if not keep_old:
        es.indices.delete(index=step.source)
    store.schema.forget(step.kind)
    store.schema.wait_ready(step.kind)


def _vector_fields(store: ElasticStore, step: Step) -> dict[str, Any]:
    if step.kind != "assets":
        return {}
    props = store.es.indices.get_mapping(index=step.source)[step.source]["mappings"].get("properties", {})
    return {name: vector_mapping(int(name[4:])) for name in props if name.startswith("vec_") and name[4:].isdigit()}


def _scan(store: ElasticStore, index: str) -> Iterator[list[dict[str, Any]]]:
    pit = store.es.open_point_in_time(index=index, keep_alive="5m")["id"]
    yield from pit_pages(store.es, pit, {"sort": ["_shard_doc"]}, page=PAGE, keep_alive="5m")


class _Context:
    def __init__(self, store: ElasticStore, step: Step) -> None:
        self.store = store
        self.step = step
        self.dropped = 0
        self._tx: dict[str, str | None] = {}

    def tx_status(self, txid: str) -> str | None:
        if txid not in self._tx:
            try:
                doc = self.store.es.get(index=self.step.source, id=key_id(OLD_TX, txid))["_source"]
                self._tx[txid] = doc.get("status")
            except ApiError:
                self._tx[txid] = None
        return self._tx[txid]


def _docs_v1(ctx: _Context, hit: dict[str, Any]) -> dict[str, Any] | None:
    """docs v1 → v2: the staged-transaction protocol's parts are settled as its readers resolved them —
    a committed transaction's staged body (or deletion) becomes the document, anything else keeps the
    body it had — and its transaction documents are left behind."""
    src = hit["_source"]
    if src.get("collection") == OLD_TX:
        ctx.dropped += 1
        return None
    staged = {k: src.pop(k, None) for k in ("tx", "staged", "staged_fields", "staged_delete", "staged_version")}
    if staged["tx"] and ctx.tx_status(staged["tx"]) == "committed":
        if staged["staged_delete"]:
            ctx.dropped += 1
            return None
        src.update({"body": staged["staged"], "fields": staged["staged_fields"], "version": staged["staged_version"]})
    elif staged["tx"] and live(src) is None:
        ctx.dropped += 1  # the placeholder of a new doc in a transaction that never committed
        return None
    return src


def _assets_v1(ctx: _Context, hit: dict[str, Any]) -> dict[str, Any] | None:
    """assets v1 → v2: ``json_b64`` added from ``json`` (``vec_b64`` keeps its value, now in doc values)."""
    src = hit["_source"]
    if "json" in src:
        src["json_b64"] = json_column(src["json"])
    return src


TRANSFORMS: dict[tuple[str, int], Callable[[_Context, dict[str, Any]], dict[str, Any] | None]] = {
    ("docs", 1): _docs_v1,
    ("assets", 1): _assets_v1,
}
"""(kind, version migrated from) → how a document of that version becomes one of the next."""
