"""``put_docs_atomic`` on Elasticsearch: an intent document and ordered, re-playable single-document writes.

Elasticsearch writes one document atomically and nothing more. Instead of a commit protocol that every
reader must take part in (the staged-body transaction this replaces), a multi-document write is:

1. **snapshot**: one real-time ``mget`` of the documents it changes (their ``_seq_no``/``_primary_term``,
   or "absent");
2. **intent** (the commit point): one ``op_type=create`` of ``_intent/{uuid}`` holding the collection,
   every new body, the deletions and the snapshot. From here on the write *will* complete, by this
   process or by recovery in any other;
3. **apply**, in an order callers rely on: every put but the last, then the last put, then the
   deletions — each a plain single-document write with optimistic concurrency (``if_seq_no`` on the
   document as read, ``create`` when absent), stamped ``intent: uuid``, all in one bulk request when
   the docs index has one shard (a shard applies a bulk's items in order), else one request per part.
   A 409 means another writer got in between our read and our write: read again and write again (this
   write is the later one);
4. the intent document is deleted.

Recovery (at start and every minute, in whichever process writes first) replays intents older than
``INTENT_GRACE``: for each step, a document already stamped with this intent is done; a document still
exactly as in the snapshot (same ``_seq_no``/``_primary_term``, or still absent) is written, again
conditionally on that; a document changed since the snapshot by someone else is left alone — that
writer came after the intent, so its state is the later one and wins. Replaying twice, or while the
original writer is still finishing, writes the same bodies with the same conditions: harmless.

What readers see: every reader reads plain documents (real-time GET, or search after refresh) — nothing
to resolve. While a write is being applied, or after a crash until recovery replays it, a reader can
see a *prefix* of it in the order above, never a later step without the earlier ones. Why each caller
is safe with a prefix (tests/test_elastic_intents.py crashes a write after each step):
- suggester model (library/suggester/model.py): the new blob, then the pointer naming it, then old
  blobs deleted — the pointer never names a blob that is not there;
- plans (publish/service.py): the head, then its history copy, then the retired history version —
  the head (what planning and editing read) is the old plan or the new one, never a mix, and the
  history catches up when the intent is replayed;
- journey states, due hints and outbox entries (journeys/): one document per user or send, each
  independent; the engine writes new hints before states and deletes old hints last, and a replayed
  page finds what was already written (see journeys/engine.py).
SQLite's ``put_docs_atomic`` stays a real transaction (all or none visible at once), which satisfies
the same contract more strictly.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from contenthub.errors import ConflictError
from contenthub.store.es_docs import Raw, key_id, live_version, write_failure, write_op

if TYPE_CHECKING:
    from contenthub.store.elastic.documents import ElasticDocuments

INTENT = "_intent"  # reserved collection in the docs index
INTENT_GRACE = 30.0  # an intent older than this is taken as its writer's crash, and replayed
MAX_ROUNDS = 200


def write(store: ElasticDocuments, collection: str, docs: dict[str, dict[str, Any]], delete: list[str]) -> None:
    from_key = {key_id(collection, d): d for d in [*docs, *delete]}
    snapshot = store._mget("docs", list(from_key))
    recreated = [d for d in dict.fromkeys(delete) if d in docs]
    deletes = [d for d in dict.fromkeys(delete) if d not in docs and key_id(collection, d) in snapshot]
    if not docs and not deletes:
        return
    steps = [_step(store, collection, d, snapshot, delete=False) for d in docs]
    steps += [_step(store, collection, d, snapshot, delete=True) for d in deletes]
    intent_id = uuid.uuid4().hex
    body = {"collection": collection, "steps": steps, "docs": docs, "recreated": recreated}
    store.es.create(
        index=store.schema.alias("docs"),
        id=key_id(INTENT, intent_id),
        document={"collection": INTENT, "id": intent_id, "version": 1, "created": time.time(), "body": body},
    )
    apply(store, intent_id, body, replay=False, known=snapshot)
    store._delete_quietly("docs", key_id(INTENT, intent_id))


def _step(
    store: ElasticDocuments, collection: str, doc_id: str, snapshot: dict[str, Raw], *, delete: bool
) -> dict[str, Any]:
    raw = snapshot.get(key_id(collection, doc_id))
    return {
        "id": doc_id,
        "delete": delete,
        "seq": raw.seq_no if raw else None,
        "term": raw.primary_term if raw else None,
    }


def apply(
    store: ElasticDocuments, intent_id: str, body: dict[str, Any], *, replay: bool, known: dict[str, Raw] | None = None
) -> None:
    """The steps of an intent in their order: puts but the last, the last put, deletions. On one shard
    (the default) one bulk request keeps that order — a shard applies a bulk's items one after another,
    so a refresh or a real-time GET can only see a prefix of them; on several shards each part is its
    own request. ``known``: the documents as just read (the snapshot), saving the first read."""
    steps = body["steps"]
    puts = [s for s in steps if not s["delete"]]
    phases = [puts[:-1], puts[-1:], [s for s in steps if s["delete"]]]
    if store.schema.shard_count("docs") == 1:
        phases = [steps and [*puts, *phases[2]]]
    for phase in phases:
        if phase:
            _apply_phase(store, intent_id, body, phase, replay=replay, known=known)


def _apply_phase(
    store: ElasticDocuments,
    intent_id: str,
    body: dict[str, Any],
    phase: list[dict[str, Any]],
    *,
    replay: bool,
    known: dict[str, Raw] | None = None,
) -> None:
    collection = body["collection"]
    alias = store.schema.alias("docs")
    recreated = set(body.get("recreated") or ())
    pending = {key_id(collection, s["id"]): s for s in phase}
    for _ in range(MAX_ROUNDS):
        current = known if known is not None else store._mget("docs", list(pending))
        known = None  # a conflict means someone wrote since: read again
        ops: list[Any] = []
        targets: list[str] = []
        for did, step in list(pending.items()):
            raw = current.get(did)
            if replay and (raw is not None and raw.src.get("intent") == intent_id or not _unchanged(raw, step)):
                del pending[did]  # already applied, or a later writer's state stands
                continue
            if step["delete"]:
                if raw is None:
                    del pending[did]
                    continue
                ops.append(
                    {
                        "delete": {
                            "_index": alias,
                            "_id": did,
                            "if_seq_no": raw.seq_no,
                            "if_primary_term": raw.primary_term,
                        }
                    }
                )
            else:
                live = live_version(raw)
                version = 1 if step["id"] in recreated or live == 0 else live + 1
                source = store._doc_source(collection, step["id"], body["docs"][step["id"]], version, intent_id)
                ops.append(write_op(alias, did, source, raw))
            targets.append(did)
        failed: list[int] = []
        for did, (_, result) in zip(targets, store._bulk(ops), strict=True):
            status = result["status"]
            if status in (200, 201) or (status == 404 and pending[did]["delete"]):
                del pending[did]
            elif status != 409:
                failed.append(status)
        if failed:
            raise write_failure(f"applying a multi-document write to {collection}: {len(failed)} failed", failed)
        if not pending:
            return
        time.sleep(random.uniform(0, 0.01))
    raise ConflictError(f"could not finish the multi-document write to {collection}: its documents kept changing")


def _unchanged(raw: Raw | None, step: dict[str, Any]) -> bool:
    if step["seq"] is None:
        return raw is None
    return raw is not None and raw.seq_no == step["seq"] and raw.primary_term == step["term"]


def recover(store: ElasticDocuments, *, grace: float | None = None) -> int:
    """Replay the intents of writers that did not finish (oldest first); returns how many."""
    store._refresh("docs")
    older = time.time() - (INTENT_GRACE if grace is None else grace)
    query = {"bool": {"filter": [{"term": {"collection": INTENT}}, {"range": {"created": {"lt": older}}}]}}
    replayed = 0
    for hits in store._scan("docs", query, sort=[{"created": "asc"}]):
        for h in hits:
            apply(store, h["_source"]["id"], h["_source"]["body"], replay=True)
            store._delete_quietly("docs", h["_id"])
            replayed += 1
    return replayed
