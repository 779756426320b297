"""A user at a glance: what the user page and ``GET /v1/users/{id}/profile`` show (tags, stage, recent events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contenthub.audience import groups, users
from contenthub.audience.profiles import load_profile
from contenthub.hub import Hub
from contenthub.library.feature_names import feature_names
from contenthub.timeutil import from_iso, utcnow


def user_overview(hub: Hub, user_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything the user profile page shows (tags, stage, recent events)."""
    now = now or utcnow()
    user = users.get_user(hub, user_id)
    profile = load_profile(hub, user_id=user.id, user_doc=user.model_dump(), now=now)
    names = feature_names(hub)
    return {
        "user": user,
        "status": profile.status,
        "tags": [(names.get(k, k[2:]), k[:1], round(v, 3)) for k, v in profile.top_tags(15)],
        "counts": {k[2:]: int(v) for k, v in sorted(profile.counts.items())},
        "events": profile.events[:30],
        "groups": groups.groups_of(hub, user.id),
        "first_seen": user.created_at,
        "last_event": from_iso(profile.events[0]["ts"]) if profile.events else None,
    }
