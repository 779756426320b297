"""Elasticsearch's side of ``contenthub store copy``: the bulk reads and writes a copy needs beyond the
``Store`` protocol (every collection, documents with their versions, counters overwritten)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from contenthub.store.elastic.client import MEDIA, _raise_failures
from contenthub.store.elastic.documents import ElasticDocuments
from contenthub.store.elastic.search import _decode_vector
from contenthub.store.es_docs import key_id as _key_id
from contenthub.store.es_docs import live as _live


class ElasticCopyIO(ElasticDocuments):
    # --- bulk export/import for `contenthub store copy` --------------------------------
    def collections(self) -> list[str]:
        """Collections holding documents (reserved ``_…`` bookkeeping collections left out)."""
        self._refresh("docs")
        return sorted(
            k[0]
            for k, _n, _sum in self._composite("docs", {"match_all": {}}, ("collection",), missing=False)
            if not k[0].startswith("_")
        )

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
        ops = [
            ({"index": {"_index": alias, "_id": _key_id(collection, d)}}, self._doc_source(collection, d, body, v))
            for d, body, v in rows
        ]
        _raise_failures(self._bulk(ops, refresh="wait_for"), "importing docs")

    def iter_assets(self, batch: int = 1000) -> Iterator[list[dict[str, Any]]]:
        self._refresh("assets")
        for hits in self._scan("assets", {"match_all": {}}, sort=[{"id": "asc"}], page=batch, source=["json"]):
            yield [json.loads(h["_source"]["json"]) for h in hits if "json" in h["_source"]]

    def iter_vectors(self, batch: int = 1000) -> Iterator[list[tuple[str, str, np.ndarray]]]:
        self._refresh("assets")
        query = {"exists": {"field": "vector_model"}}
        for hits in self._scan("assets", query, sort=[{"id": "asc"}], page=batch, source=["vector_model", "vec_b64"]):
            yield [
                (h["_id"], h["_source"]["vector_model"], _decode_vector(h["_source"]["vec_b64"]))
                for h in hits
                if h["_source"].get("vec_b64")
            ]

    def counter_collections(self) -> list[str]:
        self._refresh("counters")
        return sorted(
            k[0] for k, _n, _sum in self._composite("counters", {"match_all": {}}, ("collection",), missing=False)
        )

    def set_counters(self, collection: str, rows: dict[str, dict[str, float]]) -> None:
        """Overwrite whole counter docs (copying; not for live traffic, which adds)."""
        alias = self.schema.ensure("counters")
        ops = [
            (
                {"index": {"_index": alias, "_id": _key_id(collection, key)}},
                {"collection": collection, "key": key, "values": values, "applied": {}},
            )
            for key, values in rows.items()
        ]
        _raise_failures(self._bulk(ops), "importing counters")

    def iter_media(self) -> Iterator[dict[str, Any]]:
        for rows in self.iter_doc_versions(MEDIA):
            for _doc_id, body, _version in rows:
                yield body
