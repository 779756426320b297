"""Elasticsearch documents: the generic collections (``*_doc`` calls) in the ``docs`` index, one document
per (collection, id) with its version for compare-and-set; several at once through store/es_intents.py."""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from elasticsearch import ApiError
from elasticsearch import NotFoundError as ESNotFound

from contenthub.store import elastic_query as eq
from contenthub.store import es_intents
from contenthub.store.columns import doc_columns_of
from contenthub.store.elastic.client import MAX_RETRIES, RECOVERY_EVERY, ElasticBase
from contenthub.store.es_docs import StoreError, write_failure, write_op
from contenthub.store.es_docs import key_id as _key_id
from contenthub.store.es_docs import live as _live
from contenthub.store.es_docs import live_version as _live_version
from contenthub.store.versions import version_conflict
from contenthub.timeutil import to_iso, utcnow


class ElasticDocuments(ElasticBase, ABC):
    # --- recovery ----------------------------------------------------------------------
    @abstractmethod
    def _recover_counter_batches(self) -> None:
        """Finish the counter batches a crashed process left (store/elastic/events.py)."""

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

    # --- generic documents -------------------------------------------------------------
    def _doc_source(
        self, collection: str, doc_id: str, doc: dict[str, Any], version: int, intent: str | None = None
    ) -> dict[str, Any]:
        src = {
            "collection": collection,
            "id": doc_id,
            "version": version,
            "updated_at": to_iso(utcnow()),
            "body": doc,
            "fields": eq.scalar_fields(doc),
        }
        if intent is not None:
            src["intent"] = intent  # which multi-document write put it there (store/es_intents.py)
        return src

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
            raise version_conflict(collection, doc_id, self._current_version(collection, doc_id), 0)
        for _ignored in range(MAX_RETRIES):
            raw = self._get("docs", did)
            current = _live_version(raw)
            if expected_version is not None and expected_version != current:
                raise version_conflict(collection, doc_id, current, expected_version)
            source = self._doc_source(collection, doc_id, doc, current + 1)
            try:
                if raw is None:
                    self.es.create(index=self._alias("docs"), id=did, document=source)
                else:
                    self.es.index(
                        index=self._alias("docs"),
                        id=did,
                        document=source,
                        if_seq_no=raw.seq_no,
                        if_primary_term=raw.primary_term,
                    )
                return current + 1
            except ApiError as exc:
                if exc.meta.status != 409:
                    raise
                if expected_version is not None:
                    raise version_conflict(
                        collection, doc_id, self._current_version(collection, doc_id), expected_version
                    ) from None
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

    def get_docs_versioned(self, collection: str, doc_ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
        ids = {_key_id(collection, d): d for d in doc_ids}
        out: dict[str, tuple[dict[str, Any], int]] = {}
        for did, raw in self._mget("docs", list(ids)).items():
            found = _live(raw.src)
            if found is not None:
                out[ids[did]] = found
        return out

    def put_docs_if(self, collection: str, docs: Mapping[str, tuple[dict[str, Any], int | None]]) -> set[str]:
        """One real-time mget of the docs that may exist (for their seq_no), then one bulk of ``create``
        (version 0) and ``index`` with ``if_seq_no`` actions: a 409 item is a writer that came first."""
        if not docs:
            return set()
        self.schema.ensure("docs")
        self._wrote("docs")
        dids = {doc_id: _key_id(collection, doc_id) for doc_id in docs}
        maybe = [dids[d] for d, (_doc, expected) in docs.items() if expected != 0]
        raws = self._mget("docs", maybe) if maybe else {}
        missed: set[str] = set()
        ops: list[tuple[dict[str, Any], dict[str, Any]]] = []
        order: list[str] = []
        for doc_id, (doc, expected) in docs.items():
            raw = raws.get(dids[doc_id])
            current = _live_version(raw)
            if expected is not None and expected != current:
                missed.add(doc_id)
                continue
            ops.append(
                write_op(self._alias("docs"), dids[doc_id], self._doc_source(collection, doc_id, doc, current + 1), raw)
            )
            order.append(doc_id)
        results = self._bulk(ops)
        failed = [r for _op, r in results if r.get("status", 500) >= 300 and r.get("status") != 409]
        if failed:
            raise write_failure(
                f"writing {collection}: {len(failed)} failed, first: {failed[0].get('error')}",
                [r.get("status", 500) for r in failed],
            )
        missed.update(doc_id for doc_id, (_op, r) in zip(order, results, strict=True) if r.get("status") == 409)
        return missed

    def doc_versions(self, collection: str, doc_ids: list[str]) -> dict[str, int]:
        """One real-time mget of the version fields (a live document has a version of 1 or more)."""
        ids = {_key_id(collection, d): d for d in doc_ids}
        raws = self._mget("docs", list(ids), source_includes=["version", "body"])
        return {ids[did]: version for did, raw in raws.items() if (version := _live_version(raw)) > 0}

    def doc_field(self, collection: str, doc_ids: list[str], field: str) -> dict[str, Any]:
        """``get_docs`` narrowed to one field: a document's body is read whole (with its version) to tell
        a live document from a deleted one."""
        return {did: doc.get(field) for did, doc in self.get_docs(collection, doc_ids).items()}

    def _list_query(self, collection: str, where: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "bool": {
                "filter": [
                    {"term": {"collection": collection}},
                    {"range": {"version": {"gte": 1}}},
                    *eq.where_clauses(where),
                ]
            }
        }

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
                self.es.delete(
                    index=self._alias("docs"), id=did, if_seq_no=raw.seq_no, if_primary_term=raw.primary_term
                )
            except ESNotFound:
                return False
            except ApiError as exc:
                if exc.meta.status != 409:
                    raise
                continue
            return _live(raw.src) is not None
        raise StoreError(f"gave up deleting {collection} '{doc_id}': too many concurrent writers")

    # --- multi-document writes ---------------------------------------------------------
    def put_docs_atomic(self, collection: str, docs: dict[str, dict[str, Any]], delete: Sequence[str] = ()) -> None:
        """Elasticsearch has no multi-document transaction; this is an intent document (an outbox) and
        ordered, re-playable single-document writes — see store/es_intents.py for the protocol and why
        each caller is safe with it."""
        self.schema.ensure("docs")
        self._maybe_recover()
        self._wrote("docs")
        es_intents.write(self, collection, docs, list(delete))

    def doc_field_columns(self, collection: str, fields: tuple[str, ...]) -> dict[str, list[str]]:
        self._refresh("docs")
        docs = (
            (h["_source"]["id"], h["_source"].get("body") or {})
            for hits in self._scan(
                "docs", self._list_query(collection, None), source=["id", *(f"body.{f}" for f in fields)]
            )
            for h in hits
        )
        return doc_columns_of(docs, fields)
