"""Journey definitions: create, edit (every save is a new immutable version), read, list, archive.

Why versions: a user in flight pins the version they entered with, so an editor can change waits,
steps or content while thousands of users are mid-journey and nobody skips or repeats a step. The
head document says what new entrants get; ``journey_versions`` keeps every version for the pinned.
Each save first creates the version document with create-if-absent (atomic on both backends), so two
editors saving at once cannot both become version N+1; the loser gets a 409.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime
from typing import Any

from contenthub.errors import ConflictError, InvalidError, NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.journeys import validation
from contenthub.journeys.models import Journey, JourneyIn, JourneyStatus, JourneySummary, VersionInfo
from contenthub.journeys.templates import TEMPLATES
from contenthub.labels import label
from contenthub.timeutil import to_iso, utcnow

JOURNEYS = "journeys"
VERSIONS = "journey_versions"
INDEX_TTL = 5.0
"""Seconds other processes may serve a stale list of running journeys after an edit elsewhere."""
DEF_CACHE = 1000


def clock(hub: Hub) -> datetime:
    """'Now' for hooks, the loop and the outbox; a simulation sets ``hub.cache['journeys_clock']`` to its own clock."""
    fn = hub.cache.get("journeys_clock")
    return fn() if fn else utcnow()


def _version_id(journey_id: str, version: int) -> str:
    return f"{journey_id}@{version}"


def _new_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    return f"{slug}-{secrets.token_hex(3)}" if slug else f"j-{secrets.token_hex(5)}"


def invalidate(hub: Hub) -> None:
    hub.cache.pop("journeys_index", None)


def get(hub: Hub, journey_id: str, version: int | None = None) -> Journey:
    if version is None:
        doc = hub.store.get_doc(JOURNEYS, journey_id)
        if doc is None:
            raise NotFoundError(
                _("No journey '{journey_id}'.").format(journey_id=journey_id), field="journey_id", value=journey_id
            )
        return Journey.model_validate(doc)
    return definition(hub, journey_id, version)


def definition(hub: Hub, journey_id: str, version: int) -> Journey:
    """A pinned version (immutable, so cached for the life of the process)."""
    cache: dict[tuple[str, int], Journey] = hub.cache.setdefault("journey_defs", {})
    found = cache.get((journey_id, version))
    if found is None:
        doc = hub.store.get_doc(VERSIONS, _version_id(journey_id, version))
        if doc is None:
            raise NotFoundError(
                _("Journey '{journey_id}' has no version {version}.").format(journey_id=journey_id, version=version),
                field="version",
                value=version,
            )
        found = Journey.model_validate(doc)
        if len(cache) >= DEF_CACHE:
            cache.clear()
        cache[(journey_id, version)] = found
    return found


def heads(hub: Hub) -> dict[str, Journey]:
    """Every journey's current head, cached for ``INDEX_TTL`` seconds (triggers and the engine ask often)."""
    cached = hub.cache.get("journeys_index")
    if cached is not None and time.monotonic() - cached[0] < INDEX_TTL:
        return cached[1]
    found = {d["id"]: Journey.model_validate(d) for d in hub.store.list_docs(JOURNEYS, limit=10000)}
    hub.cache["journeys_index"] = (time.monotonic(), found)
    return found


def active(hub: Hub) -> list[Journey]:
    return [j for j in heads(hub).values() if j.status == "active"]


PAUSABLE = frozenset({"active"})
"""Only a running journey can pause: a draft or archived journey has nothing in flight to hold."""


def next_statuses(status: str) -> list[str]:
    """The statuses a journey in ``status`` may move to (the console offers exactly these)."""
    return [
        s for s in ("active", "paused", "draft", "archived") if s != status and (s != "paused" or status in PAUSABLE)
    ]


def check_transition(current: str, wanted: str) -> None:
    if wanted not in next_statuses(current):
        raise InvalidError(
            _(
                "A {current} journey cannot be paused: only an active journey has users in flight to "
                "hold. Activate it first."
            ).format(current=label("journey_status", current)),
            field="status",
            value=wanted,
            allowed=next_statuses(current),
        )


def save(
    hub: Hub, data: JourneyIn, actor: str, *, journey_id: str | None = None, expected_version: int | None = None
) -> Journey:
    """Create (``journey_id`` None) or edit a journey; returns the new version."""
    validation.check(hub, data)
    now = to_iso(utcnow())
    creating = journey_id is None
    jid = journey_id or data.id or _new_id(data.name)
    if not creating and data.id not in (None, jid):
        raise InvalidError(
            _("id: the body says '{id}' but the URL edits '{jid}'.").format(id=data.id, jid=jid),
            field="id",
            value=data.id,
        )
    head = hub.store.get_doc(JOURNEYS, jid)
    if creating and head is not None:
        raise ConflictError(
            _("A journey '{jid}' already exists; edit it with PUT /v1/journeys/{jid}.").format(jid=jid),
            field="id",
            value=jid,
        )
    if not creating and head is None:
        raise NotFoundError(_("No journey '{jid}'.").format(jid=jid), field="journey_id", value=jid)
    current = int(head["version"]) if head else 0
    if head is not None and data.status != head.get("status"):
        check_transition(str(head.get("status")), data.status)
    if expected_version is not None and expected_version != current:
        raise ConflictError(
            _(
                "Journey '{jid}' is at version {current}, you edited version {expected_version}. Reload and apply your change again."
            ).format(jid=jid, current=current, expected_version=expected_version),
            field="expected_version",
            value=expected_version,
            extra={"current_version": current},
        )
    journey = Journey(
        **{**data.model_dump(), "id": jid},
        version=current + 1,
        created_at=head["created_at"] if head else now,
        updated_at=now,
        updated_by=actor,
    )
    doc = journey.model_dump(mode="json")
    try:
        hub.store.put_doc(VERSIONS, _version_id(jid, journey.version), doc, expected_version=0)
    except ConflictError:
        _repair_head(hub, jid, journey.version)
        raise ConflictError(
            _(
                "Journey '{jid}' was changed by someone else at the same time. Reload and apply your change again."
            ).format(jid=jid),
            field="expected_version",
            value=current,
        ) from None
    hub.store.put_doc(JOURNEYS, jid, doc)
    invalidate(hub)
    return journey


def _repair_head(hub: Hub, journey_id: str, version: int) -> None:
    """A version document without a matching head means a save died between its two writes: the
    version was accepted, so the head moves forward to it."""
    doc = hub.store.get_doc(VERSIONS, _version_id(journey_id, version))
    head = hub.store.get_doc(JOURNEYS, journey_id)
    if doc is not None and (head is None or int(head["version"]) < version):
        hub.store.put_doc(JOURNEYS, journey_id, doc)
        invalidate(hub)


def set_status(hub: Hub, journey_id: str, status: JourneyStatus, actor: str) -> Journey:
    j = get(hub, journey_id)
    if j.status == status:
        return j
    data = JourneyIn.model_validate({**j.model_dump(), "status": status})
    return save(hub, data, actor, journey_id=journey_id, expected_version=j.version)


def versions(hub: Hub, journey_id: str) -> list[VersionInfo]:
    head = get(hub, journey_id)
    docs = hub.store.get_docs(VERSIONS, [_version_id(journey_id, v) for v in range(1, head.version + 1)])
    out = [
        VersionInfo(
            version=d["version"], updated_at=d["updated_at"], updated_by=d.get("updated_by", ""), steps=len(d["steps"])
        )
        for d in docs.values()
    ]
    return sorted(out, key=lambda v: -v.version)


def list_journeys(hub: Hub) -> list[JourneySummary]:
    from contenthub.journeys import funnel

    out = []
    for j in sorted(heads(hub).values(), key=lambda j: (j.status == "archived", j.name)):
        totals = funnel.totals(hub, j.id, j.version)
        out.append(
            JourneySummary(
                id=j.id,
                name=j.name,
                status=j.status,
                version=j.version,
                trigger=j.trigger.kind,
                steps=len(j.steps),
                active_users=totals["active"],
                entered=totals["entered"],
                updated_at=j.updated_at,
            )
        )
    return out


def install_template(
    hub: Hub, template_id: str, actor: str, *, status: JourneyStatus = "draft", journey_id: str | None = None
) -> Journey:
    """Create an editable journey from one of the default templates."""

    if template_id not in TEMPLATES:
        raise NotFoundError(
            _("No journey template '{template_id}'.").format(template_id=template_id),
            field="template_id",
            value=template_id,
            allowed=sorted(TEMPLATES),
        )
    template = TEMPLATES[template_id]
    body: dict[str, Any] = {
        **template,
        "status": status,
        "id": journey_id or template_id,
        "name": _(template["name"]),
        "description": _(template["description"]),  # in the installer's language
        "steps": [{**st, "name": _(st["name"])} if st.get("name") else st for st in template["steps"]],
    }
    return save(hub, JourneyIn.model_validate(body), actor)
