"""SQLite schema migrations: an existing data directory upgrades in place, keeping its data searchable."""

from __future__ import annotations

import json
from pathlib import Path

import contenthub.store.sqlite.connection as sqlite_module
from contenthub.store.query import AssetFilter
from contenthub.store.sqlite import SQLiteStore
from contenthub.store.sqlite_migrations import MIGRATIONS


def test_version_1_directory_upgrades_and_stays_searchable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", MIGRATIONS[:1])
    old = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    assert old.schema_version() == 1
    conn = old._conn()
    body = json.dumps({"body": "远眺二十秒钟", "tags": ["护眼台灯"]}, ensure_ascii=False)
    conn.execute(
        "INSERT INTO assets (id, body, title, status, created_at, updated_at) "
        "VALUES ('a1', ?, '护眼小课堂', 'approved', 'x', 'x')",
        (body,),
    )
    conn.execute(
        "INSERT INTO assets_fts (asset_id, title, text, tags) VALUES ('a1', '护眼小课堂', '远眺二十秒钟', '护眼台灯')"
    )
    old.close()
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", MIGRATIONS)
    new = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    assert new.schema_version() == MIGRATIONS[-1][0]
    assert [h.id for h in new.text_search_assets("远眺二十", AssetFilter())] == ["a1"]
    assert [h.id for h in new.text_search_assets("护眼台灯", AssetFilter())] == ["a1"]
    assert new.integrity_check()


def test_upsert_replaces_the_full_text_row(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    doc = {"id": "a1", "title": "旧标题文字", "status": "approved", "created_at": "t", "updated_at": "t"}
    store.put_asset(doc)
    store.put_asset({**doc, "title": "新标题文字"})
    assert store.text_search_assets("旧标题", AssetFilter()) == []
    assert [h.id for h in store.text_search_assets("新标题", AssetFilter())] == ["a1"]
    assert store._conn().execute("SELECT COUNT(*) FROM assets_fts").fetchone()[0] == 1


def test_version_4_directory_gets_facet_rowids_and_filters_the_same(tmp_path: Path, monkeypatch) -> None:
    """Migration 5 keys existing facet rows by their asset's rowid; nothing is lost and filters agree."""
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", MIGRATIONS[:4])
    old = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    assert old.schema_version() == 4
    conn = old._conn()
    facets = {"a1": [("scenes", "holiday"), ("channels", "moments")], "a2": [("scenes", "holiday")], "a3": []}
    for i, (aid, rows) in enumerate(facets.items()):
        body = json.dumps({"id": aid, "title": f"标题{i}", "status": "approved"}, ensure_ascii=False)
        conn.execute(
            "INSERT INTO assets (id, body, title, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'x', 'x')",
            (aid, body, f"标题{i}", "approved" if aid != "a2" else "draft"),
        )
        conn.executemany("INSERT INTO asset_facets (asset_id, facet, value) VALUES (?,?,?)", [(aid, *r) for r in rows])
    old.close()
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", MIGRATIONS)
    new = SQLiteStore(tmp_path / "db.sqlite", tmp_path / "media")
    assert new.schema_version() == MIGRATIONS[-1][0]
    conn = new._conn()
    assert conn.execute("SELECT COUNT(*) FROM asset_facets").fetchone()[0] == 3
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM asset_facets f JOIN assets a ON a.id = f.asset_id WHERE f.asset_rowid = a.rowid"
        ).fetchone()[0]
        == 3
    )
    rowid = {r[0]: r[1] for r in conn.execute("SELECT id, rowid FROM assets")}
    assert new.count_assets(AssetFilter(scenes=("holiday",))) == 2
    assert new.count_assets(AssetFilter(scenes=("holiday",), channels=("moments",))) == 1
    assert new.count_assets(AssetFilter(scenes=("holiday",), statuses=("draft",))) == 1
    assert sorted(new.filtered_rowids(AssetFilter(scenes=("holiday",))).tolist()) == sorted([rowid["a1"], rowid["a2"]])
    # a write after the upgrade keys its facets by rowid too, and an update keeps them in step
    new.put_asset(
        {
            "id": "a3",
            "title": "标题2",
            "status": "approved",
            "created_at": "x",
            "updated_at": "y",
            "channels": ["moments"],
        }
    )
    assert sorted(new.filtered_rowids(AssetFilter(channels=("moments",))).tolist()) == sorted(
        [rowid["a1"], rowid["a3"]]
    )
    assert new.count_assets(AssetFilter(channels=("moments",), exclude_ids=("a1",))) == 1
    assert new.integrity_check()
