"""Holiday and marketing dates that change a week's cadence (节日营销).

Statutory holidays and adjusted working days (调休) come from the maintained `chinese-calendar` package,
because the State Council publishes them yearly and they cannot be computed. Marketing dates (双11, 618 …)
are editable data with defaults. Years the package does not cover yield no statutory marks rather than an
error: the planner still works, and `statutory_years()` lets a page say the calendar needs an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Literal

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, model_validator

MarkKind = Literal["statutory", "workday_adjusted", "marketing"]

_CHINESE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


class HolidayMark(BaseModel):
    """One dated mark in a week. `workday_adjusted` is a weekend day that is a working day (调休上班)."""

    model_config = ConfigDict(frozen=True)

    date: date
    name: str
    kind: MarkKind


class MarketingDate(BaseModel):
    """An editable marketing date: every year on month/day, once on `on`, or relative to a statutory anchor.

    `days` > 1 makes a span (e.g. 年货节 runs for two weeks before Spring Festival).
    Lunar dates such as 七夕 are not computable from `chinese-calendar`; add them per year with `on`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    month: int | None = Field(default=None, ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)
    on: date | None = None
    anchor: Literal["spring_festival"] | None = None
    offset_days: int = 0
    days: int = Field(default=1, ge=1, le=62)

    @model_validator(mode="after")
    def _one_way_to_date(self) -> MarketingDate:
        ways = [self.month is not None or self.day is not None, self.on is not None, self.anchor is not None]
        if sum(ways) != 1:
            raise ValueError("marketing date: give exactly one of month+day, on, or anchor")
        if ways[0]:
            if self.month is None or self.day is None:
                raise ValueError("marketing date: month and day are both required")
            date(2000, self.month, self.day)  # leap year: 2-29 allowed, other invalid days raise
        return self

    def start_in(self, year: int) -> date | None:
        """First day of this mark in `year`, or None when it does not occur (2-29, missing anchor data)."""
        if self.on is not None:
            return self.on if self.on.year == year else None
        if self.anchor == "spring_festival":
            first = _spring_festival_start(year)
            return None if first is None else first + timedelta(days=self.offset_days)
        try:
            return date(year, self.month, self.day)  # type: ignore[arg-type]
        except ValueError:
            return None


DEFAULT_MARKETING_DATES: tuple[MarketingDate, ...] = (
    MarketingDate(name="元旦", month=1, day=1),
    MarketingDate(name="年货节", anchor="spring_festival", offset_days=-21, days=14),
    MarketingDate(name="情人节", month=2, day=14),
    MarketingDate(name="38女神节", month=3, day=8),
    MarketingDate(name="520", month=5, day=20),
    MarketingDate(name="618", month=6, day=18),
    MarketingDate(name="双11", month=11, day=11),
    MarketingDate(name="双12", month=12, day=12),
    MarketingDate(name="圣诞节", month=12, day=25),
)


def statutory_years() -> tuple[int, int]:
    """Inclusive range of years `chinese-calendar` has data for; outside it no statutory marks exist."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


def _label(english: str) -> str:
    chinese = _CHINESE_NAMES.get(english)
    return f"{chinese} ({english})" if chinese else english


def _spring_festival_start(year: int) -> date | None:
    days = [d for d, name in chinese_calendar.holidays.items() if d.year == year and name == "Spring Festival"]
    return min(days) if days else None


def _days(start: date, end: date) -> Iterable[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def statutory_marks(start: date, end: date) -> list[HolidayMark]:
    """Statutory holidays and adjusted working days between start and end inclusive."""
    marks: list[HolidayMark] = []
    for day in _days(start, end):
        if day in chinese_calendar.holidays:
            marks.append(HolidayMark(date=day, name=_label(chinese_calendar.holidays[day]), kind="statutory"))
        elif day in chinese_calendar.workdays:
            name = f"调休上班 for {_label(chinese_calendar.workdays[day])}"
            marks.append(HolidayMark(date=day, name=name, kind="workday_adjusted"))
    return marks


def marketing_marks(start: date, end: date, marketing_dates: Sequence[MarketingDate]) -> list[HolidayMark]:
    marks: list[HolidayMark] = []
    for item in marketing_dates:
        # a span may start in the previous year (年货节 before a late-January Spring Festival)
        for year in range(start.year - 1, end.year + 2):
            first = item.start_in(year)
            if first is None:
                continue
            for day in _days(max(first, start), min(first + timedelta(days=item.days - 1), end)):
                marks.append(HolidayMark(date=day, name=item.name, kind="marketing"))
    return marks


def dates_in_week(
    week_start: date, marketing_dates: Sequence[MarketingDate] = DEFAULT_MARKETING_DATES
) -> list[HolidayMark]:
    """All marks of the 7 days from week_start, sorted by date then kind then name."""
    end = week_start + timedelta(days=6)
    marks = set(statutory_marks(week_start, end)) | set(marketing_marks(week_start, end, marketing_dates))
    return sorted(marks, key=lambda m: (m.date, m.kind, m.name))


def raises_cadence(mark: HolidayMark) -> bool:
    """Holidays and marketing dates raise cadence; an adjusted working day does not."""
    return mark.kind != "workday_adjusted"
