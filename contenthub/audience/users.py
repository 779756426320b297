"""Unified user ids (统一用户ID): every identity a person has maps onto one user.

An identity seen for the first time creates a user; linking an identity that already belongs to
another user merges the two — identities, events and profile counters move over, nothing is lost.
Raw phone numbers are never stored: they become salted hashes on the way in.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

from contenthub import doccache
from contenthub.audience.models import Identity, User, UserIn
from contenthub.config import PHONE_SALT_FILE
from contenthub.errors import NotFoundError
from contenthub.hooks import IdentityLinked, UserCreated
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.timeutil import to_iso, utcnow

USERS = "users"
IDENTITIES = "identities"
PROFILE = "profile"
MERGED_INTO = "merged_into"
"""The field of a merged user's document naming the user it was merged into."""
MERGE_HOPS = 10
"""How many merges a look-up follows (a chain longer than this is taken as a loop)."""

FIRST_EVENT = "first_event_at"
"""The user document's field holding the time of the user's earliest event (``note_earliest_events``)."""
FIRST_SEEN_FIELDS = ("created_at", FIRST_EVENT)
"""What "first seen" is the earliest of (``first_seen``; the batch reads these columns and takes their minimum)."""


def first_seen(doc: Mapping[str, Any] | None) -> str | None:
    """When the user was first seen: the earlier of the record's creation and the user's earliest event.

    Why not the creation alone: users imported with months of back-dated history (a CRM export, a
    migration) were created today, so the lifecycle called all of them "new" and its weight became a
    fixed boost for onboarding content. The one rule for the per-user (``profiles``) and batch paths."""
    stamps = [s for s in (doc.get(f) for f in FIRST_SEEN_FIELDS) if s] if doc else []
    return min(stamps) if stamps else None  # stored stamps (one UTC format) compare as the times they name


_EARLIEST_KEY = "audience.users.earliest"  # the process memo of each user's first seen (doccache)
_EARLIEST_TTL = 3600.0  # the memo only saves reads: a stale entry costs a read, never a wrong write
_EARLIEST_MAX = 1_000_000  # entries before the memo starts over (bounds its memory)


def _first_seen_memo(hub: Hub) -> dict[str, str]:
    """This process's memo: user id → a stamp the user was first seen no later than."""
    known: dict[str, str] = doccache.cached(hub, USERS, _EARLIEST_KEY, dict, ttl=_EARLIEST_TTL)
    if len(known) > _EARLIEST_MAX:
        known.clear()
    return known


def note_earliest_events(
    hub: Hub, earliest: Mapping[str, str], *, read: Mapping[str, tuple[dict[str, Any], int]] | None = None
) -> None:
    """Keep each user's earliest event time on the user document, for ``first_seen``: a user whose batch
    holds an event older than anything known of them gets it written (ingestion's ``earliest``: stored
    user id → the batch's oldest stamp). Kept on the document, not read from the event log, so that
    profiles and the batch learn it with the read of the user they make anyway. Users already known (in
    the process memo) to be first seen no later than the batch's oldest event cost no read: the steady
    state, where events arrive newer than the user. ``read``: user documents with their versions the
    caller read in this batch already (ingestion's look-up of the batch's users) — taken as the first
    compare-and-set's input instead of reading them again."""
    known = _first_seen_memo(hub)
    older = {u: ts for u, ts in earliest.items() if ts < known.get(u, "~")}  # '~' sorts after every stamp
    given = {u: read[u] for u in older if u in read} if read else {}
    for _attempt in range(3):  # a writer that changed one of these users meanwhile: read it again, write again
        unread = sorted(u for u in older if u not in given)
        stored = {**given, **(hub.store.get_docs_versioned(USERS, unread) if unread else {})}
        given = {}
        write: dict[str, tuple[dict[str, Any], int | None]] = {}
        for uid, (doc, version) in stored.items():
            seen = first_seen(doc)
            ts = older[uid]
            if doc.get(MERGED_INTO) or (seen is not None and seen <= ts):
                known[uid] = seen or ts
                continue
            write[uid] = ({**doc, FIRST_EVENT: ts}, version)
        # compare-and-set, in one round of writes: a profile or merge written meanwhile is not overwritten
        raced = hub.store.put_docs_if(USERS, write) if write else set()
        for uid in write.keys() - raced:
            known[uid] = older[uid]
        older = {u: older[u] for u in raced}
        if not older:
            return


def _phone_salt(hub: Hub) -> str:
    salt = hub.settings.phone_salt
    if salt:
        return salt
    path = hub.settings.data_dir / PHONE_SALT_FILE
    if path.exists():
        return path.read_text().strip()
    salt = secrets.token_hex(16)
    path.write_text(salt)
    path.chmod(0o600)
    return salt


def normalise_identity(hub: Hub, ident: Identity) -> Identity:
    if ident.type == "phone":
        digits = "".join(ch for ch in ident.value if ch.isdigit())  # at least PHONE_MIN_DIGITS (Identity checks)
        hashed = hashlib.sha256((_phone_salt(hub) + digits[-11:]).encode()).hexdigest()
        return Identity(type="phone_hash", value=hashed)
    return ident


def identity_key(ident: Identity) -> str:
    return f"{ident.type}:{ident.value}"


def new_user_id() -> str:
    return "u_" + secrets.token_hex(8)


def get_user(hub: Hub, user_id: str) -> User:
    doc = hub.store.get_doc(USERS, user_id)
    if doc is None:
        raise NotFoundError(_("No user '{user_id}'.").format(user_id=user_id), field="user_id", value=user_id)
    if doc.get(MERGED_INTO):
        return get_user(hub, doc[MERGED_INTO])
    return User.model_validate(doc)


def iter_users(hub: Hub, *, page: int = 1000) -> Iterator[dict[str, Any]]:
    """Every user document except those merged into another (their history lives with the survivor)."""
    offset = 0
    while batch := hub.store.list_docs(USERS, limit=page, offset=offset):
        offset += len(batch)
        yield from (doc for doc in batch if not doc.get(MERGED_INTO))


def find_user(hub: Hub, user_id: str) -> dict[str, Any] | None:
    """Follow merges: an old id keeps working after its user was merged into another."""
    seen = 0
    doc = hub.store.get_doc(USERS, user_id)
    while doc is not None and doc.get(MERGED_INTO) and seen < MERGE_HOPS:
        doc = hub.store.get_doc(USERS, doc[MERGED_INTO])
        seen += 1
    return doc


def find_users(hub: Hub, user_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """``find_user`` for many ids: one read, then the merged ones followed one by one."""
    found = hub.store.get_docs(USERS, user_ids)
    return {uid: _followed(hub, uid, found.get(uid)) for uid in user_ids}


def _followed(hub: Hub, uid: str, doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A user document already read, or for a merged id the user it was merged into (``find_user``)."""
    return find_user(hub, uid) if doc is not None and doc.get(MERGED_INTO) else doc


def resolve_identity(hub: Hub, ident: Identity, *, create: bool = True, at: str | None = None) -> str | None:
    ident = normalise_identity(hub, ident)
    doc = hub.store.get_doc(IDENTITIES, identity_key(ident))
    if doc is not None:
        user = find_user(hub, doc["user_id"])
        return user["id"] if user else doc["user_id"]
    if not create:
        return None
    now = to_iso(utcnow())
    user_id = new_user_id()
    hub.store.put_doc(
        USERS,
        user_id,
        User(id=user_id, identities=[ident], created_at=at or now, updated_at=now).model_dump(mode="json"),
    )
    hub.store.put_doc(IDENTITIES, identity_key(ident), {"user_id": user_id, **ident.model_dump()})
    hub.hooks.emit(UserCreated(hub, user_id, at or now))
    hub.hooks.emit(IdentityLinked(hub, user_id, ident.type, at or now))
    return user_id


def ensure_user(hub: Hub, user_id: str, *, at: str | None = None) -> str:
    return ensure_users(hub, {user_id: at})[user_id]


def ensure_users(
    hub: Hub, first_seen: dict[str, str | None], *, found: Mapping[str, dict[str, Any] | None] | None = None
) -> dict[str, str]:
    """Each id's stored user (following merges), creating the missing ones as first seen at the time
    given: one read and one round of creates for a batch (a page of due sends' served records names a
    few hundred users the store may not hold yet), not a look-up and a write per user. ``found``: the
    stored documents (None: absent) of ids the caller read already (ingestion's look-up of its batch's
    users), not read again. A user created here is remembered as first seen at its creation, so
    ``note_earliest_events`` reads it only for an event older than that."""
    given = found or {}
    unread = [uid for uid in first_seen if uid not in given]
    stored = {
        **(find_users(hub, unread) if unread else {}),
        **{uid: _followed(hub, uid, doc) for uid, doc in given.items()},
    }
    out: dict[str, str] = {}
    new: dict[str, tuple[dict[str, Any], int | None]] = {}
    now = to_iso(utcnow())
    for uid, at in first_seen.items():
        doc = stored.get(uid)
        if doc is None:
            new[uid] = (User(id=uid, created_at=at or now, updated_at=now).model_dump(mode="json"), 0)
        else:
            out[uid] = doc["id"]
    raced = hub.store.put_docs_if(USERS, new) if new else set()
    known = _first_seen_memo(hub)
    for uid, (doc, _version) in new.items():
        if uid in raced:  # created meanwhile by another writer (or merged since): read what is there
            out[uid] = (find_user(hub, uid) or {"id": uid})["id"]
            continue
        known[uid] = doc["created_at"]
        hub.hooks.emit(UserCreated(hub, uid, doc["created_at"]))
        out[uid] = uid
    return out


def upsert_user(hub: Hub, data: UserIn) -> User:
    """Create or update a user; every identity given is linked (merging users when needed)."""
    idents = [normalise_identity(hub, i) for i in data.identities]
    user_id = data.id
    if user_id is None:
        for ident in idents:
            found = hub.store.get_doc(IDENTITIES, identity_key(ident))
            if found:
                user_id = (find_user(hub, found["user_id"]) or {"id": found["user_id"]})["id"]
                break
    user_id = ensure_user(hub, user_id or new_user_id())
    doc = find_user(hub, user_id) or {}
    for field in ("region", "source_channel", "member_level"):
        value = getattr(data, field)
        if value is not None:
            doc[field] = value
    doc["attributes"] = {**doc.get("attributes", {}), **data.attributes}
    doc["updated_at"] = to_iso(utcnow())
    hub.store.put_doc(USERS, doc["id"], doc)
    for ident in idents:
        link_identity(hub, doc["id"], ident)
    return get_user(hub, doc["id"])


def link_identity(hub: Hub, user_id: str, ident: Identity) -> User:
    ident = normalise_identity(hub, ident)
    target = find_user(hub, user_id)
    if target is None:
        raise NotFoundError(_("No user '{user_id}'.").format(user_id=user_id), field="user_id", value=user_id)
    key = identity_key(ident)
    existing = hub.store.get_doc(IDENTITIES, key)
    if existing is not None:
        owner = find_user(hub, existing["user_id"])
        if owner is not None and owner["id"] != target["id"]:
            merge_users(hub, keep=target["id"], absorb=owner["id"])
            target = find_user(hub, target["id"]) or target
    hub.store.put_doc(IDENTITIES, key, {"user_id": target["id"], **ident.model_dump()})
    if ident.model_dump() not in target.get("identities", []):
        target.setdefault("identities", []).append(ident.model_dump())
        target["updated_at"] = to_iso(utcnow())
        hub.store.put_doc(USERS, target["id"], target)
        hub.hooks.emit(IdentityLinked(hub, target["id"], ident.type))
    return User.model_validate(target)


def merge_users(hub: Hub, *, keep: str, absorb: str) -> None:
    """Move everything of ``absorb`` onto ``keep``; the absorbed id stays as a pointer."""
    if keep == absorb:
        return
    a = hub.store.get_doc(USERS, keep)
    b = hub.store.get_doc(USERS, absorb)
    if a is None or b is None:
        raise NotFoundError(_("Both users must exist to merge."), field="user_id")
    for ident in b.get("identities", []):
        hub.store.put_doc(IDENTITIES, f"{ident['type']}:{ident['value']}", {"user_id": keep, **ident})
        if ident not in a.setdefault("identities", []):
            a["identities"].append(ident)
    for field in ("region", "source_channel", "member_level"):
        a[field] = a.get(field) or b.get(field)
    a["attributes"] = {**b.get("attributes", {}), **a.get("attributes", {})}
    a["created_at"] = min(a["created_at"], b["created_at"])
    if earliest := [d[FIRST_EVENT] for d in (a, b) if d.get(FIRST_EVENT)]:
        a[FIRST_EVENT] = min(earliest)  # the absorbed user's events move over, and so does their first
    a["merged_from"] = sorted({*a.get("merged_from", []), absorb, *b.get("merged_from", [])})
    a["updated_at"] = to_iso(utcnow())
    hub.store.reassign_events(absorb, keep)
    moved = hub.store.get_counters(PROFILE, absorb)
    if moved:
        hub.store.add_to_counters(PROFILE, [(keep, f, v) for f, v in moved.items()])
        hub.store.delete_counters(PROFILE, absorb)
    hub.store.put_doc(USERS, keep, a)
    hub.store.put_doc(USERS, absorb, {**b, MERGED_INTO: keep, "identities": [], "updated_at": a["updated_at"]})
    hub.touch(USERS)  # ingestion's memo of live user ids (recommend.events) forgets the absorbed one
