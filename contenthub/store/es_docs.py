"""Single-document building blocks of the Elasticsearch store, shared by store/elastic/ and
store/es_intents.py: ids, a document as read (with what a compare-and-set needs), conditional writes,
and how a failed bulk write is reported."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from contenthub.store.outage import unavailable


class StoreError(RuntimeError):
    """Elasticsearch refused a write for a reason other than a version conflict."""


@dataclass
class Raw:
    """A document as Elasticsearch holds it, with what a compare-and-set needs."""

    src: dict[str, Any]
    seq_no: int
    primary_term: int


def key_id(collection: str, key: str) -> str:
    """``_id`` of (collection, key); long keys are hashed (``_id`` is at most 512 bytes)."""
    if "/" in collection:
        raise ValueError(f"collection names may not contain '/': {collection!r}")
    raw = f"{collection}/{key}"
    if len(raw.encode()) <= 400:
        return raw
    return f"{collection}/#" + hashlib.sha256(key.encode()).hexdigest()


OUTAGE_STATUSES = frozenset({408, 429, 502, 503, 504})
"""Statuses that mean "the cluster cannot do it now" (server-side timeout, overloaded or read-only by
the flood-stage watermark, a node or shard unavailable, no elected master), never "the request is wrong"."""


BLOCKED = 403
"""A bulk item refused with 403 met an index block (``cluster_block_exception``: the index is write-blocked
while `store migrate` copies it, or read-only after the disk's flood-stage watermark); a request that is
not allowed at all fails whole, never per item. Both blocks lift by themselves or by an operator: an outage."""


def write_failure(message: str, statuses: list[int]) -> Exception:
    """A bulk write some of whose items failed: when every failure is an outage (the shard's node is gone,
    no master, overloaded) the whole write is worth repeating, and ids make repeating it harmless."""
    if statuses and all(s in OUTAGE_STATUSES or s == BLOCKED for s in statuses):
        return unavailable("Elasticsearch", f"{len(statuses)} write(s) met an unavailable shard or node")
    return StoreError(message)


def write_op(alias: str, doc_id: str, source: dict[str, Any], raw: Raw | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create when there was nothing, else overwrite only if nobody wrote since we read."""
    if raw is None:
        return {"create": {"_index": alias, "_id": doc_id}}, source
    return {
        "index": {"_index": alias, "_id": doc_id, "if_seq_no": raw.seq_no, "if_primary_term": raw.primary_term}
    }, source


def live(src: dict[str, Any]) -> tuple[dict[str, Any], int] | None:
    """(body, version) of a stored doc, or None for what is not a live doc: a placeholder staged by the
    transaction protocol of stores written before es_intents (version 0), kept readable until migrated."""
    if int(src.get("version", 0)) < 1 or "body" not in src:
        return None
    return src["body"], int(src["version"])


def live_version(raw: Raw | None) -> int:
    found = live(raw.src) if raw is not None else None
    return found[1] if found else 0
