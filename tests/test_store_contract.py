"""The store contract: every behaviour domain code relies on, run against SQLite and Elasticsearch.

The Elasticsearch half needs a server (see tests/es_support.py); each of its tests uses its own index
prefix and deletes its indices afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contenthub.config import Settings
from contenthub.errors import ConflictError
from contenthub.store.base import Store
from contenthub.store.query import AssetFilter, EventQuery
from contenthub.store.sqlite import SQLiteStore
from contenthub.timeutil import to_iso
from tests.es_support import es_url, unique_prefix

BACKENDS = ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.es)]
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def open_test_store(kind: str, tmp_path: Path) -> Store:
    settings = Settings(data_dir=tmp_path / "data", es_index_prefix=unique_prefix())
    if kind == "sqlite":
        return SQLiteStore(settings.data_dir / "contenthub.db", settings.media_dir)
    from contenthub.store.elastic import ElasticStore

    return ElasticStore(es_url(), settings)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_test_store(request.param, tmp_path)
    yield s
    if s.backend == "elasticsearch":
        s.drop()  # type: ignore[attr-defined]
    s.close()


@pytest.fixture
def es_store(tmp_path: Path) -> Iterator[Any]:
    s = open_test_store("elasticsearch", tmp_path)
    yield s
    s.drop()
    s.close()


def iso(minutes: float = 0) -> str:
    return to_iso(T0 + timedelta(minutes=minutes))


def make_asset(aid: str, title: str, **kw: Any) -> dict[str, Any]:
    doc = {
        "id": aid,
        "title": title,
        "body": "",
        "kind": "article",
        "content_type": "educational",
        "scenes": ["education"],
        "channels": ["wecom_1v1"],
        "tags": [],
        "stages": [],
        "status": "approved",
        "valid_from": None,
        "valid_until": None,
        "created_at": iso(),
        "updated_at": iso(),
        "version": 1,
    }
    doc.update(kw)
    return doc


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def event(
    eid: str,
    etype: str = "click",
    user: str | None = "u1",
    asset: str | None = "a1",
    minutes: float = 0,
    channel: str = "wecom_1v1",
    **kw: Any,
) -> dict[str, Any]:
    return {
        "id": eid,
        "type": etype,
        "user_id": user,
        "asset_id": asset,
        "channel": channel,
        "group_id": kw.pop("group_id", None),
        "recommendation_id": None,
        "ts": iso(minutes),
        "value": kw.pop("value", None),
        **kw,
    }


def count_deriver(calls: list[list[str]]):
    """Counts events per user and type, and records which events it was asked about."""

    def derive(new: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, float]]]:
        calls.append([e["id"] for e in new])
        counts: dict[str, dict[str, float]] = {}
        for e in new:
            if e.get("user_id"):
                fields = counts.setdefault(e["user_id"], {})
                fields[f"n:{e['type']}"] = fields.get(f"n:{e['type']}", 0.0) + 1.0
        return [("profile", user, fields) for user, fields in sorted(counts.items())]

    return derive


# --- documents ------------------------------------------------------------------------------------------


def test_put_get_versions(store: Store) -> None:
    assert store.get_doc("keys", "k1") is None and store.get_doc_version("keys", "k1") is None
    assert store.put_doc("keys", "k1", {"name": "a", "n": 1}) == 1
    assert store.put_doc("keys", "k1", {"name": "b", "n": 2}) == 2
    assert store.get_doc("keys", "k1") == {"name": "b", "n": 2}
    assert store.get_doc_version("keys", "k1") == ({"name": "b", "n": 2}, 2)
    assert store.get_doc("other", "k1") is None, "collections are separate namespaces"
    store.put_doc("keys", "cap|u1|wecom_1v1|2025-03-01|0", {"nested": {"a": [1, 2]}, "zh": "护眼"})
    assert store.get_doc("keys", "cap|u1|wecom_1v1|2025-03-01|0") == {"nested": {"a": [1, 2]}, "zh": "护眼"}
    long_id = "x" * 600
    store.put_doc("keys", long_id, {"v": 1})
    assert store.get_doc("keys", long_id) == {"v": 1}
    assert store.get_docs("keys", ["k1", "nope", long_id]) == {"k1": {"name": "b", "n": 2}, long_id: {"v": 1}}


def test_doc_versions_in_one_read(store: Store) -> None:
    store.put_doc("marks", "a", {"n": 1})
    store.put_doc("marks", "a", {"n": 2})
    store.put_doc("marks", "b", {"n": 1})
    store.put_doc("other", "c", {"n": 1})
    store.delete_doc("marks", "b")
    assert store.doc_versions("marks", ["a", "b", "c", "zz"]) == {"a": 2}
    assert store.doc_versions("marks", []) == {}


def test_expected_version_guards_lost_updates(store: Store) -> None:
    assert store.put_doc("exp", "e", {"v": 1}, expected_version=0) == 1
    with pytest.raises(ConflictError) as err:
        store.put_doc("exp", "e", {"v": 2}, expected_version=0)
    assert err.value.extra["current_version"] == 1
    with pytest.raises(ConflictError):
        store.put_doc("exp", "e", {"v": 2}, expected_version=5)
    assert store.put_doc("exp", "e", {"v": 2}, expected_version=1) == 2
    assert store.get_doc("exp", "e") == {"v": 2}
    with pytest.raises(ConflictError):
        store.put_doc("exp", "missing", {"v": 1}, expected_version=3)
    assert store.get_doc("exp", "missing") is None


def test_create_is_atomic_under_concurrency(store: Store) -> None:
    """Cap reservations: of many concurrent creates of one id exactly one wins."""
    winners: list[int] = []
    barrier = threading.Barrier(12)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.put_doc("reservations", "cap|u1|wecom_1v1|day|0", {"by": i}, expected_version=0)
            winners.append(i)
        except ConflictError:
            pass

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert store.get_doc("reservations", "cap|u1|wecom_1v1|day|0") == {"by": winners[0]}


def test_compare_and_set_under_concurrency(store: Store) -> None:
    """Read-version-write loops from many threads lose no increment."""
    store.put_doc("ctr", "c", {"n": 0})

    def bump() -> None:
        for _ in range(5):
            while True:
                doc, version = store.get_doc_version("ctr", "c")  # type: ignore[misc]
                try:
                    store.put_doc("ctr", "c", {"n": doc["n"] + 1}, expected_version=version)
                    break
                except ConflictError:
                    continue

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get_doc_version("ctr", "c") == ({"n": 20}, 21)


def test_list_and_count_with_where(store: Store) -> None:
    store.put_doc("plans", "b", {"kind": "head", "week": "2025-03-03", "n": 2, "on": True})
    store.put_doc("plans", "a", {"kind": "head", "week": "2025-03-10", "n": 1, "on": False, "gone": None})
    store.put_doc("plans", "c", {"kind": "version", "week": "2025-03-03", "n": 1.0, "on": True, "note": "x" * 2000})
    store.put_doc("plans", "d", {"kind": "version", "week": "2025-03-03", "n": "1"})
    store.put_doc("elsewhere", "z", {"kind": "head"})

    def ids(docs: list[dict[str, Any]]) -> list[str]:
        return [d.get("week", "") + d["kind"] + str(d["n"]) for d in docs]

    assert ids(store.list_docs("plans")) == [
        "2025-03-10head1",
        "2025-03-03head2",
        "2025-03-03version1.0",
        "2025-03-03version1",
    ], "ordered by id"
    assert len(store.list_docs("plans", where={"kind": "head"})) == 2
    assert store.count_docs("plans", where={"kind": "head"}) == 2
    assert store.count_docs("plans") == 4 and store.count_docs("nothing") == 0
    assert ids(store.list_docs("plans", where={"week": "2025-03-03", "kind": "version"})) == [
        "2025-03-03version1.0",
        "2025-03-03version1",
    ]
    assert len(store.list_docs("plans", where={"n": 1})) == 2, "1 and 1.0 are equal, the string '1' is not"
    assert len(store.list_docs("plans", where={"n": "1"})) == 1
    assert len(store.list_docs("plans", where={"on": True})) == 2
    assert len(store.list_docs("plans", where={"on": False})) == 1
    assert store.count_docs("plans", where={"gone": None}) == 4, "missing and null both match None"
    assert store.count_docs("plans", where={"on": None}) == 1
    assert len(store.list_docs("plans", limit=2)) == 2
    assert ids(store.list_docs("plans", limit=2, offset=1)) == ["2025-03-03head2", "2025-03-03version1.0"]
    assert store.list_docs("plans", offset=10) == []
    with pytest.raises(ValueError):
        store.list_docs("plans", where={"a b": 1})


def test_list_sees_writes_at_once(store: Store) -> None:
    for i in range(30):
        store.put_doc("exposures", f"e{i:02d}", {"experiment": "x", "i": i})
    assert store.count_docs("exposures", where={"experiment": "x"}) == 30
    assert store.delete_doc("exposures", "e00") is True
    assert store.delete_doc("exposures", "e00") is False
    assert store.count_docs("exposures") == 29
    assert [d["i"] for d in store.list_docs("exposures", limit=3)] == [1, 2, 3]


def test_put_docs_atomic_puts_and_deletes(store: Store) -> None:
    store.put_doc("plans", "head", {"v": 1})
    store.put_doc("plans", "old1", {"v": 1})
    store.put_doc("plans", "again", {"v": 1})
    store.put_doc("plans", "again", {"v": 2})
    store.put_docs_atomic(
        "plans", {"head": {"v": 2}, "new": {"v": 2}, "again": {"v": 3}}, delete=["old1", "never-there", "again"]
    )
    assert store.get_doc_version("plans", "head") == ({"v": 2}, 2)
    assert store.get_doc_version("plans", "new") == ({"v": 2}, 1)
    assert store.get_doc_version("plans", "again") == ({"v": 3}, 1), "deleted then written: a new document"
    assert store.get_doc("plans", "old1") is None
    assert store.count_docs("plans") == 3
    store.put_docs_atomic("plans", {}, delete=[])
    assert store.count_docs("plans", where={"v": 2}) == 2


def test_put_docs_atomic_is_never_seen_out_of_order(store: Store) -> None:
    """A reader polling the two docs of a write never sees the later one ahead of the earlier one.

    SQLite shows both at once (they never disagree); Elasticsearch applies them in order (store/es_intents.py),
    so a reader may see a prefix — the first doc new, the second not yet — and never the reverse. The
    reader reads the second doc before the first, so an ordered writer can never look reversed to it."""
    store.put_docs_atomic("plans", {"first": {"name": "first", "gen": 0}, "second": {"name": "second", "gen": 0}})
    stop = threading.Event()
    mixed: list[tuple[Any, Any]] = []
    listed: list[dict[str, int]] = []
    strict = store.backend == "sqlite"

    def read() -> None:
        while not stop.is_set():
            got = store.get_docs("plans", ["second", "first"])
            first, second = got["first"]["gen"], got["second"]["gen"]
            if second > first or (strict and second != first):
                mixed.append((got["first"], got["second"]))
            listed.append({d["name"]: d["gen"] for d in store.list_docs("plans")})

    reader = threading.Thread(target=read)
    reader.start()
    for gen in range(1, 9):
        store.put_docs_atomic(
            "plans", {"first": {"name": "first", "gen": gen}, "second": {"name": "second", "gen": gen}}
        )
    stop.set()
    reader.join()
    assert not mixed
    for seen in listed:
        if len(seen) == 2:
            assert seen["second"] <= seen["first"] and (not strict or seen["second"] == seen["first"]), seen
    assert store.get_docs("plans", ["first", "second"]) == {
        "first": {"name": "first", "gen": 8},
        "second": {"name": "second", "gen": 8},
    }


# --- assets ---------------------------------------------------------------------------------------------


@pytest.fixture
def library(store: Store) -> Store:
    store.put_assets(
        [
            make_asset(
                "eye1",
                "护眼小课堂：20-20-20 法则",
                body="每用眼20分钟，看远处20秒。",
                tags=["护眼", "科普"],
                created_at=iso(1),
                updated_at=iso(10),
            ),
            make_asset(
                "eye2",
                "眼睛干涩怎么办",
                body="三个护眼习惯，办公室必看。",
                tags=["习惯"],
                scenes=["tutorial"],
                content_type="practical",
                created_at=iso(2),
                updated_at=iso(9),
            ),
            make_asset(
                "lamp",
                "台灯怎么选：色温与照度",
                body="眼睛要爱护，灯光别太亮。",
                tags=["台灯"],
                kind="video",
                channels=["moments", "wecom_1v1"],
                created_at=iso(3),
                updated_at=iso(8),
            ),
            make_asset(
                "cof1",
                "Cold brew coffee at home",
                body="Three ways to drink cold brew.",
                tags=["coffee"],
                scenes=["seeding"],
                channels=["moments"],
                stages=["new"],
                created_at=iso(4),
                updated_at=iso(7),
            ),
            make_asset(
                "cpn1",
                "新人专享：首单立减20元",
                body="限时3天",
                kind="coupon",
                content_type="promotional",
                scenes=["first_order"],
                tags=["优惠券"],
                stages=["new", "active"],
                valid_from=iso(60),
                valid_until=iso(120),
                created_at=iso(5),
                updated_at=iso(6),
            ),
            make_asset(
                "old1",
                "Archived coffee guide",
                body="coffee",
                status="archived",
                valid_until=iso(30),
                created_at=iso(0),
                updated_at=iso(0),
            ),
        ]
    )
    return store


def ids_of(page: Any) -> list[str]:
    return [h.id for h in (page.hits if hasattr(page, "hits") else page)]


def test_assets_crud(library: Store) -> None:
    a = library.get_asset("eye1")
    assert a is not None and a["title"] == "护眼小课堂：20-20-20 法则" and a["tags"] == ["护眼", "科普"]
    assert library.get_asset("nope") is None
    assert set(library.get_assets(["eye1", "cof1", "nope", "eye1"])) == {"eye1", "cof1"}
    library.put_asset({**a, "tags": ["护眼"], "valid_until": None, "version": 2, "updated_at": iso(11)})
    again = library.get_asset("eye1")
    assert again["tags"] == ["护眼"] and again["version"] == 2
    assert library.count_assets(AssetFilter()) == 6
    assert library.count_assets(AssetFilter(tags=("科普",))) == 0, "an edit replaces the facets"


def test_filters_and_facets(library: Store) -> None:
    f = library.count_assets
    assert f(AssetFilter(statuses=("approved",))) == 5
    assert f(AssetFilter(channels=("moments",))) == 2
    assert f(AssetFilter(channels=("moments",), kinds=("video",))) == 1, "AND across facets"
    assert f(AssetFilter(scenes=("tutorial", "seeding"))) == 2, "OR within one facet"
    assert f(AssetFilter(stages=("new",))) == 2 and f(AssetFilter(tags=("护眼", "台灯"))) == 2
    assert f(AssetFilter(content_types=("promotional",))) == 1
    assert f(AssetFilter(ids=())) == 0 and f(AssetFilter(ids=("eye1", "nope"))) == 1
    assert f(AssetFilter(exclude_ids=("eye1", "eye2"))) == 4
    page = library.filter_assets(AssetFilter(statuses=("approved",)), sort="updated_desc", limit=2, offset=1)
    assert ids_of(page) == ["eye2", "lamp"] and page.total == 5
    assert ids_of(library.filter_assets(AssetFilter(), sort="created_desc", limit=3)) == ["cpn1", "cof1", "lamp"]
    assert ids_of(library.filter_assets(AssetFilter(), sort="title_asc", limit=2)) == ["old1", "cof1"]
    assert library.filter_assets(AssetFilter(), limit=5, offset=100).hits == []
    assert library.asset_facet_counts("channels", AssetFilter()) == {"wecom_1v1": 5, "moments": 2}
    assert library.asset_facet_counts("stages", AssetFilter(statuses=("approved",))) == {"new": 2, "active": 1}
    assert library.asset_facet_counts("kind", AssetFilter(channels=("wecom_1v1",))) == {
        "article": 3,
        "video": 1,
        "coupon": 1,
    }
    with pytest.raises(ValueError):
        library.asset_facet_counts("colour", AssetFilter())


def test_validity_windows(library: Store) -> None:
    def valid(minutes: float) -> set[str]:
        return set(ids_of(library.filter_assets(AssetFilter(valid_at=T0 + timedelta(minutes=minutes)), limit=50)))

    always = {"eye1", "eye2", "lamp", "cof1"}
    assert valid(10) == always | {"old1"}
    assert valid(30) == always, "valid_until is exclusive"
    assert valid(60) == always | {"cpn1"}, "valid_from is inclusive"
    assert valid(119) == always | {"cpn1"} and valid(120) == always
    naive = datetime(2025, 3, 1, 9, 30)  # taken as UTC: 90 minutes after T0
    assert "cpn1" in set(ids_of(library.filter_assets(AssetFilter(valid_at=naive), limit=50)))


def test_text_search_chinese(library: Store) -> None:
    hits = ids_of(library.text_search_assets("护眼", AssetFilter()))
    assert set(hits) == {"eye1", "eye2"}, "爱护 … 眼睛 holds both characters but not the word"
    assert hits[0] == "eye1", "a title match outranks a body match"
    assert ids_of(library.text_search_assets("护眼 习惯", AssetFilter())) == ["eye2"], "every term must occur"
    assert ids_of(library.text_search_assets("护眼", AssetFilter(scenes=("tutorial",)))) == ["eye2"]
    assert ids_of(library.text_search_assets("优惠券", AssetFilter())) == ["cpn1"], "tags are searched"
    assert ids_of(library.text_search_assets("首单立减", AssetFilter())) == ["cpn1"]
    assert library.text_search_assets("  ", AssetFilter()) == []
    assert library.text_search_assets("咖啡机", AssetFilter()) == []


def test_text_search_english(library: Store) -> None:
    assert set(ids_of(library.text_search_assets("coffee", AssetFilter()))) == {"cof1", "old1"}
    assert ids_of(library.text_search_assets("COFFEE", AssetFilter(statuses=("approved",)))) == ["cof1"]
    assert ids_of(library.text_search_assets("cold brew", AssetFilter())) == ["cof1"]
    assert ids_of(library.text_search_assets("20-20-20", AssetFilter())) == ["eye1"]
    hits = library.text_search_assets("coffee", AssetFilter(), limit=1)
    assert len(hits) == 1 and hits[0].score > 0


# --- vectors --------------------------------------------------------------------------------------------


def test_vectors_models_and_missing(library: Store) -> None:
    library.put_vectors("m1", {"eye1": unit(1, 0, 0, 0), "eye2": unit(1, 1, 0, 0), "lamp": unit(0, 1, 0, 0)})
    ids, mat = library.get_vectors(["lamp", "nope", "eye1"])
    assert ids == ["lamp", "eye1"] and mat.shape == (2, 4) and mat.dtype == np.float32
    assert np.allclose(mat[1], unit(1, 0, 0, 0))
    assert library.vector_model_ids() == {"m1": 3}
    assert library.assets_missing_vectors("m1") == ["cof1", "cpn1", "old1"]
    assert library.assets_missing_vectors("m1", limit=1) == ["cof1"]
    library.put_vectors("m2", {"eye1": unit(0, 0, 1, 0)})
    assert library.vector_model_ids() == {"m1": 2, "m2": 1}
    assert library.assets_missing_vectors("m2") == ["cof1", "cpn1", "eye2", "lamp", "old1"]
    assert np.allclose(library.get_vectors(["eye1"])[1][0], unit(0, 0, 1, 0))
    library.put_asset({**library.get_asset("eye1"), "title": "护眼 v2"})  # type: ignore[dict-item]
    assert library.get_vectors(["eye1"])[0] == ["eye1"], "editing an asset keeps its vector"


def test_assets_with_vectors_is_filter_then_get(library: Store) -> None:
    """The catalog's one-pass read gives what filter_assets + get_assets + get_vectors give: every asset the
    filter keeps, and those with a vector in ascending id order."""
    library.put_vectors("m1", {"lamp": unit(0, 1, 0, 0), "eye1": unit(1, 0, 0, 0), "old1": unit(0, 0, 1, 0)})
    for flt in (AssetFilter(statuses=("approved",)), AssetFilter(), AssetFilter(scenes=("tutorial",))):
        docs, ids, mat = library.assets_with_vectors(flt)
        kept = sorted(h.id for h in library.filter_assets(flt, limit=100).hits)
        assert sorted(docs) == kept and docs == library.get_assets(kept)
        want_ids, want = library.get_vectors(kept)
        assert ids == want_ids and np.allclose(mat, want)
    docs, ids, mat = library.assets_with_vectors(AssetFilter(ids=("eye2",)))
    assert list(docs) == ["eye2"] and ids == [] and mat.shape[0] == 0
    docs, ids, mat = library.assets_with_vectors(AssetFilter(ids=("nope",)))
    assert docs == {} and ids == [] and mat.shape[0] == 0


def test_assets_stored_with_their_vectors(store: Store) -> None:
    """One write for assets and vectors: each asset is found by kNN with its vector, a vector of another
    dimension is replaced, an asset sent without a vector keeps its own, and a vector of a stored asset
    not in the batch is stored as put_vectors would."""
    store.put_assets([make_asset("v1", "one"), make_asset("v2", "two"), make_asset("v3", "three")])
    store.put_vectors("m0", {"v2": np.array([1.0, 0.0, 0.0], dtype=np.float32)})
    store.put_assets(
        [make_asset("v1", "one again"), make_asset("v2", "two again")],
        model_id="m1",
        vectors={"v1": unit(1, 0, 0, 0), "v2": unit(0, 1, 0, 0), "v3": unit(0, 0, 1, 0)},
    )
    assert store.get_asset("v1")["title"] == "one again"  # type: ignore[index]
    ids, mat = store.get_vectors(["v1", "v2", "v3"])
    assert ids == ["v1", "v2", "v3"] and mat.shape == (3, 4)
    assert np.allclose(mat[1], unit(0, 1, 0, 0))
    assert store.vector_model_ids() == {"m1": 3}, "the 3-d vector of v2 was replaced"
    assert ids_of(store.knn_assets(unit(0, 1, 0, 0), AssetFilter(), k=1)) == ["v2"]
    assert ids_of(store.knn_assets(unit(0, 0, 1, 0), AssetFilter(), k=1)) == ["v3"]
    store.put_assets([make_asset("v1", "one, third edit")], model_id="m1", vectors={})
    assert store.get_vectors(["v1"])[0] == ["v1"], "an asset stored without a vector keeps its own"
    with pytest.raises(ValueError, match="model_id"):
        store.put_assets([make_asset("v4", "four")], vectors={"v4": unit(1, 0, 0, 0)})


def test_knn_with_filters(library: Store) -> None:
    library.put_vectors(
        "m1",
        {
            "eye1": unit(1, 0, 0, 0),
            "eye2": unit(1, 1, 0, 0),
            "lamp": unit(0.1, 1, 0, 0),
            "cof1": unit(0, 0, 1, 0),
            "cpn1": unit(0, 0, 1, 1),
            "old1": unit(0, 0, 0, 1),
        },
    )
    hits = library.knn_assets(unit(1, 0, 0, 0), AssetFilter(), k=3)
    assert ids_of(hits) == ["eye1", "eye2", "lamp"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-4) and hits[1].score == pytest.approx(0.7071, abs=1e-3)
    assert hits[2].score == pytest.approx(0.0995, abs=1e-3)
    assert ids_of(library.knn_assets(unit(1, 0, 0, 0), AssetFilter(kinds=("video",)), k=3)) == ["lamp"]
    assert ids_of(library.knn_assets(unit(1, 0, 0, 0), AssetFilter(exclude_ids=("eye1",)), k=1)) == ["eye2"]
    valid_now = AssetFilter(statuses=("approved",), valid_at=T0 + timedelta(minutes=5))
    assert ids_of(library.knn_assets(unit(0, 0, 1, 1), AssetFilter(), k=1)) == ["cpn1"]
    assert ids_of(library.knn_assets(unit(0, 0, 1, 1), valid_now, k=1)) == ["cof1"], "cpn1 is not valid yet"
    assert ids_of(library.knn_assets(unit(0, 0, 0, 1), AssetFilter(ids=("cpn1", "eye1")), k=5)) == ["cpn1", "eye1"]
    assert library.knn_assets(unit(1, 0, 0, 0), AssetFilter(ids=()), k=3) == []


def test_sqlite_selective_knn_is_exact_among_the_filtered_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filter that keeps few of the nearest candidates falls back to an exact search among the rows SQL keeps
    (matched by integer rowid), including a vector that was stored before its asset."""
    from contenthub.store.sqlite import search as sqlite_store

    monkeypatch.setattr(sqlite_store, "KNN_CANDIDATES", 1)
    store = open_test_store("sqlite", tmp_path)
    try:
        rng = np.random.default_rng(0)
        store.put_vectors("m1", {"late": unit(1, 0, 0, 0)})  # no asset yet
        store.put_assets(
            [make_asset(f"a{i}", f"t{i}") for i in range(40)]
            + [make_asset("vid", "v", kind="video"), make_asset("late", "l", kind="video")]
        )
        store.put_vectors("m1", {**{f"a{i}": unit(*rng.normal(size=4)) for i in range(40)}, "vid": unit(0.5, 1, 0, 0)})
        hits = store.knn_assets(unit(1, 0.1, 0, 0), AssetFilter(kinds=("video",)), k=2)
        assert ids_of(hits) == ["late", "vid"] and hits[0].score == pytest.approx(0.995, abs=1e-3)
        assert store.knn_assets(unit(1, 0, 0, 0), AssetFilter(kinds=("coupon",)), k=2) == []
    finally:
        store.close()


# --- events ---------------------------------------------------------------------------------------------


def test_events_idempotent_and_derived_once(store: Store) -> None:
    calls: list[list[str]] = []
    derive = count_deriver(calls)
    batch = [event("e1"), event("e2", "open"), event("e1", "convert")]
    assert store.add_events(batch, derive) == ["e1", "e2"], "an id repeated in the batch is stored once"
    assert store.add_events([event("e2", "open"), event("e3", "open")], derive) == ["e3"]
    assert store.add_events([event("e1")], derive) == []
    assert store.add_events([], derive) == []
    assert store.count_events() == 3
    assert store.get_counters("profile", "u1") == {"n:click": 1.0, "n:open": 2.0}
    derived = {e for call in calls for e in call}
    assert derived >= {"e1", "e2", "e3"}
    assert store.query_events(EventQuery(types=("click",)))[0]["type"] == "click", "the first e1 stands"
    assert store.add_events([event("e4", asset=None, user=None, group_id="g1", value=9.5)]) == ["e4"]
    stored = store.query_events(EventQuery(group_ids=("g1",)))
    assert stored == [event("e4", asset=None, user=None, group_id="g1", value=9.5)], "stored as given"


def test_concurrent_duplicate_batches_count_once(store: Store) -> None:
    derive = count_deriver([])
    batch = [event(f"c{i}", "open", user="u7") for i in range(40)]
    inserted: list[list[str]] = []
    barrier = threading.Barrier(3)

    def send() -> None:
        barrier.wait()
        inserted.append(store.add_events(batch, derive))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(e for ids in inserted for e in ids) == sorted(e["id"] for e in batch)
    assert store.get_counters("profile", "u7") == {"n:open": 40.0}


def test_query_events(store: Store) -> None:
    store.add_events(
        [
            event("a", "delivered", minutes=1),
            event("b", "click", minutes=2),
            event("c", "click", user="u2", minutes=3),
            event("d", "open", asset="a2", minutes=3),
            event("e", "convert", minutes=4, value=20.0, channel="moments"),
            event("f", "click", minutes=2.0000001),
        ]
    )
    q = store.query_events
    assert [e["id"] for e in q(EventQuery(user_ids=("u1",)))] == ["e", "d", "f", "b", "a"], "newest first, µs order"
    assert [e["id"] for e in q(EventQuery(user_ids=("u1",), newest_first=False, limit=2))] == ["a", "b"]
    assert [e["id"] for e in q(EventQuery(types=("click", "open"), asset_ids=("a1",)))] == ["c", "f", "b"]
    assert [e["id"] for e in q(EventQuery(channels=("moments",)))] == ["e"]
    window = EventQuery(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=3), newest_first=False)
    assert [e["id"] for e in q(window)] == ["b", "f"], "since inclusive, until exclusive"
    assert store.count_events(EventQuery(user_ids=("u1",), limit=1)) == 5, "counts ignore the limit"
    assert store.count_events(EventQuery(types=("nothing",))) == 0
    seen = [e["id"] for batch in store.iter_events(batch=4) for e in batch]
    assert sorted(seen) == ["a", "b", "c", "d", "e", "f"]


def test_event_counts(store: Store) -> None:
    store.add_events(
        [
            event("1", "click"),
            event("2", "click"),
            event("3", "convert", value=10.0),
            event("4", "convert", value=5.5),
            event("5", "click", asset="a2"),
            event("6", "mute", asset=None),
        ]
    )
    got = sorted(store.event_counts(("asset_id", "type"), EventQuery()), key=lambda r: (str(r[0][0]), r[0][1]))
    assert got == [
        ((None, "mute"), 1, 0.0),
        (("a1", "click"), 2, 0.0),
        (("a1", "convert"), 2, 15.5),
        (("a2", "click"), 1, 0.0),
    ]
    assert store.event_counts(("type",), EventQuery(types=("convert",))) == [(("convert",), 2, 15.5)]
    assert len(store.event_counts(("ts",), EventQuery())) == 1
    with pytest.raises(ValueError):
        store.event_counts(("body",), EventQuery())


def test_event_counts_by_period(store: Store) -> None:
    """Periods are [bounds[i], bounds[i+1]): a stamp on a bound opens the next period; outside the bounds or the
    query's own window nothing is counted; user-less events group under None."""
    store.add_events(
        [
            event("1", "click", minutes=0),
            event("2", "click", minutes=9.999999),
            event("3", "click", minutes=10),
            event("4", "convert", minutes=15, value=7.5),
            event("5", "click", minutes=25),
            event("6", "click", minutes=30),
            event("7", "open", user=None, group_id="g1", minutes=12),
            event("8", "click", minutes=-1),
        ]
    )
    bounds = [T0 + timedelta(minutes=m) for m in (0, 10, 20, 30)]
    got = sorted(store.event_counts_by_period(("user_id", "type"), EventQuery(), bounds), key=str)
    assert got == sorted(
        [
            (("u1", "click"), 0, 2, 0.0),
            (("u1", "click"), 1, 1, 0.0),
            (("u1", "convert"), 1, 1, 7.5),
            ((None, "open"), 1, 1, 0.0),
            (("u1", "click"), 2, 1, 0.0),
        ],
        key=str,
    )
    windowed = store.event_counts_by_period(
        ("type",), EventQuery(since=T0 + timedelta(minutes=5), types=("click",)), bounds
    )
    assert sorted(windowed, key=str) == sorted(
        [(("click",), 0, 1, 0.0), (("click",), 1, 1, 0.0), (("click",), 2, 1, 0.0)], key=str
    )
    assert list(store.event_counts_by_period(("type",), EventQuery(), bounds[:1])) == []
    with pytest.raises(ValueError):
        list(store.event_counts_by_period(("type",), EventQuery(), bounds[::-1]))
    with pytest.raises(ValueError):
        list(store.event_counts_by_period(("body",), EventQuery(), bounds))


def test_event_columns(store: Store) -> None:
    """recommend.batch's reads: numpy columns by user, by part of the log and all at once, the same events
    each way; also when an id holds the separator SQLite packs columns with."""
    store.add_events(
        [
            event("1", "click", minutes=1.5),
            event("2", "convert", user="u2", value=9.5),
            event("3", "mute", asset=None, user="u3", channel="sms"),
            event("4", "delivered", user="u\x1fodd", recommendation_id="r_1"),
            event("5", "served", user="u2", recommendation_id="r_2", attributes={"reserved": True}),
            event("6", "served", user="u2", recommendation_id="r_3"),
            event("7", "click", user=None, group_id="g1"),
        ]
    )
    types = ("delivered", "served", "click", "mute")

    def rows(cols: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted(
            zip(
                cols["user_id"],
                cols["asset_id"],
                cols["type"].tolist(),
                cols["on_channel"].tolist(),
                [round(t, 3) for t in cols["ts"].tolist()],
                cols["reserved"].tolist(),
                cols["recommendation_id"],
                strict=True,
            )
        )

    t0 = round(T0.timestamp(), 3)
    by_user = rows(store.event_columns("wecom_1v1", types, user_ids=["u1", "u2", "u3", "u\x1fodd"]))
    assert by_user == [
        ("u\x1fodd", "a1", 0, True, t0, False, "r_1"),
        ("u1", "a1", 2, True, round((T0 + timedelta(minutes=1.5)).timestamp(), 3), False, ""),
        ("u2", "a1", -1, True, t0, False, ""),  # a type the reader did not ask for
        ("u2", "a1", 1, True, t0, False, ""),  # served without a reservation: no id needed
        ("u2", "a1", 1, True, t0, True, "r_2"),
        ("u3", "", 3, False, t0, False, ""),
    ]
    assert rows(store.event_columns("wecom_1v1", types)) == by_user  # events without a user are left out
    parts = [rows(store.event_columns("wecom_1v1", types, part=p)) for p in store.event_scan_parts()]
    assert sorted(r for p in parts for r in p) == by_user
    assert rows(store.event_columns("wecom_1v1", types, user_ids=["nobody"])) == []
    docs = store.doc_field_columns("users", ("created_at", "merged_into"))
    assert docs == {"id": [], "created_at": [], "merged_into": []}
    store.put_doc("users", "u1", {"id": "u1", "created_at": "2026-01-01T00:00:00.000000Z"})
    store.put_doc("users", "u\x1fodd", {"id": "u\x1fodd", "merged_into": "u1"})
    docs = store.doc_field_columns("users", ("created_at", "merged_into"))
    assert sorted(zip(docs["id"], docs["created_at"], docs["merged_into"], strict=True)) == [
        ("u\x1fodd", "", "u1"),
        ("u1", "2026-01-01T00:00:00.000000Z", ""),
    ]


def test_reassign_and_delete_events(store: Store) -> None:
    store.add_events([event("1", user="old"), event("2", user="old", minutes=1), event("3", user="keep")])
    assert store.reassign_events("old", "keep") == 2
    assert store.count_events(EventQuery(user_ids=("keep",))) == 3
    assert store.query_events(EventQuery(user_ids=("old",))) == []
    assert store.reassign_events("nobody", "keep") == 0
    assert store.delete_events(EventQuery(user_ids=("keep",), types=("click",), limit=1)) == 3
    assert store.count_events() == 0
    assert store.add_events([event("1", user="keep")]) == ["1"], "an erased id can be stored again"


# --- counters -------------------------------------------------------------------------------------------


def test_counters(store: Store) -> None:
    store.add_to_counters("profile", [("u1", "t:护眼", 1.5), ("u1", "n:click", 1), ("u2", "n:click", 2)])
    store.add_to_counters("profile", [("u1", "t:护眼", 0.25), ("u1", "t:护眼", 0.25)])
    store.add_to_counters("popularity", [("*", "asset.with.dots", 3.0)])
    assert store.get_counters("profile", "u1") == {"t:护眼": 2.0, "n:click": 1.0}
    assert store.get_counters("profile", "nobody") == {}
    assert sorted(store.scan_counters("profile")) == [
        ("u1", "n:click", 1.0),
        ("u1", "t:护眼", 2.0),
        ("u2", "n:click", 2.0),
    ]
    assert list(store.scan_counters("popularity")) == [("*", "asset.with.dots", 3.0)]
    store.delete_counters("profile", "u1")
    assert store.get_counters("profile", "u1") == {}
    assert list(store.scan_counters("profile")) == [("u2", "n:click", 2.0)]
    store.add_to_counters("profile", [("u1", "n:click", 1)])
    assert store.get_counters("profile", "u1") == {"n:click": 1.0}


def test_counters_add_atomically_under_concurrency(store: Store) -> None:
    def add() -> None:
        for _ in range(10):
            store.add_to_counters("popularity", [("*", "a1", 1.0), ("moments", "a1", 0.5)])

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get_counters("popularity", "*") == {"a1": 40.0}
    assert store.get_counters("popularity", "moments") == {"a1": 20.0}


# --- media and health -----------------------------------------------------------------------------------


def test_media_files(store: Store) -> None:
    tmp_dir = store.media_tmp_dir()
    assert tmp_dir.is_dir()
    sha = "ab" * 32
    for expect in (True, False):
        tmp = tmp_dir / f"upload-{expect}"
        tmp.write_bytes(b"\x89PNG fake bytes")
        assert store.put_media_file(tmp, sha, 15, "image/png") is expect
        assert not tmp.exists()
    path = store.media_path(sha)
    assert path is not None and path.read_bytes() == b"\x89PNG fake bytes"
    with store.open_media(sha) as fh:  # type: ignore[union-attr]
        assert fh.read() == b"\x89PNG fake bytes"
    assert store.media_path("cd" * 32) is None and store.open_media("cd" * 32) is None


def test_media_records_once_on_either_store(store: Store) -> None:
    """The bytes go through the shared media folder code (store/media.py), the record through the store's
    own metadata: one record per hash, the first one standing, as ``store copy`` reads them back."""
    sha = "ef" * 32
    for mime in ("image/png", "image/jpeg"):
        tmp = store.media_tmp_dir() / f"upload-{mime.replace('/', '-')}"
        tmp.write_bytes(b"same bytes")
        store.put_media_file(tmp, sha, 10, mime)
    records = [m for m in store.iter_media() if m["sha256"] == sha]  # type: ignore[attr-defined]
    assert [(m["size"], m["mime"]) for m in records] == [(10, "image/png")]


def test_field_reads_without_whole_documents(library: Store) -> None:
    fields = library.asset_fields(["eye1", "nope", "cof1", "eye1"], ("tags", "missing_field", "title"))
    assert set(fields) == {"eye1", "cof1"}
    assert fields["eye1"] == {"tags": ["护眼", "科普"], "missing_field": None, "title": "护眼小课堂：20-20-20 法则"}
    library.put_doc("people", "p1", {"merged_into": "p2", "n": 1})
    library.put_doc("people", "p2", {"n": 2})
    library.put_doc("people", "p3", {"n": 3})
    library.delete_doc("people", "p3")
    assert library.doc_field("people", ["p1", "p2", "p3", "p9"], "merged_into") == {"p1": "p2", "p2": None}


def test_capabilities_are_declared(store: Store) -> None:
    assert store.capabilities.local_reads is (store.backend == "sqlite")
    assert isinstance(store, Store)
    lines = store.prepare()
    assert lines and all(isinstance(line, str) for line in lines)


def test_integrity_and_clock(store: Store) -> None:
    store.put_doc("keys", "k", {"v": 1})
    assert store.integrity_check() is True
    assert store.now().tzinfo is not None


# --- Elasticsearch only: layout and crash windows -------------------------------------------------------
# SQLite gets these from its transactions; Elasticsearch needs the recovery code below to be right.


@pytest.mark.es
def test_es_versioned_indices_behind_aliases(es_store: Any) -> None:
    assert es_store.schema.existing() == {}, "nothing is created before the first write"
    assert es_store.get_doc("keys", "k") is None and es_store.list_docs("keys") == []
    assert es_store.query_events(EventQuery()) == [] and es_store.count_assets(AssetFilter()) == 0
    es_store.init()
    prefix = es_store.prefix
    assert es_store.schema.existing() == {
        f"{prefix}-{k}": [f"{prefix}-{k}-v{es_store.schema.version(k)}"]
        for k in ("assets", "counters", "docs", "events")
    }
    assert es_store.integrity_check() is True
    es_store.put_assets([make_asset("a1", "t")])
    es_store.put_vectors("m", {"a1": unit(1, 0, 0)})
    mapping = es_store.es.indices.get_mapping(index=f"{prefix}-assets")[es_store.schema.concrete("assets")]["mappings"]
    assert mapping["properties"]["vec_3"]["dims"] == 3 and mapping["properties"]["vec_3"]["similarity"] == "cosine"


@pytest.mark.es
def test_es_counter_batch_recovers_after_crash(es_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import contenthub.store.elastic.events as elastic

    real = es_store._apply_counters
    monkeypatch.setattr(es_store, "_apply_counters", lambda *a: (_ for _ in ()).throw(SystemExit("crash")))
    with pytest.raises(SystemExit):
        es_store.add_events([event("x1"), event("x2", "open")], count_deriver([]))
    assert es_store.count_events() == 2 and es_store.get_counters("profile", "u1") == {}
    monkeypatch.setattr(es_store, "_apply_counters", real)
    es_store.recover()
    assert es_store.get_counters("profile", "u1") == {}, "a batch younger than the grace period may be in flight"
    monkeypatch.setattr(elastic, "BATCH_GRACE", -1.0)
    es_store.recover()
    es_store.recover()
    assert es_store.get_counters("profile", "u1") == {"n:click": 1.0, "n:open": 1.0}, "added once"
    assert es_store.add_events([event("x1")], count_deriver([])) == []
    assert es_store.get_counters("profile", "u1") == {"n:click": 1.0, "n:open": 1.0}


@pytest.mark.es
def test_es_counter_batch_partly_applied_is_finished_once(es_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after some counter docs took the batch: recovery adds it to the others only."""
    import contenthub.store.elastic.events as elastic

    real_bulk = es_store._bulk
    state = {"counter_bulks": 0}

    def flaky_bulk(ops: list[Any], **kw: Any) -> Any:
        if ops and isinstance(ops[0], tuple) and ops[0][1] and "values" in ops[0][1]:
            state["counter_bulks"] += 1
            real_bulk(ops[:1], **kw)  # the first counter doc is written, then the process dies
            raise SystemExit("crash")
        return real_bulk(ops, **kw)

    monkeypatch.setattr(es_store, "_bulk", flaky_bulk)
    with pytest.raises(SystemExit):
        es_store.add_events([event("y1", user="p"), event("y2", user="q")], count_deriver([]))
    monkeypatch.setattr(es_store, "_bulk", real_bulk)
    assert state["counter_bulks"] == 1
    monkeypatch.setattr(elastic, "BATCH_GRACE", -1.0)
    es_store.recover()
    assert es_store.get_counters("profile", "p") == {"n:click": 1.0}
    assert es_store.get_counters("profile", "q") == {"n:click": 1.0}


# Crash windows of put_docs_atomic on Elasticsearch: tests/test_elastic_intents.py
