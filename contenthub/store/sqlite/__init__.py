"""The embedded backend (``sqlite:///path``): ``SQLiteStore``, split by role (see store.py)."""

from contenthub.store.sqlite.connection import outage_reason
from contenthub.store.sqlite.counters import (
    PACK_MAX_FIELDS,
    PACK_MIN_FIELDS,
    PACKED_FIELD,
    merge_counter_rows,
)
from contenthub.store.sqlite.store import SQLiteStore

__all__ = ["PACKED_FIELD", "PACK_MAX_FIELDS", "PACK_MIN_FIELDS", "SQLiteStore", "merge_counter_rows", "outage_reason"]
