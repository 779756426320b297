"""SQLite event rows: an event whose columns say everything stores no JSON body; every reader gets the
same documents back, for rows written either way (rows from before the change carry a full body)."""

from __future__ import annotations

import json
from pathlib import Path

from contenthub.store.query import EventQuery
from contenthub.store.sqlite import SQLiteStore


def _event(i: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"e{i}",
        "type": "click",
        "user_id": "u1",
        "asset_id": "a1",
        "channel": "wecom_1v1",
        "group_id": None,
        "recommendation_id": f"r{i}" if i % 2 else None,
        "ts": f"2026-11-0{i}T10:00:00.000000Z",
        "value": 9.5 if i == 3 else None,
        **extra,
    }


def _bodies(store: SQLiteStore) -> dict[str, str]:
    return dict(store._conn().execute("SELECT id, body FROM events").fetchall())


def test_plain_events_store_no_body_and_read_back_whole(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    plain = [_event(1), _event(2), _event(3)]
    with_attrs = _event(4, attributes={"campaign": "双11", "n": 2})
    store.add_events([*plain, with_attrs])
    bodies = _bodies(store)
    assert bodies["e1"] == bodies["e2"] == bodies["e3"] == ""
    assert json.loads(bodies["e4"]) == with_attrs
    expected = [*plain, with_attrs]
    newest_first = expected[::-1]
    assert store.query_events(EventQuery(user_ids=("u1",), limit=10)) == newest_first
    assert [e for chunk in store.iter_events(batch=2) for e in chunk] == expected
    # key order too: readers that serialise documents (exports, the API) see what was sent
    assert [list(e) for e in store.query_events(EventQuery(limit=10))] == [list(e) for e in newest_first]


def test_rows_with_a_full_body_still_read_and_reassign(tmp_path: Path) -> None:
    """A row written before bodies were dropped (full JSON body) reads as before; reassigning a user's
    events rewrites the user in both kinds of row."""
    store = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    legacy = _event(5)
    store._conn().execute(
        "INSERT INTO events (id, type, user_id, asset_id, channel, group_id, recommendation_id, ts, value, body) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)",
        (*legacy.values(), json.dumps(legacy)),
    )
    store.add_events([_event(6)])
    assert store.query_events(EventQuery(limit=10)) == [_event(6), legacy]
    assert store.reassign_events("u1", "u2") == 2
    moved = store.query_events(EventQuery(user_ids=("u2",), limit=10))
    assert [e["user_id"] for e in moved] == ["u2", "u2"]
    assert moved == [{**_event(6), "user_id": "u2"}, {**legacy, "user_id": "u2"}]
    assert _bodies(store)["e6"] == ""


def test_an_event_missing_a_column_key_keeps_its_body(tmp_path: Path) -> None:
    """Callers that pass fewer keys (store copies of old data) get back exactly what they stored."""
    store = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    short = {
        "id": "e7",
        "type": "open",
        "user_id": "u1",
        "asset_id": "a1",
        "channel": "wecom_1v1",
        "ts": "2026-11-07T10:00:00.000000Z",
    }
    store.add_events([short])
    assert store.query_events(EventQuery(limit=10)) == [short]
