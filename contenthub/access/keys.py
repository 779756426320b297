"""API keys: shown once, stored only as a hash, revocable and rotatable.

Keys are 32 random bytes, so a fast SHA-256 is the right hash (no password stretching needed);
comparison is constant-time. Format ``chk_<key id>_<secret>`` lets lookup go by id.

Verified keys are remembered in memory for ``KEY_CACHE_TTL`` seconds (by the SHA-256 of the whole key,
never the key itself), so an API request does no database read to authenticate. Revoking or rotating a
key in this process forgets every remembered key at once; in another process (a second API process, the
CLI's ``contenthub keys revoke`` against a running server) the change takes effect within
``KEY_CACHE_TTL`` seconds. Failed look-ups are never remembered, so a new key works at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import weakref
from typing import Any

from pydantic import BaseModel

from contenthub.access.roles import Role
from contenthub.errors import InvalidError, NotFoundError
from contenthub.i18n import _
from contenthub.store.base import Store
from contenthub.timeutil import to_iso, utcnow

COLLECTION = "api_keys"
PREFIX = "chk_"
KEY_CACHE_TTL = 2.0  # seconds another process may keep accepting a key revoked or rotated elsewhere
_clock = time.monotonic


class KeyInfo(BaseModel):
    id: str
    name: str
    role: Role
    created_at: str
    revoked_at: str | None = None
    last_rotated_at: str | None = None


class Principal(BaseModel):
    key_id: str
    name: str
    role: Role
    via: str = "key"  # "key" or "session"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(store: Store, role: Role | str, name: str, *, secret: str | None = None) -> tuple[KeyInfo, str]:
    try:
        role = Role(role)
    except ValueError:
        raise InvalidError(
            _("Unknown role '{role}'.").format(role=role), field="role", value=role, allowed=[r.value for r in Role]
        ) from None
    name = name.strip() or role.value
    key_id = secrets.token_hex(6)
    secret = secret or secrets.token_urlsafe(32)
    info = KeyInfo(id=key_id, name=name[:80], role=role, created_at=to_iso(utcnow()))
    store.put_doc(COLLECTION, key_id, {**info.model_dump(mode="json"), "hash": _hash(secret)}, expected_version=0)
    return info, f"{PREFIX}{key_id}_{secret}"


def ensure_key(store: Store, full_key: str, role: Role, name: str) -> None:
    """Make a configured key (e.g. CONTENTHUB_BOOTSTRAP_ADMIN_KEY) valid; idempotent."""
    if verify(store, full_key) is not None:
        return
    if full_key.startswith(PREFIX) and full_key.count("_") >= 2:
        key_id, secret = full_key[len(PREFIX) :].split("_", 1)
    else:
        key_id, secret = "boot" + hashlib.sha256(full_key.encode()).hexdigest()[:8], None
    doc = {
        **KeyInfo(id=key_id, name=name, role=role, created_at=to_iso(utcnow())).model_dump(mode="json"),
        "hash": _hash(secret if secret is not None else full_key),
        "raw": secret is None,
    }
    store.put_doc(COLLECTION, key_id, doc)


def verify(store: Store, full_key: str) -> Principal | None:
    if not full_key:
        return None
    doc: dict[str, Any] | None = None
    secret = full_key
    if full_key.startswith(PREFIX) and full_key.count("_") >= 2:
        key_id, secret = full_key[len(PREFIX) :].split("_", 1)
        doc = store.get_doc(COLLECTION, key_id)
    if doc is None:
        doc = store.get_doc(COLLECTION, "boot" + hashlib.sha256(full_key.encode()).hexdigest()[:8])
        secret = full_key
    if doc is None or doc.get("revoked_at"):
        return None
    if not hmac.compare_digest(doc["hash"], _hash(secret)):
        return None
    return Principal(key_id=doc["id"], name=doc["name"], role=Role(doc["role"]))


class _VerifiedKeys:
    """Per store: SHA-256 of a full key → (expiry on the monotonic clock, principal). A generation number,
    bumped by every revoke and rotate, stops a look-up that raced with one from being remembered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self.by_store: weakref.WeakKeyDictionary[Any, dict[bytes, tuple[float, Principal]]] = (
            weakref.WeakKeyDictionary()
        )

    def forget_all(self) -> None:
        with self.lock:
            self.generation += 1
            for entries in self.by_store.values():
                entries.clear()


_verified = _VerifiedKeys()


def cache_key(full_key: str) -> bytes:
    return hashlib.sha256(full_key.encode()).digest()


def cached_principal(store: Store, digest: bytes, now: float | None = None) -> Principal | None:
    """The principal remembered for this key (by ``cache_key``), or None when not remembered or expired."""
    entries = _verified.by_store.get(store)
    if not entries:
        return None
    hit = entries.get(digest)
    if hit is None or hit[0] <= (_clock() if now is None else now):
        return None
    return hit[1]


def verify_and_remember(store: Store, full_key: str, digest: bytes | None = None) -> Principal | None:
    """``verify`` from the store; a valid key is remembered for ``KEY_CACHE_TTL`` seconds."""
    generation = _verified.generation
    principal = verify(store, full_key)
    if principal is not None:
        with _verified.lock:
            if _verified.generation == generation:  # no revoke/rotate ran meanwhile
                entries = _verified.by_store.setdefault(store, {})
                if len(entries) > 10_000:  # bounded: someone cycling through many valid keys
                    entries.clear()
                entries[digest or cache_key(full_key)] = (_clock() + KEY_CACHE_TTL, principal)
    return principal


def verify_cached(store: Store, full_key: str) -> Principal | None:
    digest = cache_key(full_key)
    return cached_principal(store, digest) or verify_and_remember(store, full_key, digest)


def forget_verified_keys() -> None:
    """Drop every remembered key of this process (after a revoke or rotate; tests)."""
    _verified.forget_all()


def list_keys(store: Store) -> list[KeyInfo]:
    return [KeyInfo.model_validate(d) for d in store.list_docs(COLLECTION)]


def revoke(store: Store, key_id: str) -> KeyInfo:
    found = store.get_doc_version(COLLECTION, key_id)
    if found is None:
        raise NotFoundError(_("No API key with id '{key_id}'.").format(key_id=key_id), field="key_id", value=key_id)
    doc, version = found
    doc["revoked_at"] = doc.get("revoked_at") or to_iso(utcnow())
    store.put_doc(COLLECTION, key_id, doc, expected_version=version)
    forget_verified_keys()
    return KeyInfo.model_validate(doc)


def rotate(store: Store, key_id: str) -> tuple[KeyInfo, str]:
    """New secret, same id, role and name: the old secret stops working at once."""
    found = store.get_doc_version(COLLECTION, key_id)
    if found is None or found[0].get("revoked_at"):
        raise NotFoundError(
            _("No active API key with id '{key_id}'.").format(key_id=key_id), field="key_id", value=key_id
        )
    doc, version = found
    secret = secrets.token_urlsafe(32)
    doc["hash"] = _hash(secret)
    doc["raw"] = False
    doc["last_rotated_at"] = to_iso(utcnow())
    store.put_doc(COLLECTION, key_id, doc, expected_version=version)
    forget_verified_keys()
    return KeyInfo.model_validate(doc), f"{PREFIX}{key_id}_{secret}"
