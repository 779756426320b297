"""Pydantic models at the audience's edges: users, identities, groups, and the id rule they share."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    FiniteFloat,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from contenthub.i18n import _
from contenthub.timeutil import Instant

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


EntityId = Annotated[
    str,
    AfterValidator(_checked_id),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_RE, "description": f"An id: {ID_RULE}."}
    ),
]
"""A user or group id at the API's edge (``is_entity_id``)."""


class Identity(BaseModel):
    type: IdentityType
    value: str = Field(min_length=1, max_length=256)

    @field_validator("value")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError(_("identity value must not be empty"))
        return v

    @model_validator(mode="after")
    def _phone_digits(self) -> Identity:
        if self.type == "phone" and sum(ch.isdigit() for ch in self.value) < PHONE_MIN_DIGITS:
            raise ValueError(
                _("a phone number needs at least {PHONE_MIN_DIGITS} digits").format(PHONE_MIN_DIGITS=PHONE_MIN_DIGITS)
            )
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
            raise ValueError(_("give an id or at least one identity"))
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
