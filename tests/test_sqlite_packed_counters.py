"""SQLite counters: a key's plain rows and its packed row (several fields in one blob) read as one sum.

Ingestion adds to ~7 profile fields per event; those go to one packed row per key (read-modify-write)
instead of one upsert per field. Keys touched on few fields, names with NUL and packed rows at their size
limit stay in plain rows; rows written before packing existed (or by a store copy) keep counting.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from contenthub.store.copy import copy_store
from contenthub.store.sqlite import PACK_MAX_FIELDS, PACK_MIN_FIELDS, PACKED_FIELD, SQLiteStore
from contenthub.store.sqlite import counters as sq


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    yield s
    s.close()


def _rows(store: SQLiteStore, collection: str, key: str) -> list[tuple[str, object]]:
    return (
        store._conn()
        .execute("SELECT field, value FROM counters WHERE collection=? AND key=? ORDER BY field", (collection, key))
        .fetchall()
    )


def test_many_fields_of_a_key_go_to_one_packed_row(store: SQLiteStore) -> None:
    fields = [f"t:标签{i}" for i in range(PACK_MIN_FIELDS)]
    store.add_to_counters("profile", [("u1", f, 1.5) for f in fields])
    rows = _rows(store, "profile", "u1")
    assert [r[0] for r in rows] == [PACKED_FIELD] and isinstance(rows[0][1], bytes)
    store.add_to_counters("profile", [("u1", f, 1.0) for f in [*fields, "n:click", "n:click"]])
    assert store.get_counters("profile", "u1") == {**{f: 2.5 for f in fields}, "n:click": 2.0}
    store.add_to_counters("profile", [("u1", "n:open", 1.0)])  # few fields: a plain upsert
    assert {r[0] for r in _rows(store, "profile", "u1")} == {PACKED_FIELD, "n:open"}
    assert store.get_counters("profile", "u1")["n:open"] == 1.0
    assert list(store.get_counters("profile", "u1")) == sorted(store.get_counters("profile", "u1"))


def test_plain_rows_from_before_packing_and_the_packed_row_add_up(store: SQLiteStore) -> None:
    with store._tx() as tx:  # as the previous layout (or a store copy) wrote them
        tx.executemany(
            "INSERT INTO counters (collection, key, field, value) VALUES (?,?,?,?)",
            [("profile", "u1", "n:click", 3.0), ("profile", "u1", "t:护眼", 0.25)],
        )
    store.add_to_counters(
        "profile", [("u1", "n:click", 1.0), ("u1", "t:护眼", 0.5), ("u1", "s:x", 1.0), ("u1", "k:y", 1.0)]
    )
    expect = {"k:y": 1.0, "n:click": 4.0, "s:x": 1.0, "t:护眼": 0.75}
    assert store.get_counters("profile", "u1") == expect
    store.add_to_counters("profile", [("u2", "n:open", 1.0)])
    assert list(store.scan_counters("profile")) == [("u1", f, v) for f, v in expect.items()] + [("u2", "n:open", 1.0)]
    store.delete_counters("profile", "u1")
    assert store.get_counters("profile", "u1") == {} and _rows(store, "profile", "u1") == []


def test_a_packed_row_stops_growing_at_its_limit_and_names_with_nul_stay_plain(store: SQLiteStore) -> None:
    names = [f"f{i:04d}" for i in range(PACK_MAX_FIELDS + 10)]
    store.add_to_counters("popularity", [("*", n, 1.0) for n in names])
    assert {r[0] for r in _rows(store, "popularity", "*")} == set(names)  # too many for one packed row
    store.add_to_counters("profile", [("u1", f, 1.0) for f in names[:PACK_MAX_FIELDS]])
    store.add_to_counters("profile", [("u1", f, 1.0) for f in names[PACK_MAX_FIELDS - 5 :]])
    assert store.get_counters("profile", "u1") == {
        n: (2.0 if PACK_MAX_FIELDS - 5 <= i < PACK_MAX_FIELDS else 1.0) for i, n in enumerate(names)
    }
    store.add_to_counters("profile", [("u3", f, 1.0) for f in ["a", "b", "c", "nul\x00name"]])
    assert store.get_counters("profile", "u3") == {"a": 1.0, "b": 1.0, "c": 1.0, "nul\x00name": 1.0}
    assert PACKED_FIELD not in {r[0] for r in _rows(store, "profile", "u3")}
    with pytest.raises(ValueError):
        store.add_to_counters("profile", [("u1", PACKED_FIELD, 1.0)])


def test_packed_sums_equal_plain_sums(store: SQLiteStore) -> None:
    """All of a key's increments in its packed row: the same float sums, in the same order, as plain rows.
    Spread over both kinds of rows: the same up to rounding (the two parts are added when read)."""
    rng = random.Random(9)
    expect: dict[str, dict[str, float]] = {}
    for _ in range(40):
        key = f"p{rng.randrange(3)}"
        updates = [(key, f"t:{rng.randrange(12)}", rng.uniform(-1e9, 1e9)) for _ in range(PACK_MIN_FIELDS + 3)]
        updates += [
            (f"m{rng.randrange(3)}", f"t:{rng.randrange(12)}", rng.uniform(-1e9, 1e9))
            for _ in range(rng.randrange(1, 9))
        ]
        store.add_to_counters("profile", updates)
        for k, f, v in updates:
            expect.setdefault(k, {})[f] = expect.get(k, {}).get(f, 0.0) + v
    for k, fields in expect.items():
        got = store.get_counters("profile", k)
        if k.startswith("p"):
            assert got == dict(sorted(fields.items()))
        else:
            assert got == pytest.approx(fields, rel=1e-12, abs=1e-3)


def test_a_copy_of_packed_counters_reads_the_same(store: SQLiteStore, tmp_path: Path) -> None:
    store.add_to_counters("profile", [("u1", f"t:{i}", i + 0.5) for i in range(6)] + [("u2", "n:click", 1.0)])
    target = SQLiteStore(tmp_path / "copy.sqlite", tmp_path / "media2")
    try:
        report = copy_store(store, target)
        assert not report.problems
        for key in ("u1", "u2"):
            assert target.get_counters("profile", key) == store.get_counters("profile", key)
    finally:
        target.close()


def test_pack_round_trip() -> None:
    fields = {"": 1.0, "t:護眼 ✓": -2.5, "n:click": 3.0}
    assert sq._unpack(sq._pack(fields)) == fields
    assert sq._unpack(sq._merge_packed(sq._pack(fields), [("n:click", 1.0), ("new", 2.0), ("new", 1.0)])) == {
        "": 1.0,
        "t:護眼 ✓": -2.5,
        "n:click": 4.0,
        "new": 3.0,
    }
    assert sq._unpack(sq._merge_packed(sq._pack({"": 1.0}), [("", 1.0), ("b", 2.0)])) == {"": 2.0, "b": 2.0}
    assert sq._unpack(sq._merge_packed(None, {"a": 1.0, "": 2.0}.items())) == {"a": 1.0, "": 2.0}
    assert sq._merge_packed(None, [("a\x00b", 1.0)]) is None


def test_a_key_derived_twice_in_one_batch_counts_both(store: SQLiteStore) -> None:
    """A deriver that names a key twice (not grouped) loses nothing: the two groups are joined in order."""
    fields = {f"t:{i}": 1.0 for i in range(PACK_MIN_FIELDS + 1)}

    def derive(new: list[dict[str, object]]) -> list[tuple[str, str, dict[str, float]]]:
        return [("profile", "u1", dict(fields)), ("profile", "u2", {"n:open": 1.0}), ("profile", "u1", dict(fields))]

    event = {
        "id": "e1",
        "type": "open",
        "user_id": "u1",
        "asset_id": "a1",
        "channel": "sms",
        "group_id": None,
        "recommendation_id": None,
        "ts": "2026-11-01T10:00:00.000000Z",
        "value": None,
    }
    assert store.add_events([event], derive) == ["e1"]
    assert store.get_counters("profile", "u1") == {f: 2.0 for f in sorted(fields)}
    assert store.get_counters("profile", "u2") == {"n:open": 1.0}
    with pytest.raises(ValueError):
        store.add_events([{**event, "id": "e2"}], lambda new: [("profile", "u1", {PACKED_FIELD: 1.0})])
    assert store.count_events() == 1


def test_grouped_deltas_land_packed_and_add_up_over_batches(store: SQLiteStore) -> None:
    """A deriver's {field: delta} per key: a key's first batch writes its packed row as it is, later
    batches merge into it, and the sums are those of every batch."""
    fields = {f"t:{i}": 0.5 + i for i in range(PACK_MIN_FIELDS + 2)}

    def derive(new: list[dict[str, object]]) -> list[tuple[str, str, dict[str, float]]]:
        return [("profile", str(e["user_id"]), {**fields, f"n:{e['type']}": 1.0}) for e in new]

    def event(i: int, user: str) -> dict[str, object]:
        return {
            "id": f"g{i}",
            "type": "click",
            "user_id": user,
            "asset_id": "a1",
            "channel": "sms",
            "group_id": None,
            "recommendation_id": None,
            "ts": "2026-11-01T10:00:00.000000Z",
            "value": None,
        }

    store.add_events([event(1, "u1")], derive)
    assert [r[0] for r in _rows(store, "profile", "u1")] == [PACKED_FIELD]
    store.add_events([event(2, "u1"), event(3, "u2")], derive)
    assert store.get_counters("profile", "u1") == dict(
        sorted({**{f: 2 * v for f, v in fields.items()}, "n:click": 2.0}.items())
    )
    assert store.get_counters("profile", "u2") == dict(sorted({**fields, "n:click": 1.0}.items()))
