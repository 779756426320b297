"""Pydantic models at the recommender's edges: events, users, identities, groups, picks."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema, FiniteFloat, field_validator, model_validator

from contenthub.timeutil import Instant
from contenthub.i18n import _

EventType = Literal[
    "served", "delivered", "open", "click", "favorite", "comment", "share", "add_to_cart", "convert",
    "mute", "unsubscribe", "delete",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
IdentityType = Literal["openid", "unionid", "external_userid", "member_id", "phone_hash", "cookie", "phone"]
IDENTITY_TYPES: tuple[str, ...] = IdentityType.__args__  # type: ignore[attr-defined]
PHONE_MIN_DIGITS = 6
GroupPurpose = Literal["broadcast", "conversion", "welfare", "community"]
ID_RE = r"^[A-Za-z0-9_\-.:@]{1,128}$"
_ID = re.compile(ID_RE)
ID_RULE = "1–128 letters, digits and _ - . : @, not '.' alone and without '..'"


def is_entity_id(value: object) -> bool:
    """The one rule for the ids users and groups are known by, however they arrive (events, PUT /v1/users,
    group members, journeys): each is one literal URL path segment, so no '/', '?', '#' or '..' that a link,
    a log line or a later DELETE would read as something else."""
    return type(value) is str and _ID.fullmatch(value) is not None and ".." not in value and value != "."


def _checked_id(value: str) -> str:
    if not is_entity_id(value):
        raise ValueError(_("'{value}' is not a valid id: use {ID_RULE}").format(value=value[:40], ID_RULE=ID_RULE))
    return value


EntityId = Annotated[str, AfterValidator(_checked_id),
                     WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_RE,
                                     "description": f"An id: {ID_RULE}."})]
"""A user or group id at the API's edge (``is_entity_id``)."""


class Identity(BaseModel):
    type: IdentityType
    value: str = Field(min_length=1, max_length=256)

    @field_validator("value")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError(_('identity value must not be empty'))
        return v

    @model_validator(mode="after")
    def _phone_digits(self) -> Identity:
        if self.type == "phone" and sum(ch.isdigit() for ch in self.value) < PHONE_MIN_DIGITS:
            raise ValueError(_('a phone number needs at least {PHONE_MIN_DIGITS} digits').format(PHONE_MIN_DIGITS=PHONE_MIN_DIGITS))
        return self


class UserIn(BaseModel):
    id: EntityId | None = Field(default=None, description="Our user id; omit to resolve/create by identity.")
    identities: list[Identity] = Field(default_factory=list, max_length=50)
    region: str | None = Field(default=None, max_length=64)
    source_channel: str | None = Field(default=None, max_length=64)
    member_level: str | None = Field(default=None, max_length=64)
    attributes: dict[str, str | int | FiniteFloat | bool | None] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="after")
    def _some_id(self) -> UserIn:
        if self.id is None and not self.identities:
            raise ValueError(_('give an id or at least one identity'))
        return self


class User(BaseModel):
    id: str
    identities: list[Identity] = Field(default_factory=list)
    region: str | None = None
    source_channel: str | None = None
    member_level: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    updated_at: str
    merged_from: list[str] = Field(default_factory=list)


class EventIn(BaseModel):
    id: str = Field(min_length=1, max_length=128, description="Unique per event: re-sending it changes nothing.")
    type: EventType
    user_id: EntityId | None = None
    identity: Identity | None = None
    asset_id: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="Omit for channel-wide events (e.g. an unsubscribe); never empty.")
    channel: str = Field(min_length=1, max_length=64)
    group_id: str | None = Field(default=None, min_length=1, max_length=128)
    recommendation_id: str | None = Field(default=None, min_length=1, max_length=128)
    ts: Instant | None = Field(default=None, description="When it happened (ISO 8601); default now.")
    value: float | None = Field(default=None, ge=-1e9, le=1e9)
    attributes: dict[str, str | int | FiniteFloat | bool | None] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _who(self) -> EventIn:
        if self.user_id is None and self.identity is None and self.group_id is None:
            raise ValueError(_('an event needs user_id, identity or group_id'))
        return self


class EventBatch(BaseModel):
    events: list[Any] = Field(max_length=10000, description="Up to 10,000 events (JSON objects, see EventIn). "
                              "Each is checked on its own: an entry that is not a valid event is listed in "
                              "`rejected` with its index and reason.")


class RejectedEvent(BaseModel):
    index: int
    id: str | None = None
    reason: str


class IngestResult(BaseModel):
    accepted: int = Field(description="Newly stored events.")
    duplicates: int = Field(description="Events whose id was already stored (counted once).")
    rejected: list[RejectedEvent] = Field(default_factory=list)


class GroupMember(BaseModel):
    user_id: str
    joined_at: str
    left_at: str | None = None


class GroupIn(BaseModel):
    id: EntityId
    name: str = Field(default="", max_length=200)
    channel: str = "wecom_group"
    purpose: GroupPurpose = "community"
    owner: str = Field(default="", max_length=128)


class Group(GroupIn):
    members: list[GroupMember] = Field(default_factory=list)
    created_at: str = ""


class MembershipChange(BaseModel):
    join: list[EntityId] = Field(default_factory=list, max_length=10000)
    leave: list[str] = Field(default_factory=list, max_length=10000)
    at: Instant | None = None


class Reason(BaseModel):
    kind: Literal["tags", "similar", "collaborative", "quality", "fresh", "lifecycle", "exploration", "cold_start",
                  "popular", "experiment", "topic", "type", "appeal"]
    detail: str
    weight: float = 0.0


class Pick(BaseModel):
    asset_id: str
    title: str
    kind: str
    scenes: list[str]
    content_type: str | None = None
    score: float
    recommendation_id: str
    reasons: list[Reason]
    signals: dict[str, float]
    propensity: float | None = Field(default=None, description=(
        "Probability that this policy, with its exploration, would have chosen this asset here (logged with "
        "the served record so later policies can be evaluated offline)."))


class Recommendation(BaseModel):
    target: str
    target_kind: Literal["user", "group"]
    channel: str
    strategy: str
    picks: list[Pick]
    capped: bool = False
    reason: str | None = None
    next_allowed_at: str | None = None
    stage: str | None = None
    variant: str | None = None
    reserved: bool = Field(default=False, description="True when the pick holds a cap slot (reserve=true).")
