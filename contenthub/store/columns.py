"""Events and document fields as columns: the shape every backend hands to readers that vectorise over
millions of rows (``recommend.batch``), so no reader outside store/ knows a storage format."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import eq
from typing import Any, TypedDict

import numpy as np


class EventColumns(TypedDict):
    """One read of events as columns (``Store.event_columns``), one entry per event in every column."""

    user_id: list[str]
    asset_id: list[str]  # '' for none
    type: np.ndarray  # int8: index into the reader's ``types``, −1 for any other type
    on_channel: np.ndarray  # bool: the event's channel is the reader's ``channel``
    ts: np.ndarray  # float64 epoch seconds
    reserved: np.ndarray  # bool: a served event that reserved a send (``attributes.reserved``)
    recommendation_id: list[str]  # of deliveries and reserved sends ('' otherwise): what caps count once


def event_columns_of(rows: Sequence[tuple[Any, ...]], channel: str, types: Sequence[str]) -> EventColumns:
    """Columns from rows of (user_id, type, asset_id, channel, ts as epoch seconds, recommendation_id,
    reserved), as a backend reads them one event at a time."""
    if not rows:
        return empty_event_columns()
    uid, typ, aid, chan, ts, rec, reserved = zip(*rows, strict=True)
    n = len(uid)
    code = {t: i for i, t in enumerate(types)}
    return {
        "user_id": list(uid),
        "asset_id": [a or "" for a in aid],
        "type": np.fromiter(map(code.get, typ, repeat(-1)), dtype=np.int8, count=n),
        "on_channel": np.fromiter(map(eq, chan, repeat(channel)), dtype=bool, count=n),
        "ts": np.asarray(ts, dtype=np.float64),
        "reserved": np.asarray(reserved, dtype=bool),
        "recommendation_id": [r or "" for r in rec],
    }


def empty_event_columns() -> EventColumns:
    return {
        "user_id": [],
        "asset_id": [],
        "type": np.zeros(0, dtype=np.int8),
        "on_channel": np.zeros(0, dtype=bool),
        "ts": np.zeros(0),
        "reserved": np.zeros(0, dtype=bool),
        "recommendation_id": [],
    }


def doc_columns_of(docs: Iterable[tuple[str, dict[str, Any]]], fields: Sequence[str]) -> dict[str, list[str]]:
    """``Store.doc_field_columns`` from (id, document) pairs: '' for an absent or null field."""
    out: dict[str, list[str]] = {"id": [], **{f: [] for f in fields}}
    for doc_id, doc in docs:
        out["id"].append(doc_id)
        for f in fields:
            v = doc.get(f)
            out[f].append("" if v is None else str(v))
    return out
