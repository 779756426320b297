"""Groups (社群): WeCom customer groups and similar, with members' join and leave times.

Each membership change also updates the group's kept profile (``group_profiles``): what the group is
answered from, so next content for a group never loads its members.
"""

from __future__ import annotations

from contenthub.audience import group_profiles, users
from contenthub.audience.models import Group, GroupIn, GroupMember, MembershipChange
from contenthub.errors import NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import taxonomy
from contenthub.timeutil import to_iso, utcnow

COLLECTION = "groups"


def upsert_group(hub: Hub, data: GroupIn) -> Group:
    taxonomy.validate_values(hub.store, "channel", "channels", [data.channel])
    existing = hub.store.get_doc(COLLECTION, data.id)
    members = existing.get("members", []) if existing else []
    created = existing.get("created_at") if existing else to_iso(utcnow())
    group = Group(**data.model_dump(), members=members, created_at=created)
    hub.store.put_doc(COLLECTION, data.id, group.model_dump())
    return group


def get_group(hub: Hub, group_id: str) -> Group:
    doc = hub.store.get_doc(COLLECTION, group_id)
    if doc is None:
        raise NotFoundError(_("No group '{group_id}'.").format(group_id=group_id), field="group_id", value=group_id)
    return Group.model_validate(doc)


def list_groups(hub: Hub, limit: int = 200, offset: int = 0) -> list[Group]:
    return [Group.model_validate(d) for d in hub.store.list_docs(COLLECTION, limit=limit, offset=offset)]


def change_members(hub: Hub, group_id: str, change: MembershipChange) -> Group:
    found = hub.store.get_doc_version(COLLECTION, group_id)
    if found is None:
        raise NotFoundError(_("No group '{group_id}'.").format(group_id=group_id), field="group_id", value=group_id)
    doc, version = found
    at = to_iso(change.at or utcnow())
    members = [GroupMember.model_validate(m) for m in doc.get("members", [])]
    current: dict[str, GroupMember] = {m.user_id: m for m in members if m.left_at is None}
    joined: list[str] = []
    left: list[str] = []
    for uid in change.join:
        uid = users.ensure_user(hub, uid, at=at)
        if uid not in current:
            m = GroupMember(user_id=uid, joined_at=at)
            members.append(m)
            current[uid] = m
            joined.append(uid)
    for uid in change.leave:
        leaving = current.pop(uid, None)
        if leaving is not None:
            leaving.left_at = at
            if uid in joined:  # joined and left in one change: no share to keep
                joined.remove(uid)
            else:
                left.append(uid)
    doc["members"] = [m.model_dump() for m in members]
    hub.store.put_doc(COLLECTION, group_id, doc, expected_version=version)
    group_profiles.set_memberships(hub, group_id, joined, left)
    group_profiles.add_members(hub, group_id, joined, left)
    return Group.model_validate(doc)


def current_members(group: Group) -> list[str]:
    return [m.user_id for m in group.members if m.left_at is None]


def groups_of(hub: Hub, user_id: str) -> list[str]:
    """Groups a user is currently in (scan; groups are few compared with users)."""
    out = []
    for d in hub.store.list_docs(COLLECTION, limit=100000):
        if any(m["user_id"] == user_id and m.get("left_at") is None for m in d.get("members", [])):
            out.append(d["id"])
    return out
