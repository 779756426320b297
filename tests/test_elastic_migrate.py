"""`contenthub store migrate`: an Elasticsearch store written with an older mapping moves to the current one
without losing a document, readers never stop, writers get a 503 while their index is copied."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from contenthub.cli import app
from contenthub.config import Settings
from contenthub.errors import StoreUnavailableError
from contenthub.store import elastic_schema, es_migrate
from contenthub.store.elastic import ElasticStore
from contenthub.store.es_docs import key_id
from contenthub.store.query import AssetFilter, EventQuery
from tests.es_support import es_url, require_module, unique_prefix
from tests.test_store_contract import event, make_asset, unit

pytestmark = pytest.mark.es
require_module()

DOCS_V1 = {
    **elastic_schema.MAPPINGS["docs"],
    "properties": {
        **{k: v for k, v in elastic_schema.MAPPINGS["docs"]["properties"].items() if k != "intent"},
        "tx": elastic_schema.KEYWORD,
        "staged": elastic_schema.UNINDEXED_OBJECT,
        "staged_fields": {"type": "flattened", "ignore_above": 1024},
        "staged_delete": {"type": "boolean"},
        "staged_version": {"type": "long"},
        "status": elastic_schema.KEYWORD,
    },
}


@pytest.fixture
def old_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ElasticStore]:
    """A store as the previous version wrote it: docs v1 (the staged-transaction fields), with a
    committed-but-not-rolled-forward transaction, an aborted one's placeholder and a pending one's marker
    left in it by a crash."""
    with monkeypatch.context() as m:
        m.setitem(elastic_schema.MAPPING_VERSION, "docs", 1)
        m.setitem(elastic_schema.MAPPINGS, "docs", DOCS_V1)
        store = ElasticStore(es_url(), Settings(data_dir=tmp_path, es_index_prefix=unique_prefix()))
        store.init()
    docs = store.schema.alias("docs")
    for i in range(30):
        store.put_doc("plans", f"p{i:02d}", {"n": i})
    store.put_doc("keys", "k1", {"role": "editor"})

    def raw(collection: str, doc_id: str, src: dict[str, Any]) -> None:
        store.es.index(
            index=docs, id=key_id(collection, doc_id), document={"collection": collection, "id": doc_id, **src}
        )

    raw("_tx", "done", {"version": 1, "status": "committed", "created": 0, "body": {}})
    raw("_tx", "dead", {"version": 1, "status": "pending", "created": 0, "body": {}})
    # committed: p00 gets its staged body, p01 is deleted, "fresh" appears
    raw(
        "plans",
        "p00",
        {
            "version": 1,
            "body": {"n": 0},
            "fields": {"n": "n:0"},
            "tx": "done",
            "staged": {"n": 100},
            "staged_fields": {"n": "n:100"},
            "staged_delete": False,
            "staged_version": 2,
        },
    )
    raw(
        "plans",
        "p01",
        {
            "version": 1,
            "body": {"n": 1},
            "fields": {"n": "n:1"},
            "tx": "done",
            "staged": None,
            "staged_delete": True,
            "staged_version": 0,
        },
    )
    raw(
        "plans",
        "fresh",
        {
            "version": 0,
            "tx": "done",
            "staged": {"n": 7},
            "staged_fields": {"n": "n:7"},
            "staged_delete": False,
            "staged_version": 1,
        },
    )
    # never committed: p02 keeps its body, "ghost" never existed
    raw(
        "plans",
        "p02",
        {
            "version": 1,
            "body": {"n": 2},
            "fields": {"n": "n:2"},
            "tx": "dead",
            "staged": {"n": 200},
            "staged_delete": False,
            "staged_version": 2,
        },
    )
    raw("plans", "ghost", {"version": 0, "tx": "dead", "staged": {"n": 9}, "staged_delete": False, "staged_version": 1})
    store.put_assets([make_asset("a1", "护眼台灯"), make_asset("a2", "咖啡")])
    store.put_vectors("m", {"a1": unit(1, 0, 0), "a2": unit(0, 1, 0)})
    store.add_events([event("e1", user="u1"), event("e2", user="u2")])
    store.add_to_counters("profile", [("u1", "n:click", 2.0)])
    yield store
    store.drop()
    store.close()


def test_migrate_moves_old_indices_and_keeps_every_document(
    old_store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = old_store.prefix
    assert [(s.kind, s.source, s.target) for s in es_migrate.pending(old_store)] == [
        ("docs", f"{prefix}-docs-v1", f"{prefix}-docs-v2")
    ]
    runner = CliRunner()
    r = runner.invoke(app, ["store", "migrate", es_url(), "--prefix", prefix, "--dry-run"])
    assert r.exit_code == 0 and f"would migrate docs: {prefix}-docs-v1 → {prefix}-docs-v2" in r.output, r.output

    reads: list[Any] = []
    errors: list[BaseException] = []
    refused: list[str] = []
    stop = threading.Event()

    other = ElasticStore(es_url(), Settings(data_dir=old_store.media_dir.parent / "r", es_index_prefix=prefix))

    def reader() -> None:  # a second API process reading all along
        while not stop.is_set():
            try:
                reads.append((other.get_doc("keys", "k1"), other.count_docs("plans")))
            except BaseException as exc:  # noqa: BLE001 - any failure to read is the finding
                errors.append(exc)

    real = es_migrate._migrate_one

    def while_copying(store: ElasticStore, step: es_migrate.Step, progress: Any, keep_old: bool) -> None:
        def progress_and_write(kind: str, done: int, total: int) -> None:
            progress(kind, done, total)
            try:
                old_store.put_doc("keys", "during", {"role": "x"})
            except StoreUnavailableError as exc:
                refused.append(str(exc))

        real(store, step, progress_and_write, keep_old)

    monkeypatch.setattr(es_migrate, "_migrate_one", while_copying)
    t = threading.Thread(target=reader)
    t.start()
    try:
        r = runner.invoke(app, ["store", "migrate", es_url(), "--prefix", prefix])
    finally:
        stop.set()
        t.join()
        other.close()
    assert r.exit_code == 0, r.output
    assert f"migrated docs: {prefix}-docs-v1 → {prefix}-docs-v2" in r.output
    assert not errors, errors[:3]
    assert reads and all(doc == {"role": "editor"} for doc, _ in reads), "reads never stopped"
    assert refused and "read-only" in refused[0], "a write during the copy is an outage (503), not a loss"

    assert old_store.schema.existing()[f"{prefix}-docs"] == [f"{prefix}-docs-v2"]
    assert not old_store.es.indices.exists(index=f"{prefix}-docs-v1")
    assert es_migrate.pending(old_store) == []
    plans = {f"p{i:02d}": {"n": i} for i in range(3, 30)} | {"p00": {"n": 100}, "p02": {"n": 2}, "fresh": {"n": 7}}
    assert old_store.get_docs("plans", [*plans, "p01", "ghost"]) == plans
    assert old_store.get_doc_version("plans", "p00") == ({"n": 100}, 2)
    assert old_store.count_docs("plans") == len(plans)
    assert old_store.count_docs("plans", where={"n": 100}) == 1, "the settled doc's fields are indexed"
    old_store._refresh("docs")
    assert old_store._count("docs", {"term": {"collection": "_tx"}}) == 0
    # the other kinds were current and did not move; everything still answers
    assert old_store.schema.existing()[f"{prefix}-assets"] == [f"{prefix}-assets-v2"]
    assert [h.id for h in old_store.knn_assets(unit(1, 0, 0), AssetFilter(), k=1)] == ["a1"]
    assert old_store.count_events(EventQuery()) == 2 and old_store.get_counters("profile", "u1") == {"n:click": 2.0}
    # and the store writes normally again
    old_store.put_docs_atomic("plans", {"p03": {"n": 33}}, delete=["p04"])
    assert old_store.get_doc("plans", "p03") == {"n": 33} and old_store.get_doc("plans", "p04") is None


def test_a_mapping_change_of_assets_keeps_vectors_and_search(
    old_store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later version adds a field to assets: the copy keeps every asset, its vector field and kNN."""
    mapping = {
        **elastic_schema.MAPPINGS["assets"],
        "properties": {**elastic_schema.MAPPINGS["assets"]["properties"], "brand": elastic_schema.KEYWORD},
    }
    monkeypatch.setitem(elastic_schema.MAPPING_VERSION, "assets", 3)
    monkeypatch.setitem(elastic_schema.MAPPINGS, "assets", mapping)
    seen: list[tuple[str, int, int]] = []
    steps = es_migrate.migrate(old_store, progress=lambda k, d, t: seen.append((k, d, t)))
    assert sorted(s.kind for s in steps) == ["assets", "docs"]
    assert ("assets", 2, 2) in seen
    prefix = old_store.prefix
    props = old_store.es.indices.get_mapping(index=f"{prefix}-assets")[f"{prefix}-assets-v3"]["mappings"]["properties"]
    assert props["vec_3"]["dims"] == 3 and "brand" in props
    assert old_store.get_asset("a2")["title"] == "咖啡"
    assert [h.id for h in old_store.knn_assets(unit(0, 1, 0), AssetFilter(), k=1)] == ["a2"]
    assert [h.id for h in old_store.text_search_assets("咖啡", AssetFilter())] == ["a2"]
    _, vecs = old_store.get_vectors(["a1"])
    assert vecs.shape == (1, 3)


def test_a_run_that_died_half_way_is_started_over(old_store: ElasticStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real_bulk = old_store.es.bulk

    def dies(**kw: Any) -> Any:
        real_bulk(**kw)
        raise SystemExit("killed during the copy")

    monkeypatch.setattr(old_store.es, "bulk", dies)
    with pytest.raises(SystemExit):
        es_migrate.migrate(old_store)
    monkeypatch.undo()
    prefix = old_store.prefix
    assert old_store.schema.existing()[f"{prefix}-docs"] == [f"{prefix}-docs-v1"], "readers still on the old index"
    assert old_store.get_doc("keys", "k1") == {"role": "editor"}
    steps = es_migrate.migrate(old_store)
    assert [s.kind for s in steps] == ["docs"] and "replaced" in steps[0].notes[0]
    assert old_store.get_doc("keys", "k1") == {"role": "editor"} and old_store.count_docs("plans") == 30


ASSETS_V1 = {
    **elastic_schema.MAPPINGS["assets"],
    "properties": {
        **{k: v for k, v in elastic_schema.MAPPINGS["assets"]["properties"].items() if k != "json_b64"},
        "vec_b64": elastic_schema.STORED_ONLY,
    },
}


def test_assets_v1_move_to_the_catalog_columns(tmp_path: Path) -> None:
    """Assets as v1 wrote them (``vec_b64`` in the source only, no ``json_b64``): the catalog's whole-library
    read answers the same before the migration (from the source), after it (from doc values), and for an
    asset a process of the old version writes into the new index meanwhile (no ``json_b64``)."""
    flt = AssetFilter(statuses=("approved",))
    settings = Settings(data_dir=tmp_path, es_index_prefix=unique_prefix())
    with pytest.MonkeyPatch.context() as m:
        m.setitem(elastic_schema.MAPPING_VERSION, "assets", 1)
        m.setitem(elastic_schema.MAPPINGS, "assets", ASSETS_V1)
        store = ElasticStore(es_url(), settings)
        try:
            store.init()
            store.put_assets(
                [make_asset(f"a{i}", f"资产{i}", created_at=f"2025-03-0{i + 1}T08:00:00Z") for i in range(4)]
                + [make_asset("draft", "草稿", status="draft")],
                model_id="m",
                vectors={"a0": unit(1, 0, 0), "a1": unit(0, 1, 0), "draft": unit(0, 0, 1)},
            )
            alias = store.schema.alias("assets")
            for hits in store._scan("assets", {"match_all": {}}, source=True):  # as v1 wrote them
                for h in hits:
                    src = {k: v for k, v in h["_source"].items() if k != "json_b64"}
                    store.es.index(index=alias, id=h["_id"], document=src)
            store._wrote("assets")
            before = store.assets_with_vectors(flt)
        finally:
            store.close()
    store = ElasticStore(es_url(), settings)
    try:
        assert [s.kind for s in es_migrate.pending(store)] == ["assets"]
        es_migrate.migrate(store)
        assert store.schema.serving_version("assets") == 2
        after = store.assets_with_vectors(flt)
        assert sorted(before[0]) == ["a0", "a1", "a2", "a3"] and before[1] == ["a0", "a1"]
        assert after[0] == before[0] and after[1] == before[1] and np.array_equal(after[2], before[2])
        late = make_asset("a4", "旧版本写的")
        store.es.index(
            index=store.schema.alias("assets"),
            id="a4",
            document={"id": "a4", "json": json.dumps(late), "status": "approved"},
        )
        store._wrote("assets")
        docs, ids, _ = store.assets_with_vectors(flt)
        assert docs["a4"] == late and ids == ["a0", "a1"]
    finally:
        store.drop()
        store.close()
