"""Right to erasure: a user and every trace of them — identities, profile, events, group memberships and
their share of kept group profiles, reservations, experiment exposures.

A module of its own because it reaches across the audience (users, groups, group profiles); ``users`` and
``groups`` import each other nowhere.
"""

from __future__ import annotations

from typing import Any

from contenthub.audience import group_profiles, groups, reservations, users
from contenthub.errors import NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.store.query import EventQuery


def erase_user(hub: Hub, user_id: str) -> dict[str, int]:
    """Right to erasure: identities, profile, events, memberships, reservations and exposures go.

    Ids merged into this user are erased with it. What remains is the audit entry saying it happened.
    """
    doc = users.find_user(hub, user_id)
    if doc is None:
        raise NotFoundError(_("No user '{user_id}'.").format(user_id=user_id), field="user_id", value=user_id)
    ids = [doc["id"], *doc.get("merged_from", [])]
    removed = {"identities": 0, "events": 0, "groups": 0, "reservations": 0, "exposures": 0}
    for uid, gids in group_profiles.groups_of_users(hub, ids).items():  # their share of kept group profiles
        for gid in gids:
            group_profiles.add_members(hub, gid, [], [uid])
            group_profiles.set_memberships(hub, gid, [], [uid])
    for ident in doc.get("identities", []):
        removed["identities"] += int(hub.store.delete_doc(users.IDENTITIES, f"{ident['type']}:{ident['value']}"))
    removed["events"] = hub.store.delete_events(EventQuery(user_ids=tuple(ids), limit=10**9))
    for uid in ids:
        hub.store.delete_counters(users.PROFILE, uid)
        for coll, field in (("reservations", "target"), ("exposures", "unit_id")):
            for d in hub.store.list_docs(coll, where={field: uid}, limit=100000):
                key = f"{d['experiment']}|{uid}" if coll == "exposures" else _reservation_key(d)
                removed[coll] += int(hub.store.delete_doc(coll, key))
        hub.store.delete_doc(users.USERS, uid)
    hub.touch(users.USERS)  # ingestion's memo of live user ids (recommend.events) forgets the erased ones
    for g in groups.list_groups(hub, limit=100000):
        if any(m.user_id in ids for m in g.members):
            found = hub.store.get_doc_version(groups.COLLECTION, g.id)
            if found:
                gdoc, version = found
                gdoc["members"] = [m for m in gdoc.get("members", []) if m["user_id"] not in ids]
                hub.store.put_doc(groups.COLLECTION, g.id, gdoc, expected_version=version)
                removed["groups"] += 1
    return removed


def _reservation_key(d: dict[str, Any]) -> str:
    if d.get("kind") == "cap":
        return f"cap|{d['target']}|{d['channel']}|{d['period']}|{d.get('slot', '')}"
    return reservations.claim_id(d["target"], d["channel"], d["asset_id"])
