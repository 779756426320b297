"""API keys: shown once, stored only as a hash, revocable and rotatable.

Keys are 32 random bytes, so a fast SHA-256 is the right hash (no password stretching needed);
comparison is constant-time. Format ``chk_<key id>_<secret>`` lets lookup go by id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from pydantic import BaseModel

from contenthub.access.roles import Role
from contenthub.errors import InvalidError, NotFoundError
from contenthub.store.base import Store
from contenthub.timeutil import to_iso, utcnow

COLLECTION = "api_keys"
PREFIX = "chk_"


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
        raise InvalidError(f"Unknown role '{role}'.", field="role", value=role, allowed=[r.value for r in Role]) from None
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
        key_id, secret = full_key[len(PREFIX):].split("_", 1)
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
        key_id, secret = full_key[len(PREFIX):].split("_", 1)
        doc = store.get_doc(COLLECTION, key_id)
    if doc is None:
        doc = store.get_doc(COLLECTION, "boot" + hashlib.sha256(full_key.encode()).hexdigest()[:8])
        secret = full_key
    if doc is None or doc.get("revoked_at"):
        return None
    if not hmac.compare_digest(doc["hash"], _hash(secret)):
        return None
    return Principal(key_id=doc["id"], name=doc["name"], role=Role(doc["role"]))


def list_keys(store: Store) -> list[KeyInfo]:
    return [KeyInfo.model_validate(d) for d in store.list_docs(COLLECTION)]


def revoke(store: Store, key_id: str) -> KeyInfo:
    found = store.get_doc_version(COLLECTION, key_id)
    if found is None:
        raise NotFoundError(f"No API key with id '{key_id}'.", field="key_id", value=key_id)
    doc, version = found
    doc["revoked_at"] = doc.get("revoked_at") or to_iso(utcnow())
    store.put_doc(COLLECTION, key_id, doc, expected_version=version)
    return KeyInfo.model_validate(doc)


def rotate(store: Store, key_id: str) -> tuple[KeyInfo, str]:
    """New secret, same id, role and name: the old secret stops working at once."""
    found = store.get_doc_version(COLLECTION, key_id)
    if found is None or found[0].get("revoked_at"):
        raise NotFoundError(f"No active API key with id '{key_id}'.", field="key_id", value=key_id)
    doc, version = found
    secret = secrets.token_urlsafe(32)
    doc["hash"] = _hash(secret)
    doc["raw"] = False
    doc["last_rotated_at"] = to_iso(utcnow())
    store.put_doc(COLLECTION, key_id, doc, expected_version=version)
    return KeyInfo.model_validate(doc), f"{PREFIX}{key_id}_{secret}"
