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
