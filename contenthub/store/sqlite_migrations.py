"""Ordered schema migrations for the SQLite store.

Each entry is applied once, in order, inside a transaction, and recorded in ``schema_version``;
an existing data directory therefore upgrades in place on start. Never edit a released entry:
append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "documents, assets with facets and trigram full-text, vectors, media, events, counters",
        """
        CREATE TABLE docs (
            collection TEXT NOT NULL,
            id TEXT NOT NULL,
            body TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (collection, id)
        );
        CREATE TABLE assets (
            id TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            title TEXT NOT NULL,
            kind TEXT,
            content_type TEXT,
            status TEXT NOT NULL,
            valid_from TEXT,
            valid_until TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX assets_status ON assets (status, updated_at);
        CREATE TABLE asset_facets (
            asset_id TEXT NOT NULL,
            facet TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (facet, value, asset_id)
        );
        CREATE INDEX asset_facets_by_asset ON asset_facets (asset_id);
        CREATE VIRTUAL TABLE assets_fts USING fts5(
            asset_id UNINDEXED, title, text, tags, tokenize = 'trigram'
        );

        CREATE TABLE vectors (
            asset_id TEXT PRIMARY KEY,
            model_id TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vec BLOB NOT NULL
        );

        CREATE TABLE media (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mime TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            user_id TEXT,
            asset_id TEXT,
            channel TEXT,
            group_id TEXT,
            recommendation_id TEXT,
            ts TEXT NOT NULL,
            value REAL,
            body TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX events_user ON events (user_id, ts);
        CREATE INDEX events_asset ON events (asset_id, type);
        CREATE INDEX events_group ON events (group_id, ts);
        CREATE INDEX events_ts ON events (ts);

        CREATE TABLE counters (
            collection TEXT NOT NULL,
            key TEXT NOT NULL,
            field TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (collection, key, field)
        ) WITHOUT ROWID;
        """,
    ),
    (
        2,
        "full-text rows keyed by the asset's rowid, so an upsert replaces its row without a scan",
        """
        DROP TABLE assets_fts;
        CREATE VIRTUAL TABLE assets_fts USING fts5(
            asset_id UNINDEXED, title, text, tags, tokenize = 'trigram'
        );
        INSERT INTO assets_fts (rowid, asset_id, title, text, tags)
            SELECT rowid, id, title, COALESCE(json_extract(body, '$.body'), ''),
                   COALESCE((SELECT group_concat(value, ' ') FROM json_each(body, '$.tags')), '')
            FROM assets;
        """,
    ),
    (
        3,
        "leaner event indexes for ingestion: no (asset_id, type) index, group index only over events with a group",
        # Every index is one more random B-tree insert per ingested event. No query filters events by
        # asset alone (per-asset results read the asset_stats counters), so events_asset goes; most
        # events have no group, so the group index keeps only those that do (SQLite uses a partial
        # index for `group_id IN (...)`, which implies `group_id IS NOT NULL`). events_user serves
        # profiles, journeys, audiences and erasure; events_ts serves time windows (metrics, audiences).
        """
        DROP INDEX IF EXISTS events_asset;
        DROP INDEX IF EXISTS events_group;
        CREATE INDEX events_group ON events (group_id, ts) WHERE group_id IS NOT NULL;
        """,
    ),
    (
        4,
        "word, pinyin and initials index of assets (jieba + pypinyin terms, see store/analysis.py)",
        # Filled by the store on open (the terms are computed in Python), keyed by the asset's rowid.
        """
        CREATE VIRTUAL TABLE assets_terms USING fts5(
            title, body, tags, media, pinyin, initials, tokenize = 'unicode61 remove_diacritics 0'
        );
        """,
    ),
    (
        5,
        "facets keyed by the asset's integer rowid too, so a filter yields rowids without reading text ids",
        # Filtered kNN's exact pass wants the rowids (the vector index's keys) of every asset a filter keeps;
        # through the text ids that was one assets look-up per facet row (bench/RESULTS.md, "#23 search,
        # fourth round"). Existing rows get their asset's rowid here; the store writes it from now on.
        """
        ALTER TABLE asset_facets ADD COLUMN asset_rowid INTEGER;
        UPDATE asset_facets SET asset_rowid = (SELECT a.rowid FROM assets a WHERE a.id = asset_facets.asset_id);
        CREATE INDEX asset_facets_rowids ON asset_facets (facet, value, asset_rowid);
        """,
    ),
]
