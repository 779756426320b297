"""Stored records a reader could not use: isolated, logged and listed for an admin, never a failed read.

Why: a record written by an older version (an asset whose ``valid_from`` was stored as
``1-01-01T00:00:00.000000Z``) used to fail every catalog build, so one record took next content down for
everyone. Readers that build views over many records (the recommender's catalog, a batch of users) skip
such a record, note it here and go on; an admin sees the list (``GET /v1/admin/bad-records``, the
``/admin/bad-records`` page) and fixes the record through the normal API.

Entries are documents in the store (every API process and the CLI see the same list); each process
remembers what it has noted so a read never writes the same entry twice.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pydantic import BaseModel

from contenthub.hub import Hub
from contenthub.timeutil import BadStamp, from_iso, to_iso, utcnow

COLLECTION = "bad_records"
_MEMO = "bad_records.noted"
_lock = threading.Lock()
log = logging.getLogger("contenthub.bad_records")


class BadRecord(BaseModel):
    kind: str
    record_id: str
    field: str
    value: str
    reason: str
    found_at: str


def _noted(hub: Hub) -> dict[str, str]:
    """This process's memo: entry key → the reason last written."""
    return hub.cache.setdefault(_MEMO, {})


def _key(kind: str, record_id: str) -> str:
    return f"{kind}:{record_id}"


def note(hub: Hub, kind: str, record_id: str, field: str, value: Any, reason: str) -> None:
    """Remember that ``kind`` record ``record_id`` could not be read (its ``field`` holds ``value``)."""
    key = _key(kind, record_id)
    noted = _noted(hub)
    with _lock:
        if noted.get(key) == reason:
            return
        noted[key] = reason
    log.warning("skipped bad stored %s %r: %s = %r (%s)", kind, record_id, field, value, reason)
    entry = BadRecord(
        kind=kind,
        record_id=record_id,
        field=field,
        value=str(value)[:200],
        reason=reason[:500],
        found_at=to_iso(utcnow()),
    )
    hub.store.put_doc(COLLECTION, key, entry.model_dump())


def settle(hub: Hub, kind: str, found: dict[str, tuple[str, Any, str]]) -> None:
    """After a full pass over every record of ``kind``: ``found`` (id → field, value, reason) are the bad
    ones now; they are noted and every entry of ``kind`` no longer bad (fixed since) is removed."""
    for record_id, (field, value, reason) in found.items():
        note(hub, kind, record_id, field, value, reason)
    noted = _noted(hub)
    prefix = _key(kind, "")
    checked = prefix + "*checked"
    if not found and checked in noted and not any(k.startswith(prefix) and k != checked for k in noted):
        return  # nothing bad now and nothing noted since the first pass of this process: no store read
    with _lock:
        noted[checked] = "yes"
    stored = {doc["record_id"] for doc in hub.store.list_docs(COLLECTION, where={"kind": kind}, limit=100_000)}
    for record_id in stored - set(found):
        hub.store.delete_doc(COLLECTION, _key(kind, record_id))
        with _lock:
            noted.pop(_key(kind, record_id), None)


def stamp_or_none(hub: Hub, kind: str, record_id: str, field: str, value: str | None) -> str | None:
    """``value`` when it is a readable stored time (or empty), else None after noting the record."""
    if not value:
        return value
    try:
        from_iso(value)
    except BadStamp as exc:
        note(hub, kind, record_id, field, value, str(exc))
        return None
    return value


def entries(hub: Hub, limit: int = 1000) -> list[BadRecord]:
    docs = hub.store.list_docs(COLLECTION, limit=limit)
    return sorted((BadRecord.model_validate(d) for d in docs), key=lambda e: (e.kind, e.record_id))
