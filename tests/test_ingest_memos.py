"""Ingestion remembers the assets and live users it has read (recommend.events._memo); an edit, a merge or
an erasure — in this process or another on the same data — is seen by the next batch."""

from __future__ import annotations

import time
from typing import Any

from contenthub.audience import erasure, users
from contenthub.hub import CHANGES_POLL_S, Hub, open_hub
from contenthub.library import service as library
from contenthub.library.demo_corpus import generate_assets
from contenthub.library.models import Asset, AssetUpdate
from contenthub.recommend import events
from contenthub.store.query import EventQuery
from contenthub.timeutil import to_iso, utcnow

_N = 0


def _click(user_id: str, asset_id: str = "m0") -> dict[str, Any]:
    global _N
    _N += 1
    return {"id": f"memo-{_N}", "type": "click", "user_id": user_id, "asset_id": asset_id, "channel": "wecom_1v1"}


def _assets(hub: Hub) -> None:
    now = to_iso(utcnow())
    docs = [
        Asset(
            **{
                **{k: v for k, v in a.items() if k in Asset.model_fields},
                "id": f"m{i}",
                "status": "approved",
                "channels": ["wecom_1v1"],
                "created_at": now,
                "updated_at": now,
            }
        ).model_dump()
        for i, a in enumerate(generate_assets(2, seed=5))
    ]
    hub.store.put_assets(docs)


def _event_users(hub: Hub) -> dict[str, str]:
    return {e["id"]: e["user_id"] for e in hub.store.query_events(EventQuery(limit=1000))}


def test_an_edited_asset_tag_reaches_the_next_batch(hub: Hub) -> None:
    _assets(hub)
    assert events.ingest(hub, [_click("u1")]).accepted == 1
    assert not any(f == "t:新标签" for f in hub.store.get_counters("profile", "u1"))
    library.update_asset(hub, "m0", AssetUpdate(tags=["新标签"]), actor="test")
    assert events.ingest(hub, [_click("u1")]).accepted == 1
    assert hub.store.get_counters("profile", "u1")["t:新标签"] > 0


def test_events_for_a_merged_or_erased_user_follow_the_change(hub: Hub) -> None:
    _assets(hub)
    events.ingest(hub, [_click("x"), _click("y"), _click("z")])  # creates the users
    events.ingest(hub, [_click("x"), _click("y"), _click("z")])  # finds them: now they are remembered
    users.merge_users(hub, keep="y", absorb="x")
    after_merge = _click("x")
    events.ingest(hub, [after_merge])
    assert _event_users(hub)[after_merge["id"]] == "y"
    erasure.erase_user(hub, "z")
    after_erase = _click("z")
    assert events.ingest(hub, [after_erase]).accepted == 1
    assert _event_users(hub)[after_erase["id"]] == "z"
    assert hub.store.get_doc(users.USERS, "z") is not None  # the id is a user again, with only this event


def test_a_merge_in_another_process_reaches_this_ones_next_batch(hub: Hub) -> None:
    """Two hubs on one data folder stand for two API workers: their memos are separate."""
    _assets(hub)
    events.ingest(hub, [_click("p"), _click("q")])
    events.ingest(hub, [_click("p"), _click("q")])  # remembered as live users from here on
    other = open_hub(hub.settings, embedder=hub.embedder)
    try:
        users.merge_users(other, keep="q", absorb="p")
    finally:
        other.close()
    time.sleep(CHANGES_POLL_S + 0.1)
    late = _click("p")
    events.ingest(hub, [late])
    assert _event_users(hub)[late["id"]] == "q"


def _count_user_reads(hub: Hub, monkeypatch: Any) -> list[str]:
    """Every user id the store is asked for (by any read method), in order."""
    asked: list[str] = []
    for name in ("get_doc", "get_docs", "get_docs_versioned", "doc_field"):
        method = getattr(hub.store, name)

        def counting(collection: str, ids: Any, *rest: Any, _method: Any = method, **kw: Any) -> Any:
            if collection == users.USERS:
                asked.extend([ids] if isinstance(ids, str) else ids)
            return _method(collection, ids, *rest, **kw)

        monkeypatch.setattr(hub.store, name, counting)
    return asked


def test_a_batch_reads_each_of_its_users_once(hub: Hub, monkeypatch: Any) -> None:
    """New users (created) and users this process has not seen (their first seen kept by compare-and-set)
    are read once per batch: the look-up that tells live users from missing ones is also what creating the
    missing ones and keeping the first seen start from."""
    _assets(hub)
    old, older = "2025-01-02T03:04:05.000000Z", "2024-12-01T00:00:00.000000Z"
    events.ingest(hub, [{**_click("known"), "ts": old}])  # stored before this process's memo starts
    hub.cache.clear()  # another process, or this one after a restart: nothing remembered
    asked = _count_user_reads(hub, monkeypatch)
    batch = [{**_click("new"), "ts": old}, {**_click("new"), "ts": older}, {**_click("known"), "ts": older}]
    assert events.ingest(hub, batch).accepted == 3
    assert sorted(asked) == ["known", "new"]
    monkeypatch.undo()
    for uid in ("new", "known"):
        assert users.first_seen(hub.store.get_doc(users.USERS, uid)) == older  # the batch's earliest event
