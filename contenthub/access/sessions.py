"""Console sessions, kept on the server: the cookie holds a random session id, never anything of the key.

Why server-side: a signed cookie that carries the key's id and stored hash stays valid until it expires,
whatever logout does, and hands whoever reads it the very hash the database keeps. Here the store keeps
only the SHA-256 of the session id (reading the store does not yield a usable cookie); logout deletes
that record, so the old cookie stops working at once; a revoked or rotated key ends its sessions too.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from contenthub.access import keys
from contenthub.access.keys import Principal
from contenthub.access.roles import Role
from contenthub.store.base import Store
from contenthub.timeutil import to_iso, utcnow

COLLECTION = "sessions"
MAX_AGE = timedelta(days=7)


def _record_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(store: Store, principal: Principal) -> str:
    """A new session for a verified key; returns the id the cookie carries."""
    key_doc = store.get_doc(keys.COLLECTION, principal.key_id) or {}
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    store.put_doc(
        COLLECTION,
        _record_id(session_id),
        {
            "key_id": principal.key_id,
            "key_hash": key_doc.get("hash"),
            "created_at": to_iso(now),
            "expires_at": to_iso(now + MAX_AGE),
        },
        expected_version=0,
    )
    return session_id


def principal_of(store: Store, session_id: str) -> Principal | None:
    """The principal of a live session: not ended, not expired, its key neither revoked nor rotated since."""
    if not session_id:
        return None
    record = store.get_doc(COLLECTION, _record_id(session_id))
    if record is None:
        return None
    if record.get("expires_at", "") <= to_iso(utcnow()):
        store.delete_doc(COLLECTION, _record_id(session_id))  # expired: gone for good
        return None
    doc = store.get_doc(keys.COLLECTION, str(record["key_id"]))
    if doc and not doc.get("revoked_at") and doc.get("hash") == record.get("key_hash"):
        return Principal(key_id=doc["id"], name=doc["name"], role=Role(doc["role"]), via="session")
    return None


def end(store: Store, session_id: str) -> None:
    if session_id:
        store.delete_doc(COLLECTION, _record_id(session_id))
