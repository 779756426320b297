"""Backend-neutral query values (AssetFilter, EventQuery, ``where``) turned into Elasticsearch queries.

Pure functions, no I/O: each mirrors one SQL builder of the SQLite store clause by clause, so the two
backends answer the same question the same way.
"""

from __future__ import annotations

from typing import Any

from contenthub.store.analysis import QueryGroup, query_groups
from contenthub.store.query import AssetFilter, EventQuery
from contenthub.timeutil import to_iso

MATCH_NONE: dict[str, Any] = {"match_none": {}}


def scalar_key(value: Any) -> str | None:
    """The indexed form of a top-level scalar for ``where`` equality, or None when it is not one.

    Mirrors SQLite's ``json_extract(body, '$.k') = ?``: booleans compare as 1/0, 1 and 1.0 are equal,
    and a number never equals a string.
    """
    if isinstance(value, bool):
        return f"n:{int(value)}"
    if isinstance(value, int):
        return f"n:{value}"
    if isinstance(value, float):
        return f"n:{int(value)}" if value.is_integer() else f"n:{value!r}"
    if isinstance(value, str):
        return f"s:{value}"
    return None


def scalar_fields(doc: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in doc.items():
        k = scalar_key(value)
        if k is not None and "." not in key and key:
            out[key] = k
    return out


def check_field_name(key: str) -> None:
    if not key.replace("_", "").isalnum():
        raise ValueError(f"bad field name {key!r}")


def where_clauses(where: dict[str, Any] | None, field: str = "fields") -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    for key, value in (where or {}).items():
        check_field_name(key)
        if value is None:
            clauses.append({"bool": {"must_not": {"exists": {"field": f"{field}.{key}"}}}})
            continue
        k = scalar_key(value)
        clauses.append({"term": {f"{field}.{key}": k}} if k is not None else MATCH_NONE)
    return clauses


def where_matches(body: dict[str, Any], where: dict[str, Any] | None) -> bool:
    """The same test in Python, for documents resolved client-side (staged by a transaction)."""
    for key, value in (where or {}).items():
        have = body.get(key)
        if value is None:
            if have is not None:
                return False
        elif scalar_key(have) is None or scalar_key(have) != scalar_key(value):
            return False
    return True


def asset_filter(flt: AssetFilter) -> list[dict[str, Any]]:
    """Filter clauses (no scoring) for an AssetFilter: AND across facets, OR within one."""
    clauses: list[dict[str, Any]] = []
    for field, values in (
        ("kind", flt.kinds),
        ("content_type", flt.content_types),
        ("status", flt.statuses),
        ("scenes", flt.scenes),
        ("channels", flt.channels),
        ("tags", flt.tags),
        ("stages", flt.stages),
    ):
        if values:
            clauses.append({"terms": {field: list(values)}})
    if flt.valid_at is not None:
        at = to_iso(flt.valid_at)
        clauses.append(
            {
                "bool": {
                    "should": [
                        {"bool": {"must_not": {"exists": {"field": "valid_from"}}}},
                        {"range": {"valid_from": {"lte": at}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
        clauses.append(
            {
                "bool": {
                    "should": [
                        {"bool": {"must_not": {"exists": {"field": "valid_until"}}}},
                        {"range": {"valid_until": {"gt": at}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    if flt.ids is not None:
        clauses.append({"ids": {"values": list(flt.ids)}} if flt.ids else MATCH_NONE)
    if flt.exclude_ids:
        clauses.append({"bool": {"must_not": {"ids": {"values": list(flt.exclude_ids)}}}})
    return clauses


def asset_query(flt: AssetFilter) -> dict[str, Any]:
    clauses = asset_filter(flt)
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


ASSET_SORTS: dict[str, list[dict[str, Any]]] = {
    "updated_desc": [{"updated_at": "desc"}, {"id": "asc"}],
    "created_desc": [{"created_at": "desc"}, {"id": "asc"}],
    "title_asc": [{"title.sort": {"order": "asc", "missing": "_last"}}, {"id": "asc"}],
}


TERM_TEXT_FIELDS = ["terms.title^3", "terms.body", "terms.tags^2", "terms.media"]
"""Boosts as SQLite's bm25 weights (sqlite.TERM_WEIGHTS): title, body, tags, media; pinyin 1.5, initials 0.5."""


def group_query(g: QueryGroup) -> dict[str, Any]:
    """One query group (store/analysis.py): its words in the text fields, or its pinyin, or its initials."""
    words = " ".join(g.words)
    alts: list[dict[str, Any]] = [
        {"multi_match": {"query": words, "type": "phrase", "fields": TERM_TEXT_FIELDS}}
        if g.phrase
        else {"multi_match": {"query": words, "type": "cross_fields", "operator": "and", "fields": TERM_TEXT_FIELDS}}
    ]
    if g.pinyin:
        alts.append({"match_phrase": {"terms.pinyin": {"query": " ".join(g.pinyin), "boost": 1.5}}})
    if g.initials:
        alts.append({"match_phrase": {"terms.initials": {"query": " ".join(g.initials), "boost": 0.5}}})
    return alts[0] if len(alts) == 1 else {"bool": {"should": alts, "minimum_should_match": 1}}


def text_query(text: str, flt: AssetFilter) -> dict[str, Any] | None:
    """BM25 over the pre-analysed terms (the same as SQLite's assets_terms): every group must match."""
    groups = query_groups(text)
    if not groups:
        return None
    return {"bool": {"must": [group_query(g) for g in groups], "filter": asset_filter(flt)}}


EVENT_FIELDS = ("user_id", "asset_id", "type", "channel", "group_id")


def event_query(q: EventQuery) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    for field, values in (
        ("user_id", q.user_ids),
        ("asset_id", q.asset_ids),
        ("type", q.types),
        ("channel", q.channels),
        ("group_id", q.group_ids),
    ):
        if values:
            clauses.append({"terms": {field: list(values)}})
    rng: dict[str, str] = {}
    if q.since is not None:
        rng["gte"] = to_iso(q.since)
    if q.until is not None:
        rng["lt"] = to_iso(q.until)
    if rng:
        clauses.append({"range": {"ts": rng}})
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


def event_sort(newest_first: bool) -> list[dict[str, Any]]:
    return [{"ts": "desc" if newest_first else "asc"}, {"id": "asc"}]
