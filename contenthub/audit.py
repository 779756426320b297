"""Audit log: who changed which asset, rule, plan, experiment, key or user, and when.

Written by the service functions that make the change (not by routes), so API, pages and CLI are all
covered; read by admins only. Entries are append-only documents.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel

from contenthub.hub import Hub
from contenthub.timeutil import to_iso, utcnow

COLLECTION = "audit"


class AuditEntry(BaseModel):
    id: str
    at: str
    actor: str
    action: str
    target_kind: str
    target_id: str
    details: dict[str, Any] = {}


def record(hub: Hub, actor: str, action: str, target_kind: str, target_id: str, **details: Any) -> None:
    at = to_iso(utcnow())
    entry_id = f"{at}-{secrets.token_hex(4)}"  # sorts by time
    entry = AuditEntry(
        id=entry_id, at=at, actor=actor, action=action, target_kind=target_kind, target_id=target_id, details=details
    )
    hub.store.put_doc(COLLECTION, entry_id, entry.model_dump(mode="json"), expected_version=0)


def entries(
    hub: Hub, *, target_kind: str | None = None, target_id: str | None = None, limit: int = 200, offset: int = 0
) -> list[AuditEntry]:
    where: dict[str, Any] = {}
    if target_kind:
        where["target_kind"] = target_kind
    if target_id:
        where["target_id"] = target_id
    total = hub.store.count_docs(COLLECTION, where=where)
    if offset >= total:
        return []
    n = min(limit, total - offset)
    # ids sort by time and list_docs returns them ascending: take the window from the end, newest first
    docs = hub.store.list_docs(COLLECTION, where=where, limit=n, offset=total - offset - n)
    return [AuditEntry.model_validate(d) for d in reversed(docs)]
