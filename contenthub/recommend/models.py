"""Pydantic models at the recommender's edges: events and picks (users, identities and groups: audience.models)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, FiniteFloat, model_validator

from contenthub.audience.models import EntityId, Identity
from contenthub.i18n import _
from contenthub.timeutil import Instant

EventType = Literal[
    "served",
    "delivered",
    "open",
    "click",
    "favorite",
    "comment",
    "share",
    "add_to_cart",
    "convert",
    "mute",
    "unsubscribe",
    "delete",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]


class EventIn(BaseModel):
    id: str = Field(min_length=1, max_length=128, description="Unique per event: re-sending it changes nothing.")
    type: EventType
    user_id: EntityId | None = None
    identity: Identity | None = None
    asset_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Omit for channel-wide events (e.g. an unsubscribe); never empty.",
    )
    channel: str = Field(min_length=1, max_length=64)
    group_id: str | None = Field(default=None, min_length=1, max_length=128)
    recommendation_id: str | None = Field(default=None, min_length=1, max_length=128)
    ts: Instant | None = Field(default=None, description="When it happened (ISO 8601); default now.")
    value: float | None = Field(default=None, ge=-1e9, le=1e9)
    attributes: dict[str, str | int | FiniteFloat | bool | None] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _who(self) -> EventIn:
        if self.user_id is None and self.identity is None and self.group_id is None:
            raise ValueError(_("an event needs user_id, identity or group_id"))
        return self


class EventBatch(BaseModel):
    events: list[Any] = Field(
        max_length=10000,
        description="Up to 10,000 events (JSON objects, see EventIn). "
        "Each is checked on its own: an entry that is not a valid event is listed in "
        "`rejected` with its index and reason.",
    )


class RejectedEvent(BaseModel):
    index: int
    id: str | None = None
    reason: str


class IngestResult(BaseModel):
    accepted: int = Field(description="Newly stored events.")
    duplicates: int = Field(description="Events whose id was already stored (counted once).")
    rejected: list[RejectedEvent] = Field(default_factory=list)


class Reason(BaseModel):
    kind: Literal[
        "tags",
        "similar",
        "collaborative",
        "quality",
        "fresh",
        "lifecycle",
        "exploration",
        "cold_start",
        "popular",
        "experiment",
        "topic",
        "type",
        "appeal",
    ]
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
    propensity: float | None = Field(
        default=None,
        description=(
            "Probability that this policy, with its exploration, would have chosen this asset here (logged with "
            "the served record so later policies can be evaluated offline)."
        ),
    )


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
