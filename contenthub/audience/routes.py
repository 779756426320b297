"""HTTP routes of the audience: users, identities, groups, caps, lifecycle rules, segments.

Same ``/v1`` prefix and ``recommend`` tag as before the audience moved out of recommend/, so URLs and the
OpenAPI document stay as they were."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from contenthub import audit
from contenthub.access.keys import Principal
from contenthub.access.roles import Perm
from contenthub.audience import caps, erasure, groups, lifecycle, overview, segments, users
from contenthub.audience.models import (
    IDENTITY_TYPES,
    Group,
    GroupIn,
    Identity,
    MembershipChange,
    User,
    UserIn,
)
from contenthub.deps import HubDep, require
from contenthub.errors import GoneError, InvalidError, NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _

router = APIRouter(prefix="/v1", tags=["recommend"])

AudienceReader = Annotated[Principal, Depends(require(Perm.audience_read))]
AudienceWriter = Annotated[Principal, Depends(require(Perm.audience_write))]
Admin = Annotated[Principal, Depends(require(Perm.admin))]


@router.put("/users", response_model=User, summary="Create or update a user with identities (merges when needed)")
def upsert_user(body: UserIn, hub: HubDep, who: AudienceWriter) -> User:
    return users.upsert_user(hub, body)


@router.delete("/users/{user_id}", summary="Erase a user: identities, profile, events, memberships (logged)")
def erase_user(user_id: str, hub: HubDep, who: Admin) -> dict[str, Any]:
    removed = erasure.erase_user(hub, user_id)
    audit.record(hub, who.name, "erase", "user", user_id, **removed)
    return {"erased": user_id, "removed": removed}


@router.get("/users/{user_id}", response_model=User)
def get_user(user_id: str, hub: HubDep, who: AudienceReader) -> User:
    return users.get_user(hub, user_id)


@router.get("/users/{user_id}/profile", summary="Engagement tags, lifecycle stage and tier, recent events")
def get_profile(user_id: str, hub: HubDep, who: AudienceReader) -> dict[str, Any]:
    ov = overview.user_overview(hub, user_id)
    return {
        **{k: v for k, v in ov.items() if k not in ("user", "last_event")},
        "user": ov["user"].model_dump(),
        "tags": [{"label": a, "facet": b, "weight": c} for a, b, c in ov["tags"]],
    }


@router.post("/users/{user_id}/identities", response_model=User, summary="Link an identity (merging users)")
def link_identity(user_id: str, ident: Identity, hub: HubDep, who: AudienceWriter) -> User:
    return users.link_identity(hub, user_id, ident)


@router.post(
    "/identities/lookup",
    response_model=User,
    summary="Find a user by an identity (phone numbers too)",
    description="The identity travels in the body, so a phone number never lands in a URL or an access log.",
)
def lookup_identity(ident: Identity, hub: HubDep, who: AudienceReader) -> User:
    return _user_with(hub, ident)


@router.get(
    "/identities/{identity_type}/{value}",
    response_model=User,
    summary="Find a user by an identity (not phone)",
    responses={410: {"description": "Phone numbers are looked up with POST /v1/identities/lookup"}},
)
def find_by_identity(identity_type: str, value: str, hub: HubDep, who: AudienceReader) -> User:
    if identity_type == "phone":
        raise GoneError(
            _(
                'Look phone numbers up with POST /v1/identities/lookup and a body {"type": "phone", "value": "..."}: a number in a URL ends up in access logs.'
            ),
            field="identity_type",
            value=identity_type,
        )
    if identity_type not in IDENTITY_TYPES:
        raise InvalidError(
            _("Unknown identity type '{identity_type}'.").format(identity_type=identity_type),
            field="identity_type",
            value=identity_type,
            allowed=list(IDENTITY_TYPES),
        )
    return _user_with(hub, Identity(type=identity_type, value=value))


def _user_with(hub: Hub, ident: Identity) -> User:
    uid = users.resolve_identity(hub, ident, create=False)
    if uid is None:
        raise NotFoundError(_("No user has this identity."), field="identity")
    return users.get_user(hub, uid)


@router.put("/groups", response_model=Group)
def upsert_group(body: GroupIn, hub: HubDep, who: AudienceWriter) -> Group:
    return groups.upsert_group(hub, body)


@router.get("/groups", response_model=list[Group])
def list_groups(
    hub: HubDep,
    who: AudienceReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Group]:
    return groups.list_groups(hub, limit, offset)


@router.get("/groups/{group_id}", response_model=Group)
def get_group(group_id: str, hub: HubDep, who: AudienceReader) -> Group:
    return groups.get_group(hub, group_id)


@router.post("/groups/{group_id}/members", response_model=Group, summary="Members join or leave")
def change_members(group_id: str, body: MembershipChange, hub: HubDep, who: AudienceWriter) -> Group:
    return groups.change_members(hub, group_id, body)


@router.get("/caps", response_model=list[caps.CapRule], tags=["caps"])
def list_caps(hub: HubDep, who: AudienceReader) -> list[caps.CapRule]:
    return caps.all_rules(hub)


@router.put("/caps/{channel}", response_model=caps.CapRule, tags=["caps"])
def put_cap(channel: str, body: caps.CapRule, hub: HubDep, who: Admin) -> caps.CapRule:
    if body.channel != channel:
        raise InvalidError(
            _("The body's channel '{channel}' differs from the URL's '{channel2}'.").format(
                channel=body.channel, channel2=channel
            ),
            field="channel",
        )
    audit.record(hub, who.name, "put", "cap_rule", channel, **body.model_dump(exclude={"channel", "note"}))
    return caps.put_rule(hub, body)


@router.get("/lifecycle-rules", response_model=lifecycle.LifecycleRules, tags=["caps"])
def get_lifecycle_rules(hub: HubDep, who: AudienceReader) -> lifecycle.LifecycleRules:
    return lifecycle.get_rules(hub)


@router.put("/lifecycle-rules", response_model=lifecycle.LifecycleRules, tags=["caps"])
def put_lifecycle_rules(body: lifecycle.LifecycleRules, hub: HubDep, who: AudienceWriter) -> lifecycle.LifecycleRules:
    audit.record(hub, who.name, "put", "lifecycle_rules", "default")
    return lifecycle.put_rules(hub, body)


@router.put("/segments/{segment_id}", response_model=segments.Segment, tags=["segments"])
def put_segment(segment_id: str, body: segments.SegmentIn, hub: HubDep, who: AudienceWriter) -> segments.Segment:
    audit.record(hub, who.name, "put", "segment", segment_id)
    return segments.put_segment(hub, segment_id, body)


@router.get("/segments", response_model=list[segments.SegmentCount], tags=["segments"])
def list_segments(hub: HubDep, who: AudienceReader) -> list[segments.SegmentCount]:
    return segments.list_with_counts(hub)


@router.get("/segments/{segment_id}", response_model=segments.SegmentCount, tags=["segments"])
def get_segment(
    segment_id: str, hub: HubDep, who: AudienceReader, sample: Annotated[int, Query(ge=0, le=100)] = 10
) -> segments.SegmentCount:
    return segments.count(hub, segments.get_segment(hub, segment_id), sample=sample)
