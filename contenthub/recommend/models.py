"""Pydantic models at the recommender's edges: events, users, identities, groups, picks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, FiniteFloat, field_validator, model_validator

EventType = Literal[
    "served", "delivered", "open", "click", "favorite", "comment", "share", "add_to_cart", "convert",
    "mute", "unsubscribe", "delete",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
IdentityType = Literal["openid", "unionid", "external_userid", "member_id", "phone_hash", "cookie", "phone"]
IDENTITY_TYPES: tuple[str, ...] = IdentityType.__args__  # type: ignore[attr-defined]
GroupPurpose = Literal["broadcast", "conversion", "welfare", "community"]
ID_RE = r"^[A-Za-z0-9_\-.:@]{1,128}$"


class Identity(BaseModel):
    type: IdentityType
    value: str = Field(min_length=1, max_length=256)

    @field_validator("value")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("identity value must not be empty")
        return v


class UserIn(BaseModel):
    id: str | None = Field(default=None, pattern=ID_RE, description="Our user id; omit to resolve/create by identity.")
    identities: list[Identity] = Field(default_factory=list, max_length=50)
    region: str | None = Field(default=None, max_length=64)
    source_channel: str | None = Field(default=None, max_length=64)
    member_level: str | None = Field(default=None, max_length=64)
    attributes: dict[str, str | int | FiniteFloat | bool | None] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="after")
    def _some_id(self) -> UserIn:
        if self.id is None and not self.identities:
            raise ValueError("give an id or at least one identity")
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
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    identity: Identity | None = None
    asset_id: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="Omit for channel-wide events (e.g. an unsubscribe); never empty.")
    channel: str = Field(min_length=1, max_length=64)
    group_id: str | None = Field(default=None, min_length=1, max_length=128)
    recommendation_id: str | None = Field(default=None, min_length=1, max_length=128)
    ts: datetime | None = Field(default=None, description="When it happened (ISO 8601); default now.")
    value: float | None = Field(default=None, ge=-1e9, le=1e9)
    attributes: dict[str, str | int | FiniteFloat | bool | None] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _who(self) -> EventIn:
        if self.user_id is None and self.identity is None and self.group_id is None:
            raise ValueError("an event needs user_id, identity or group_id")
        return self


class EventBatch(BaseModel):
    events: list[dict[str, Any]] = Field(max_length=10000, description="Up to 10,000 events.")


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
    id: str = Field(pattern=ID_RE)
    name: str = Field(default="", max_length=200)
    channel: str = "wecom_group"
    purpose: GroupPurpose = "community"
    owner: str = Field(default="", max_length=128)


class Group(GroupIn):
    members: list[GroupMember] = Field(default_factory=list)
    created_at: str = ""


class MembershipChange(BaseModel):
    join: list[str] = Field(default_factory=list, max_length=10000)
    leave: list[str] = Field(default_factory=list, max_length=10000)
    at: datetime | None = None


class Reason(BaseModel):
    kind: Literal["tags", "similar", "collaborative", "quality", "fresh", "lifecycle", "exploration", "cold_start",
                  "popular", "experiment", "topic", "type"]
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
