"""``Store.read_subjects``: a page of users' (or groups') profile inputs in one read, on SQLite and
Elasticsearch — the same answers as the single reads it replaces (``get_doc`` following merges,
``query_events``, ``get_counters``), as fresh as they are."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contenthub.config import Settings
from contenthub.embeddings import Embedder
from contenthub.hub import open_hub
from contenthub.store.base import Store
from contenthub.store.query import EventQuery, SubjectData, SubjectRead
from tests.conftest import Clients
from tests.es_support import es_url, unique_prefix
from tests.test_recommend_api import ev, library  # noqa: F401 - library: the small approved library fixture
from tests.test_store_contract import BACKENDS, event, iso, open_test_store

USERS = SubjectRead(
    counters="profile",
    newest=5,
    docs="users",
    follow="merged_into",
    hops=10,
    typed=("block", "unsubscribe"),
    typed_limit=3,
)


@pytest.fixture(params=[False, True], ids=["read", "awaited"])
def awaited(request: pytest.FixtureRequest) -> bool:
    """Every read of a test made by ``read_subjects`` or by ``read_subjects_async`` (next content's route):
    the same answers, as fresh."""
    return bool(request.param)


def _read_awaited(store: Store, keys: Sequence[str], spec: SubjectRead) -> dict[str, SubjectData]:
    """``read_subjects`` through ``read_subjects_async``, on an event loop of its own."""
    return asyncio.run(store.read_subjects_async(keys, spec))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, awaited: bool) -> Iterator[Store]:
    s = open_test_store(request.param, tmp_path)
    if awaited:
        s.read_subjects = functools.partial(_read_awaited, s)  # type: ignore[method-assign]
    yield s
    if s.backend == "elasticsearch":
        s.drop()  # type: ignore[attr-defined]
    s.close()


def user(uid: str, **kw: object) -> dict[str, object]:
    return {"id": uid, "created_at": iso(), **kw}


def test_reads_doc_events_and_counters_as_single_reads_do(store: Store) -> None:
    store.put_doc("users", "u1", user("u1"))
    store.add_events([event(f"e{i}", "open", minutes=i) for i in range(8)])
    store.add_to_counters("profile", [("u1", "t:a", 2.0), ("u1", "n:open", 8.0)])
    got = store.read_subjects(["u1"], USERS)["u1"]
    assert got.key == "u1"
    assert got.doc == store.get_doc("users", "u1")
    assert got.events == store.query_events(EventQuery(user_ids=("u1",), limit=5))
    assert [e["id"] for e in got.events] == ["e7", "e6", "e5", "e4", "e3"], "newest first, at most `newest`"
    assert got.counters == store.get_counters("profile", "u1") == {"n:open": 8.0, "t:a": 2.0}
    assert got.typed == []


def test_user_without_events_counters_or_document(store: Store) -> None:
    store.put_doc("users", "quiet", user("quiet"))
    got = store.read_subjects(["quiet", "nobody"], USERS)
    assert (got["quiet"].key, got["quiet"].events, got["quiet"].counters) == ("quiet", [], {})
    assert got["quiet"].doc == user("quiet")
    assert (got["nobody"].key, got["nobody"].doc, got["nobody"].events) == ("nobody", None, [])


def test_merged_user_reads_the_survivor(store: Store) -> None:
    """An old id follows its chain (old → mid → survivor) and reads the survivor's events and counters,
    as ``users.find_user`` does; a chain ending at a missing document reads as not stored."""
    store.put_doc("users", "old", user("old", merged_into="mid"))
    store.put_doc("users", "mid", user("mid", merged_into="survivor"))
    store.put_doc("users", "survivor", user("survivor"))
    store.put_doc("users", "lost", user("lost", merged_into="gone"))
    store.add_events([event("s1", "open", user="survivor"), event("o1", "open", user="old")])
    store.add_to_counters("profile", [("survivor", "n:open", 1.0), ("old", "n:open", 5.0)])
    got = store.read_subjects(["old", "survivor", "lost"], USERS)
    assert got["old"].key == got["survivor"].key == "survivor"
    assert got["old"].doc == got["survivor"].doc == user("survivor")
    assert [e["id"] for e in got["old"].events] == ["s1"]
    assert got["old"].counters == {"n:open": 1.0}
    assert (got["lost"].key, got["lost"].doc) == ("lost", None)
    assert [e["id"] for e in got["lost"].events] == []


def test_typed_events_older_than_the_newest_page(store: Store) -> None:
    """The typed events come from the newest page when it holds the whole history, and are read on
    their own when it is full (a block older than the newest events still counts)."""
    store.add_events(
        [event("b0", "block", user="heavy", minutes=0), event("b1", "unsubscribe", user="heavy", minutes=1)]
        + [event(f"h{i}", "open", user="heavy", minutes=10 + i) for i in range(6)]
        + [event("l0", "block", user="light", minutes=0), event("l1", "open", user="light", minutes=1)]
    )
    got = store.read_subjects(["heavy", "light"], USERS)
    assert len(got["heavy"].events) == 5 and all(e["type"] == "open" for e in got["heavy"].events)
    assert [e["id"] for e in got["heavy"].typed] == ["b1", "b0"]
    assert [e["id"] for e in got["light"].typed] == ["l0"]


def test_many_keys_at_once_match_one_by_one(store: Store) -> None:
    n = 300  # a page of due sends
    for i in range(0, n, 3):
        store.put_doc("users", f"m{i}", user(f"m{i}"))
    store.add_events([event(f"m{i}-{j}", "open", user=f"m{i}", minutes=j) for i in range(n) for j in range(i % 4)])
    store.add_to_counters("profile", [(f"m{i}", "n:open", float(i % 4)) for i in range(n) if i % 4])
    keys = [f"m{i}" for i in range(n)]
    got = store.read_subjects(keys, USERS)
    assert list(got) == keys
    for k in keys:
        assert got[k].doc == store.get_doc("users", k)
        assert got[k].events == store.query_events(EventQuery(user_ids=(k,), limit=5))
        assert got[k].counters == store.get_counters("profile", k)


def test_groups_by_group_id_with_a_counter_prefix(store: Store) -> None:
    store.add_events([event("g1e", "open", user=None, group_id="g1"), event("u1e", "open")])
    store.add_to_counters("profile", [("group:g1", "n:open", 1.0)])
    spec = SubjectRead(counters="profile", newest=10, by="group_id", counter_prefix="group:")
    got = store.read_subjects(["g1"], spec)["g1"]
    assert (got.key, got.doc, [e["id"] for e in got.events], got.counters) == ("g1", None, ["g1e"], {"n:open": 1.0})


def test_sees_its_own_writes_at_once(store: Store) -> None:
    """Read, write, read again: the second read sees the new event, counter and merge (no refresh wait)."""
    store.put_doc("users", "f1", user("f1"))
    assert store.read_subjects(["f1"], USERS)["f1"].events == []
    store.add_events([event("fresh", "open", user="f1")])
    store.add_to_counters("profile", [("f1", "n:open", 1.0)])
    store.put_doc("users", "f2", user("f2"))
    store.put_doc("users", "f1", user("f1", merged_into="f2"))
    store.add_events([event("fresh2", "open", user="f2")])
    got = store.read_subjects(["f1", "f2"], USERS)
    assert [e["id"] for e in got["f2"].events] == ["fresh2"]
    assert got["f1"].key == "f2"
    store.put_doc("users", "f1", user("f1"))
    got = store.read_subjects(["f1"], USERS)["f1"]
    assert [e["id"] for e in got.events] == ["fresh"] and got.counters == {"n:open": 1.0}


@pytest.mark.es
def test_documents_and_counters_written_by_another_process_are_seen_at_once(tmp_path: Path, awaited: bool) -> None:
    """As ``get_doc``/``get_counters`` do (real-time GETs): another API process's merge and counter
    additions are read at once, with no refresh on either side."""
    settings = Settings(data_dir=tmp_path / "data", es_index_prefix=unique_prefix(), store_url=es_url())
    from contenthub.store.elastic import ElasticStore

    reader, writer = ElasticStore(es_url(), settings), ElasticStore(es_url(), settings)
    read = functools.partial(_read_awaited, reader) if awaited else reader.read_subjects
    try:
        reader.put_doc("users", "p1", user("p1"))
        assert read(["p1"], USERS)["p1"].counters == {}
        writer.put_doc("users", "p2", user("p2"))
        writer.put_doc("users", "p1", user("p1", merged_into="p2"))
        writer.add_to_counters("profile", [("p2", "n:open", 3.0)])
        got = read(["p1"], USERS)["p1"]
        assert (got.key, got.doc, got.counters) == ("p2", user("p2"), {"n:open": 3.0})
    finally:
        reader.drop()
        reader.close()
        writer.close()


# --- through HTTP: next content reads the profile this way -------------------------------------------


@pytest.fixture(params=BACKENDS)
def clients(request: pytest.FixtureRequest, settings: Settings, embedder: Embedder) -> Iterator[Clients]:
    """``clients`` (tests/conftest.py) on each backend, so ``library`` fills either."""
    if request.param == "elasticsearch":
        settings = settings.model_copy(update={"store_url": es_url(), "es_index_prefix": unique_prefix()})
    hub = open_hub(settings, embedder=embedder)
    yield Clients(hub)
    if hub.store.backend == "elasticsearch":
        hub.store.drop()  # type: ignore[attr-defined]
    hub.close()


def _next(client: TestClient, user_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/recommendations/users/{user_id}", params={"channel": "wecom_1v1", "n": 10})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.usefixtures("library")
def test_the_very_next_request_sees_a_new_event(clients: Clients) -> None:
    """Issue #18 item 3, through HTTP: an event stored, then at once a next-content request that honours
    it — no wait for a refresh."""
    bot = clients.as_("bot")
    assert "cpn1" in {p["asset_id"] for p in _next(bot, "fresh")["picks"]}
    r = bot.post("/v1/events", json={"events": [ev("fm1", "mute", "fresh", "cpn1")]})
    assert r.status_code == 200, r.text
    picks = {p["asset_id"] for p in _next(bot, "fresh")["picks"]}
    assert "cpn1" not in picks and len(picks) == 5
    r = bot.post("/v1/events", json={"events": [ev("fm2", "mute", "fresh", "eye1")]})
    assert r.status_code == 200, r.text
    assert {p["asset_id"] for p in _next(bot, "fresh")["picks"]} == picks - {"eye1"}


@pytest.mark.usefixtures("library")
def test_a_merged_users_old_id_gets_the_survivors_next_content(clients: Clients) -> None:
    editor, bot = clients.as_("editor"), clients.as_("bot")
    ids = {}
    for kind, value in (("openid", "o-1"), ("external_userid", "wm-1")):
        r = editor.put("/v1/users", json={"identities": [{"type": kind, "value": value}]})
        assert r.status_code in (200, 201), r.text
        ids[kind] = r.json()["id"]
    survivor, old = ids["openid"], ids["external_userid"]
    r = editor.post(f"/v1/users/{survivor}/identities", json={"type": "external_userid", "value": "wm-1"})
    assert r.status_code == 200, r.text
    r = bot.post("/v1/events", json={"events": [ev("mm1", "mute", survivor, "cof1")]})
    assert r.status_code == 200, r.text
    for asked in (old, survivor):
        rec = _next(bot, asked)
        assert rec["target"] == survivor, asked
        assert "cof1" not in {p["asset_id"] for p in rec["picks"]}, asked
    assert _next(bot, "never-seen")["target"] == "never-seen", "an unknown id is answered as given"
