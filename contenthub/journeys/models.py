"""Pydantic models at the journeys' edges: definitions (trigger, exit, steps), states, due sends, funnels.

Structural rules that need the whole step list (unknown goto targets, a cycle that never waits) and
rules that need the store (known channels, scenes, assets) live in ``validation.py``; these models
check one value at a time so every error names the exact field.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from contenthub.audience.models import IDENTITY_TYPES, GroupPurpose
from contenthub.i18n import _
from contenthub.recommend.models import EVENT_TYPES

MAX_WAIT_SECONDS = 365 * 86400
"""A wait longer than a year is almost always a typo (days for hours) and would pin users for ever."""
STEP_ID_RE = r"^[a-z0-9][a-z0-9_\-]{0,39}$"
JOURNEY_ID_RE = r"^[a-z0-9][a-z0-9_\-]{0,59}$"
EXIT = "exit"
"""A branch target meaning 'leave the journey now'."""
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

ConditionKind = Literal[
    "converted",
    "muted",
    "event",
    "opened_previous",
    "clicked_previous",
    "in_group",
    "stage",
    "stage_left",
    "tag_weight",
    "segment",
    "paying",
]
TriggerKind = Literal[
    "user_created",
    "identity_added",
    "stage_entered",
    "event",
    "group_joined",
    "tag_weight",
    "segment",
    "manual",
]
JourneyStatus = Literal["draft", "active", "paused", "archived"]


class Wait(BaseModel):
    """How long a user waits before a step: a duration, then optionally the next given weekday, then
    optionally the next opening of a local time window (the brand's time zone)."""

    days: int = Field(default=0, ge=0)
    hours: int = Field(default=0, ge=0)
    minutes: int = Field(default=0, ge=0)
    weekday: int | None = Field(
        default=None, ge=0, le=6, description="Wait until the next such weekday (0 = Monday … 6 = Sunday), never today."
    )
    window_start: str | None = Field(default=None, description="Local 'HH:MM': send only inside the window.")
    window_end: str | None = Field(default=None, description="Local 'HH:MM' (may be before start: crosses midnight).")

    @field_validator("window_start", "window_end")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        if v is not None and not _HHMM.match(v):
            raise ValueError(_("'{v}' is not a local time; use 'HH:MM' such as '09:30'").format(v=v))
        return v

    @model_validator(mode="after")
    def _sane(self) -> Wait:
        if self.seconds > MAX_WAIT_SECONDS:
            raise ValueError(
                _(
                    "a wait of {value:.1f} days is longer than a year (365 days); use a shorter wait or a separate journey with its own trigger"
                ).format(value=self.seconds / 86400)
            )
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError(_("give both window_start and window_end, or neither"))
        if self.window_start is not None and self.window_start == self.window_end:
            raise ValueError(_("window_start and window_end must differ"))
        return self

    @property
    def seconds(self) -> int:
        return self.days * 86400 + self.hours * 3600 + self.minutes * 60

    @property
    def waits(self) -> bool:
        """True when entering the step always takes time (a window alone may open at once)."""
        return self.seconds > 0 or self.weekday is not None


class Condition(BaseModel):
    """One yes/no question about a user, asked when a step comes due. 'Since entry' means since the
    user entered this run of the journey; ``negate`` turns e.g. 'converted' into 'no convert since entry'."""

    kind: ConditionKind
    negate: bool = False
    event_type: str | None = Field(default=None, description="kind=event: the event type seen since entry.")
    stages: list[str] = Field(default_factory=list, max_length=10, description="kind=stage: any of these stages.")
    tag: str | None = Field(default=None, max_length=64, description="kind=tag_weight: a profile tag.")
    threshold: float | None = Field(default=None, description="kind=tag_weight: weight at least this.")
    segment: str | None = Field(default=None, max_length=128, description="kind=segment: segment id.")
    group_purpose: GroupPurpose | None = Field(default=None, description="kind=in_group: only groups of this purpose.")

    @model_validator(mode="after")
    def _needs(self) -> Condition:
        if self.kind == "event" and self.event_type not in EVENT_TYPES:
            raise ValueError(
                _("kind 'event' needs event_type, one of {EVENT_TYPES}").format(EVENT_TYPES=", ".join(EVENT_TYPES))
            )
        if self.kind == "stage" and not self.stages:
            raise ValueError(_("kind 'stage' needs stages, e.g. ['silent']"))
        if self.kind == "tag_weight" and (not self.tag or self.threshold is None):
            raise ValueError(_("kind 'tag_weight' needs tag and threshold"))
        if self.kind == "segment" and not self.segment:
            raise ValueError(_("kind 'segment' needs segment (a segment id)"))
        return self


class Trigger(BaseModel):
    """Who enters. Filters narrow the kind; ``only_if`` conditions are checked on the user at entry."""

    kind: TriggerKind
    source_channel: str | None = Field(
        default=None, max_length=64, description="user_created / identity_added: the user's source channel."
    )
    qr_code: str | None = Field(
        default=None, max_length=128, description="user_created / identity_added: the user's attributes.qr_code."
    )
    identity_type: str | None = Field(
        default=None, description="identity_added: e.g. external_userid (added on WeCom)."
    )
    stage: str | None = Field(default=None, description="stage_entered: the lifecycle stage, e.g. silent.")
    event_type: str | None = Field(default=None, description="event: the event type, e.g. convert.")
    channel: str | None = Field(default=None, max_length=64, description="event: only events on this channel.")
    first_only: bool = Field(default=False, description="event: only the user's first event of that type.")
    group_id: str | None = Field(default=None, max_length=128, description="group_joined: this group only.")
    group_purpose: GroupPurpose | None = Field(default=None, description="group_joined: groups of this purpose.")
    tag: str | None = Field(default=None, max_length=64, description="tag_weight: a profile tag.")
    threshold: float | None = Field(default=None, description="tag_weight: weight at least this.")
    segment: str | None = Field(default=None, max_length=128, description="segment: segment id.")
    only_if: list[Condition] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _needs(self) -> Trigger:
        if (
            self.kind == "identity_added"
            and self.identity_type is not None
            and self.identity_type not in IDENTITY_TYPES
        ):
            raise ValueError(
                _("identity_type must be one of {IDENTITY_TYPES}").format(IDENTITY_TYPES=", ".join(IDENTITY_TYPES))
            )
        if self.kind == "stage_entered" and not self.stage:
            raise ValueError(_("kind 'stage_entered' needs stage, e.g. 'silent'"))
        if self.kind == "event" and self.event_type not in EVENT_TYPES:
            raise ValueError(
                _("kind 'event' needs event_type, one of {EVENT_TYPES}").format(EVENT_TYPES=", ".join(EVENT_TYPES))
            )
        if self.kind == "tag_weight" and (not self.tag or self.threshold is None):
            raise ValueError(_("kind 'tag_weight' needs tag and threshold"))
        if self.kind == "segment" and not self.segment:
            raise ValueError(_("kind 'segment' needs segment (a segment id)"))
        return self


class Branch(BaseModel):
    when: Condition
    goto: str = Field(description="A step id, or 'exit' to leave the journey.")


class Step(BaseModel):
    """Wait, then (branches first) send on ``channel`` if ``condition`` holds. The asset is picked per
    user by the recommender with the channel, scene and content type — or ``asset_id`` is sent as is."""

    id: str = Field(pattern=STEP_ID_RE, description="Stable id: funnels and in-flight users refer to it.")
    name: str = Field(default="", max_length=100)
    wait: Wait = Field(default_factory=Wait)
    condition: Condition | None = None
    channel: str | None = Field(default=None, max_length=64)
    scene: str | None = Field(default=None, max_length=64)
    content_type: str | None = Field(default=None, max_length=64)
    asset_id: str | None = Field(default=None, max_length=64)
    branches: list[Branch] = Field(default_factory=list, max_length=10)
    expires_hours: int = Field(
        default=24, ge=1, le=168, description="A due send not delivered within this many hours is dropped."
    )

    @model_validator(mode="after")
    def _send_needs_channel(self) -> Step:
        if self.channel is None and (self.scene or self.content_type or self.asset_id):
            raise ValueError(_("a step that sends (scene, content_type or asset_id) needs a channel"))
        return self

    @property
    def sends(self) -> bool:
        return self.channel is not None


class Reentry(BaseModel):
    mode: Literal["once", "every"] = Field(default="once", description="once ever, or again every N days.")
    days: int = Field(default=30, ge=1, le=3650)


class JourneyIn(BaseModel):
    id: str | None = Field(default=None, pattern=JOURNEY_ID_RE, description="Omit to derive from the name.")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    status: JourneyStatus = "draft"
    trigger: Trigger
    exit: list[Condition] = Field(
        default_factory=list,
        max_length=10,
        description="Leave as soon as any holds (checked whenever a step comes due).",
    )
    reentry: Reentry = Field(default_factory=Reentry)
    steps: list[Step] = Field(min_length=1, max_length=50)


class Journey(JourneyIn):
    id: str
    version: int
    created_at: str
    updated_at: str
    updated_by: str = ""

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def index_of(self, step_id: str) -> int:
        for i, s in enumerate(self.steps):
            if s.id == step_id:
                return i
        raise KeyError(step_id)


class JourneySummary(BaseModel):
    id: str
    name: str
    status: JourneyStatus
    version: int
    trigger: str
    steps: int
    active_users: int | None = None
    entered: int = 0
    updated_at: str


class VersionInfo(BaseModel):
    version: int
    updated_at: str
    updated_by: str
    steps: int


class EnrollIn(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=10000)


class EnrollResult(BaseModel):
    enrolled: list[str] = Field(default_factory=list, description="Users that entered (journey run may be a variant).")
    skipped: dict[str, str] = Field(default_factory=dict, description="user → why not (already in, re-entry rule …).")


class HistoryItem(BaseModel):
    step: str
    at: str
    outcome: str


class JourneyState(BaseModel):
    journey: str
    user_id: str
    version: int
    run: int
    status: Literal["active", "done", "exited"]
    step: str | None
    due_at: str | None
    entered_at: str
    exit_reason: str | None = None
    variant: str | None = None
    history: list[HistoryItem] = Field(default_factory=list)


class DueSend(BaseModel):
    """One send a bot should make now; confirm it with a `delivered` event carrying ``recommendation_id``."""

    journey: str
    journey_version: int
    step: str
    step_name: str
    user_id: str
    channel: str
    scene: str | None
    asset_id: str
    title: str
    kind: str
    recommendation_id: str
    due_at: str
    expires_at: str
    offer: int = Field(description="1 the first time; higher when a previous offer was not confirmed in time.")
    reasons: list[dict[str, Any]] = Field(default_factory=list)


class AdvanceResult(BaseModel):
    processed: int = 0
    sends_queued: int = 0
    finished: int = 0
    exited: int = 0
    stale_hints: int = 0
    enrolled: int = 0
    lease: str | None = Field(default=None, description="Set when another scheduler holds the lease (nothing done).")
    seconds: float = 0.0


class StepFunnel(BaseModel):
    step: str
    name: str
    channel: str | None
    scene: str | None
    wait: str
    waiting: int = Field(description="Users in flight waiting for this step right now.")
    entered: int = Field(description="Users who reached this step (its wait ended while they were in the journey).")
    sent: int
    opened: int
    clicked: int
    converted: int
    exited: int
    skipped: int = Field(description="Condition false: no send.")
    branched: int
    expired: int = Field(description="Queued but never delivered (expired, capped until expiry, unconfirmed).")
    no_asset: int
    drop_off: float | None = Field(
        description="Share of users who entered this step and neither entered the next "
        "one nor are waiting for it (exited, branched away, or finished here)."
    )


class Funnel(BaseModel):
    journey: str
    versions: list[int]
    entered: int
    active: int
    completed: int
    exited: int
    steps: list[StepFunnel]
