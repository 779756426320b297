"""Channel cadence rules: when, how often and in what content mix one channel may post to one audience.

Why data and not code: platform caps change (DESIGN.md asks to keep them as settings) and operators tune
cadence per audience, so a rule is a validated pydantic model. Validation rejects rules that contradict
themselves (a minimum no week could ever reach) with a message naming the fields, so the planner can trust
any rule it receives and report only week-specific shortfalls (holidays, blackouts, missing assets).
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contenthub.i18n import _

Channel = Literal[
    "mp_subscription",
    "mp_service",
    "wecom_1v1",
    "wecom_group",
    "moments",
    "channels",
    "xiaohongshu",
    "douyin",
    "miniprogram",
    "app_push",
    "sms",
]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

ContentType = Literal["educational", "practical", "entertainment", "interactive", "promotional", "brand_story"]
CONTENT_TYPES: tuple[ContentType, ...] = get_args(ContentType)

HOLIDAY_SCENE = "holiday"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DAYS_IN_MONTH = "days_in_month"
"""Value of `max_per_month` meaning "as many as the calendar month has days" (WeCom mass-send default)."""

MonthCap = int | Literal["days_in_month"]


class Audience(BaseModel):
    """Who a rule or slot addresses: everyone, one group (社群) or one segment. Frozen so it can key dicts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["all", "group", "segment"] = "all"
    id: str | None = None

    @model_validator(mode="after")
    def _id_matches_kind(self) -> Audience:
        if self.kind == "all" and self.id is not None:
            raise ValueError(_("audience.id must be empty when audience.kind is 'all'"))
        if self.kind != "all" and not self.id:
            raise ValueError(
                _("audience.id is required when audience.kind is '{kind}', e.g. 'g42'").format(kind=self.kind)
            )
        return self

    @property
    def key(self) -> str:
        """Stable string form used in dict keys, CSV and ids: 'all', 'group:g1', 'segment:s7'."""
        return "all" if self.kind == "all" else f"{self.kind}:{self.id}"

    @classmethod
    def from_key(cls, key: str) -> Audience:
        if key == "all":
            return cls()
        kind, _ignored, ident = key.partition(":")
        return cls(kind=kind, id=ident)


ALL = Audience()


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


class CadenceRule(BaseModel):
    """Cadence of one channel for one audience. Hours are local to `timezone`; weekdays are 0=Monday…6=Sunday.

    Content types missing from `mix` are not planned on this channel: the mix is the channel's menu.
    The weekly minimum the planner aims for is max(min_per_week, sum of mix minima); `target_per_week`
    may ask for more. In a week holding a holiday or marketing date both the target and `max_per_week`
    grow by `holiday_boost`; mix maxima stay as they are.
    `cap_scope='channel'` counts caps and gaps across every audience of the channel (a subscription
    account's one mass send per day is per account, not per segment).
    """

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    audience: Audience = ALL
    allowed_weekdays: list[int] = Field(default_factory=lambda: list(range(7)))
    windows: list[tuple[int, int]] = Field(default_factory=lambda: [(12, 14), (19, 22)])
    max_per_day: int | None = Field(default=None, ge=0)
    max_per_week: int | None = Field(default=None, ge=0)
    max_per_month: MonthCap | None = None
    min_per_week: int = Field(default=0, ge=0)
    target_per_week: int | None = Field(default=None, ge=0)
    min_gap_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    mix: dict[ContentType, tuple[int, int]] = Field(default_factory=dict)
    blackout_dates: list[date] = Field(default_factory=list)
    timezone: str = DEFAULT_TIMEZONE
    holiday_boost: int = Field(default=0, ge=0)
    cap_scope: Literal["audience", "channel"] = "audience"

    # ---- field validators -------------------------------------------------------------------------
    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'Asia' is a folder, very long names
            raise ValueError(
                _("timezone: unknown time zone {value!r}; use an IANA name such as 'Asia/Shanghai'").format(value=value)
            ) from None
        return value

    @field_validator("allowed_weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError(_("allowed_weekdays: at least one weekday is required (0=Monday … 6=Sunday)"))
        bad = [d for d in value if not 0 <= d <= 6]
        if bad:
            raise ValueError(_("allowed_weekdays: {bad} out of range; use 0=Monday … 6=Sunday").format(bad=bad))
        return sorted(set(value))

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[tuple[int, int]]) -> list[tuple[int, int]]:
        if not value:
            raise ValueError(_("windows: at least one [start_hour, end_hour) window is required, e.g. [[12, 14]]"))
        for i, (start, end) in enumerate(value):
            if not (0 <= start < end <= 24):
                raise ValueError(
                    _("windows[{i}]: [{start}, {end}) is not a window; need 0 <= start_hour < end_hour <= 24").format(
                        i=i, start=start, end=end
                    )
                )
        return sorted(set(value))

    @field_validator("max_per_month")
    @classmethod
    def _month_cap(cls, value: MonthCap | None) -> MonthCap | None:
        if isinstance(value, int) and value < 0:
            raise ValueError(_("max_per_month: must be >= 0 or 'days_in_month'"))
        return value

    @field_validator("mix")
    @classmethod
    def _mix_ranges(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        for kind, (low, high) in value.items():
            if low < 0 or low > high:
                raise ValueError(
                    _("mix.{kind}: [min {low}, max {high}] needs 0 <= min <= max").format(kind=kind, low=low, high=high)
                )
        return value

    # ---- derived values used by the planner ----------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def open_hours(self) -> list[int]:
        """Local start hours a slot may use, sorted (windows are merged)."""
        return sorted({h for start, end in self.windows for h in range(start, end)})

    @property
    def mix_min_total(self) -> int:
        return sum(low for low, _ignored in self.mix.values())

    @property
    def mix_max_total(self) -> int:
        return sum(high for _ignored, high in self.mix.values())

    @property
    def effective_min_per_week(self) -> int:
        """What a normal week must reach: the larger of the overall minimum and the mix minima."""
        return max(self.min_per_week, self.mix_min_total)

    def week_target(self, holiday_week: bool) -> int:
        base = max(self.target_per_week or 0, self.effective_min_per_week)
        return base + (self.holiday_boost if holiday_week else 0)

    def week_cap(self, holiday_week: bool) -> int | None:
        if self.max_per_week is None:
            return None
        return self.max_per_week + (self.holiday_boost if holiday_week else 0)

    def month_cap(self, year: int, month: int) -> int | None:
        if self.max_per_month == DAYS_IN_MONTH:
            return days_in_month(year, month)
        return self.max_per_month  # type: ignore[return-value]

    def week_capacity(self) -> int:
        """Most posts a week without blackouts can hold given weekdays, windows, max_per_day and the gap.

        Greedy earliest-first placement on the hourly grid is optimal for "points at least g apart, at most
        k per day", so this is an exact bound for a rule on its own.
        """
        gap_hours = self.min_gap_minutes / 60.0
        per_day = self.max_per_day
        count, last = 0, None
        for day in range(7):
            if day not in self.allowed_weekdays:
                continue
            today = 0
            for hour in self.open_hours:
                if per_day is not None and today >= per_day:
                    break
                t = day * 24 + hour
                if last is None or t - last >= gap_hours:
                    count, today, last = count + 1, today + 1, t
        return count

    # ---- contradictions -----------------------------------------------------------------------------
    @model_validator(mode="after")
    def _no_contradictions(self) -> CadenceRule:
        problems: list[str] = []
        need = self.effective_min_per_week
        need_label = (
            f"min_per_week ({self.min_per_week})"
            if self.min_per_week >= self.mix_min_total
            else f"sum of mix minima ({self.mix_min_total})"
        )
        if self.max_per_week is not None:
            if self.min_per_week > self.max_per_week:
                problems.append(f"min_per_week ({self.min_per_week}) > max_per_week ({self.max_per_week})")
            if self.mix_min_total > self.max_per_week:
                problems.append(f"sum of mix minima ({self.mix_min_total}) > max_per_week ({self.max_per_week})")
        if need > self.mix_max_total:
            problems.append(
                f"{need_label} > sum of mix maxima ({self.mix_max_total}); "
                "the mix lists the content types this channel carries"
            )
        if self.max_per_day is not None and self.max_per_day * len(self.allowed_weekdays) < need:
            problems.append(
                f"max_per_day ({self.max_per_day}) × allowed_weekdays ({len(self.allowed_weekdays)}) < {need_label}"
            )
        else:
            capacity = self.week_capacity()
            if capacity < need:
                problems.append(
                    f"windows, allowed_weekdays and min_gap_minutes ({self.min_gap_minutes}) fit only "
                    f"{capacity} posts per week < {need_label}"
                )
        if self.max_per_month is not None:
            smallest = 28 if self.max_per_month == DAYS_IN_MONTH else int(self.max_per_month)
            if smallest < need:
                problems.append(f"max_per_month ({self.max_per_month}) < {need_label}")
        if self.target_per_week is not None:
            if self.target_per_week < need:
                problems.append(f"target_per_week ({self.target_per_week}) < {need_label}")
            if self.max_per_week is not None and self.target_per_week > self.max_per_week:
                problems.append(f"target_per_week ({self.target_per_week}) > max_per_week ({self.max_per_week})")
            if self.target_per_week > self.mix_max_total:
                problems.append(f"target_per_week ({self.target_per_week}) > sum of mix maxima ({self.mix_max_total})")
        if problems:
            where = f"rule {self.channel}/{self.audience.key}: "
            raise ValueError(where + "; ".join(problems))
        return self


# ---- defaults ---------------------------------------------------------------------------------------

STANDARD_MIX: dict[str, tuple[int, int]] = {
    "educational": (2, 3),
    "practical": (2, 3),
    "entertainment": (1, 2),
    "interactive": (1, 2),
    "promotional": (0, 1),
    "brand_story": (0, 1),
}
"""DESIGN.md cadence: educational/practical 2–3 per week, entertainment/interactive 1–2, the rest as configured."""

LOW_FREQUENCY_MIX: dict[str, tuple[int, int]] = {kind: (0, 1) for kind in CONTENT_TYPES}
"""For capped channels where a weekly content minimum would break the platform cap or user patience."""

_DEFAULT_WINDOWS: dict[str, list[tuple[int, int]]] = {
    "mp_subscription": [(7, 9), (12, 13), (20, 22)],
    "mp_service": [(12, 13), (20, 22)],
    "wecom_1v1": [(10, 12), (14, 17), (19, 21)],
    "wecom_group": [(8, 9), (12, 13), (19, 22)],
    "moments": [(7, 9), (12, 14), (18, 23)],
    "channels": [(12, 14), (18, 23)],
    "xiaohongshu": [(11, 13), (18, 23)],
    "douyin": [(12, 14), (18, 24)],
    "miniprogram": [(10, 22)],
    "app_push": [(9, 12), (18, 21)],
    "sms": [(10, 12), (14, 20)],  # marketing SMS stays out of the night
}


def default_rules(timezone: str = DEFAULT_TIMEZONE) -> list[CadenceRule]:
    """One rule per channel for audience 'all', from the platform limits in DESIGN.md.

    mp_subscription: 1 mass send per day per account (hence cap_scope='channel').
    mp_service: 4 per follower per calendar month. WeCom customer / group: at most days-in-month per month;
    1:1 also 1 per day (JS-SDK default) and low frequency by design. Other channels have no platform cap,
    only the DESIGN.md cadence plus a gap so posts spread over the day.
    """

    def rule(channel: str, **settings: object) -> CadenceRule:
        return CadenceRule.model_validate(
            {"channel": channel, "windows": _DEFAULT_WINDOWS[channel], "timezone": timezone, **settings}
        )

    rules = [
        rule("mp_subscription", max_per_day=1, cap_scope="channel", mix=STANDARD_MIX, holiday_boost=1),
        rule("mp_service", max_per_month=4, target_per_week=1, mix=LOW_FREQUENCY_MIX),
        rule(
            "wecom_1v1",
            max_per_day=1,
            max_per_week=2,
            max_per_month=DAYS_IN_MONTH,
            target_per_week=1,
            mix=LOW_FREQUENCY_MIX,
            holiday_boost=1,
        ),
        rule("wecom_group", max_per_month=DAYS_IN_MONTH, min_gap_minutes=180, mix=STANDARD_MIX, holiday_boost=1),
    ]
    gaps = {
        "moments": 240,
        "channels": 240,
        "xiaohongshu": 180,
        "douyin": 180,
        "miniprogram": 180,
        "app_push": 360,
        "sms": 720,
    }
    rules += [
        rule(channel, min_gap_minutes=gap, mix=STANDARD_MIX, holiday_boost=1 if channel == "sms" else 2)
        for channel, gap in gaps.items()
    ]
    return rules
