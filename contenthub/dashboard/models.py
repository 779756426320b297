"""What the dashboard's API returns: the same numbers the pages chart and the CSV exports hold."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

CohortBy = Literal["week", "source", "journey", "tier"]


class Cohort(BaseModel):
    key: str = Field(description="First-seen week (its Monday), source channel, first journey or value tier.")
    size: int
    shares: list[float | None] = Field(
        description="Share of the cohort engaging in week k after first seen "
        "(k = 0…weeks); null where the week has not been reached."
    )
    eligible: list[int] = Field(description="Users whose week k has been reached (the denominator of each share).")


class Retention(BaseModel):
    by: CohortBy
    weeks: int
    cohorts: list[Cohort]
    missing: str | None = Field(default=None, description="Why there is nothing to show, when there is not.")


class StageWeek(BaseModel):
    week: str
    counts: dict[str, int] = Field(description="Users in each flow state at the end of the week.")
    flows: dict[str, int] = Field(description="'from>to' transitions since the week before (unchanged states too).")


class LifecycleFlows(BaseModel):
    states: list[str]
    weeks: list[StageWeek]
    missing: str | None = None


class ChannelWeek(BaseModel):
    channel: str
    week: str
    sends: int = Field(description="Served events (picks handed to a bot or the planner).")
    deliveries: int
    opens: int
    clicks: int
    conversions: int
    mutes: int
    unsubscribes: int
    revenue: float
    open_rate: float | None = Field(description="Opens per delivery; null without deliveries.")
    click_rate: float | None
    conversion_rate: float | None


class CapInForce(BaseModel):
    channel: str
    per_day: int | None
    per_week: int | None
    per_month: int | None = Field(description="-1 means 'as many as the month has days'.")
    note: str


class ChannelHealth(BaseModel):
    weeks: list[str]
    rows: list[ChannelWeek]
    caps: list[CapInForce]
    missing: dict[str, str] = Field(default_factory=dict, description="Channel → why it has no rows.")


class AssetRank(BaseModel):
    asset_id: str
    title: str
    deliveries: int
    clicks: int
    conversions: int
    click_rate: float
    revenue: float


class AssetGroup(BaseModel):
    facet: Literal["scene", "content_type"]
    value: str
    best: list[AssetRank]
    worst: list[AssetRank]


class AssetLeaders(BaseModel):
    min_deliveries: int
    groups: list[AssetGroup]
    missing: str | None = None


class FatigueBin(BaseModel):
    sends_per_week: str = Field(description="Deliveries to one user in one week on the channel ('7+' is the last bin).")
    user_weeks: int
    sends: int
    open_rate: float = Field(description="Opens per delivery.")
    open_low: float
    open_high: float
    mute_rate: float = Field(description="Share of user-weeks with a mute or unsubscribe on the channel.")
    mute_low: float
    mute_high: float


class Fatigue(BaseModel):
    channel: str
    bins: list[FatigueBin]
    mutes_rise_at: int | None = Field(
        description="Fewest sends per user per week whose mute rate is higher than "
        "the one-send rate (one-sided Fisher exact test, p < 0.05); null when none is."
    )
    missing: str | None = None


class LtvCurve(BaseModel):
    key: str
    users: int
    cumulative: list[float | None] = Field(description="Mean cumulative revenue per user by week k after first seen.")


class ObservedLtv(BaseModel):
    by: Literal["week", "source"]
    weeks: int
    curves: list[LtvCurve]
    missing: str | None = None


class HoldoutWeek(BaseModel):
    week: str
    observed_revenue: float
    predicted_revenue: float
    observed_orders: int
    predicted_orders: float


class LtvModel(BaseModel):
    model: str
    fitted_at: str
    users: int
    buyers: int
    calibration_weeks: int
    holdout_weeks: int
    horizon_weeks: int
    params: dict[str, float]
    holdout: list[HoldoutWeek]
    orders_error: float | None = Field(description="(predicted − observed) / observed orders over the held-out weeks.")
    revenue_error: float | None = Field(
        description="(predicted − observed) / observed revenue over the held-out weeks."
    )
    user_mae_orders: float | None = Field(description="Mean absolute error of held-out orders per user.")
    tiers: dict[str, int] = Field(default_factory=dict)
    predicted_total: float = 0.0
    missing: str | None = None


class UserValue(BaseModel):
    user_id: str
    observed_revenue: float
    predicted_value: float = Field(description="Expected revenue over the model's horizon (weeks).")
    probability_alive: float | None
    predicted_tier: str
    horizon_weeks: int
