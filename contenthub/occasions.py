"""Holiday and marketing dates that change a week's cadence (节日营销), for any year.

Where each kind of date comes from, and why:
- official days off and adjusted working days (调休) come from the maintained `chinese-calendar` package: the
  State Council publishes them once a year and they cannot be computed;
- for years the package does not know yet, an *estimated* schedule is computed from the lunar calendar
  (`lunar-python`) with the usual pattern (春节 除夕…初七, 劳动节 5-1…5-5, 国庆节 10-1…10-7, one day for
  元旦/清明/端午/中秋; 中秋 near 国庆 joins it). Every such mark has `estimated=True` and says so in the
  calendar, the ICS and the API; once the package knows the year its real schedule replaces the estimate
  with no change here (no adjusted working days are guessed);
- traditional festivals that are not days off (元宵, 小年, 重阳 …) and a few solar terms (立春, 夏至, 冬至 …)
  come from the lunar calendar every year; solar terms do not raise cadence, they help seasonal content;
- marketing dates (618, 双11, 七夕 …) are editable data with defaults, on a solar or a lunar month/day.
Names are Chinese (`name`) with an English twin (`name_en`), so pages show one, in the page's language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

import chinese_calendar
from lunar_python import Lunar, LunarYear, Solar
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contenthub.i18n import _

MarkKind = Literal["statutory", "workday_adjusted", "marketing", "festival", "solar_term"]

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
_ENGLISH = {zh: en for en, zh in _CHINESE_NAMES.items()}

FESTIVALS: tuple[tuple[str, str, int, int], ...] = (
    ("腊八节", "Laba Festival", 12, 8),
    ("小年", "Little New Year", 12, 23),
    ("元宵节", "Lantern Festival", 1, 15),
    ("重阳节", "Double Ninth Festival", 9, 9),
)
"""Lunar festivals that are not days off: (name, English, lunar month, lunar day)."""

SOLAR_TERMS: dict[str, str] = {
    "立春": "Start of Spring",
    "立夏": "Start of Summer",
    "夏至": "Summer Solstice",
    "立秋": "Start of Autumn",
    "立冬": "Start of Winter",
    "冬至": "Winter Solstice",
}
"""Solar terms worth a mark for seasonal content (清明 is a holiday already)."""


class HolidayMark(BaseModel):
    """One dated mark in a week. `workday_adjusted` is a weekend day that is a working day (调休上班);
    `estimated` marks days off computed for a year whose official schedule is not published yet."""

    model_config = ConfigDict(frozen=True)

    date: date
    name: str
    kind: MarkKind
    name_en: str | None = None
    estimated: bool = False

    def label(self, lang: str) -> str:
        """The name in one language, with the estimate said: '春节（预计）', 'Spring Festival (estimated)'."""
        if lang == "zh":
            return self.name + ("（预计）" if self.estimated else "")
        return (self.name_en or self.name) + (" (estimated)" if self.estimated else "")


class MarketingDate(BaseModel):
    """An editable marketing date: every year on month/day (solar) or lunar_month/lunar_day, once on `on`,
    or relative to Spring Festival (`anchor`). `days` > 1 makes a span (年货节 runs two weeks before 春节)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    name_en: str | None = None
    month: int | None = Field(default=None, ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)
    lunar_month: int | None = Field(default=None, ge=1, le=12)
    lunar_day: int | None = Field(default=None, ge=1, le=30)
    on: date | None = None
    anchor: Literal["spring_festival"] | None = None
    offset_days: int = 0
    days: int = Field(default=1, ge=1, le=62)

    @model_validator(mode="after")
    def _one_way_to_date(self) -> MarketingDate:
        ways = [
            self.month is not None or self.day is not None,
            self.on is not None,
            self.anchor is not None,
            self.lunar_month is not None or self.lunar_day is not None,
        ]
        if sum(ways) != 1:
            raise ValueError(_("marketing date: give exactly one of month+day, lunar_month+lunar_day, on, or anchor"))
        if ways[0]:
            if self.month is None or self.day is None:
                raise ValueError(_("marketing date: month and day are both required"))
            date(2000, self.month, self.day)  # leap year: 2-29 allowed, other invalid days raise
        if ways[3] and (self.lunar_month is None or self.lunar_day is None):
            raise ValueError(_("marketing date: lunar_month and lunar_day are both required"))
        return self

    def start_in(self, year: int) -> date | None:
        """First day of this mark in `year`, or None when it does not occur (2-29, a lunar 30th)."""
        if self.on is not None:
            return self.on if self.on.year == year else None
        if (self.anchor is not None or self.lunar_month is not None) and not in_lunar_range(year):
            return None
        if self.anchor == "spring_festival":
            return lunar_date(year, 1, 1) + timedelta(days=self.offset_days)
        if self.lunar_month is not None and self.lunar_day is not None:
            month = LunarYear.fromYear(year).getMonth(self.lunar_month)
            if month is None or self.lunar_day > month.getDayCount():  # a 30th in a 29-day month
                return None
            return lunar_date(year, self.lunar_month, self.lunar_day)
        try:
            return date(year, self.month, self.day)  # type: ignore[arg-type]
        except ValueError:
            return None


DEFAULT_MARKETING_DATES: tuple[MarketingDate, ...] = (
    MarketingDate(name="元旦", name_en="New Year's Day", month=1, day=1),
    MarketingDate(name="年货节", name_en="New Year shopping", anchor="spring_festival", offset_days=-21, days=14),
    MarketingDate(name="情人节", name_en="Valentine's Day", month=2, day=14),
    MarketingDate(name="38女神节", name_en="Women's Day", month=3, day=8),
    MarketingDate(name="520", name_en="520 (love day)", month=5, day=20),
    MarketingDate(name="618", name_en="618 shopping festival", month=6, day=18),
    MarketingDate(name="七夕", name_en="Qixi", lunar_month=7, lunar_day=7),
    MarketingDate(name="双11", name_en="Singles' Day 11.11", month=11, day=11),
    MarketingDate(name="双12", name_en="12.12 sale", month=12, day=12),
    MarketingDate(name="圣诞节", name_en="Christmas", month=12, day=25),
)


# ---- the lunar calendar ---------------------------------------------------------------------------------------

LUNAR_YEARS = (1901, 2199)
"""Years the lunar marks are computed for; outside them (year 1, year 9999 in a hostile query) there are none."""


def in_lunar_range(year: int) -> bool:
    return LUNAR_YEARS[0] <= year <= LUNAR_YEARS[1]


def lunar_date(year: int, month: int, day: int) -> date:
    """The solar date of lunar `month`/`day` in the lunar year that starts in solar `year`.

    Raises ValueError outside LUNAR_YEARS."""
    if not in_lunar_range(year):
        raise ValueError(
            _("year {year} is outside the lunar calendar's range {value}–{value2}").format(
                year=year, value=LUNAR_YEARS[0], value2=LUNAR_YEARS[1]
            )
        )
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _solar_terms(year: int) -> dict[str, date]:
    return {name: when for name, when in _solar_terms_all(year).items() if name in SOLAR_TERMS}


def statutory_years() -> tuple[int, int]:
    """Inclusive range of years `chinese-calendar` has official data for; later years are estimated."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


def _days(start: date, end: date) -> Iterable[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


_TERM_TWINS = {
    "DA_XUE": "大雪",
    "DONG_ZHI": "冬至",
    "XIAO_HAN": "小寒",
    "DA_HAN": "大寒",
    "LI_CHUN": "立春",
    "YU_SHUI": "雨水",
    "JING_ZHE": "惊蛰",
}


@lru_cache(maxsize=64)
def _solar_terms_all(year: int) -> dict[str, date]:
    """Every solar term of the solar `year` (lunar-python's table also holds ASCII-named next-year twins)."""
    out: dict[str, date] = {}
    for day in (date(year, 1, 1), date(year, 12, 31)):  # each lunar year's table covers part of the solar one
        table = Solar.fromYmd(day.year, day.month, day.day).getLunar().getJieQiTable()
        for name, solar in table.items():
            name = _TERM_TWINS.get(name, name)  # the table names next year's first terms in pinyin
            if solar.getYear() == year:
                out[name] = date(solar.getYear(), solar.getMonth(), solar.getDay())
    return out


@lru_cache(maxsize=64)
def estimated_days_off(year: int) -> dict[date, tuple[str, ...]]:
    """The usual pattern of official days off for a year not yet published (Chinese names per day).

    Why a pattern and not a guess per year: the State Council's schedule has followed it for years apart
    from how weekends are swapped, which is the part that is not guessed (no adjusted working days).
    """
    out: dict[date, list[str]] = {}

    def add(day: date, name: str) -> None:
        out.setdefault(day, []).append(name)

    add(date(year, 1, 1), "元旦")
    spring = lunar_date(year, 1, 1)
    for day in _days(spring - timedelta(days=1), spring + timedelta(days=6)):
        add(day, "春节")
    qingming = _solar_terms_all(year).get("清明")
    if qingming:
        add(qingming, "清明节")
    for day in _days(date(year, 5, 1), date(year, 5, 5)):
        add(day, "劳动节")
    add(lunar_date(year, 5, 5), "端午节")
    mid_autumn = lunar_date(year, 8, 15)
    national_end = date(year, 10, 7)
    if date(year, 9, 29) <= mid_autumn <= date(year, 10, 8):  # joined to 国庆 with one more day (2020, 2023)
        national_end = date(year, 10, 8)
    add(mid_autumn, "中秋节")
    for day in _days(date(year, 10, 1), national_end):
        add(day, "国庆节")
    return {day: tuple(names) for day, names in out.items()}


def statutory_marks(start: date, end: date) -> list[HolidayMark]:
    """Official days off and adjusted working days between start and end inclusive; estimated past the data."""
    last = statutory_years()[1]
    marks: list[HolidayMark] = []
    for day in _days(start, end):
        if day.year > last and in_lunar_range(day.year):
            marks += [
                HolidayMark(date=day, name=name, name_en=_ENGLISH.get(name), kind="statutory", estimated=True)
                for name in estimated_days_off(day.year).get(day, ())
            ]
        elif day in chinese_calendar.holidays:
            english = chinese_calendar.holidays[day]
            marks.append(
                HolidayMark(date=day, name=_CHINESE_NAMES.get(english, english), name_en=english, kind="statutory")
            )
        elif day in chinese_calendar.workdays:
            english = chinese_calendar.workdays[day]
            zh = _CHINESE_NAMES.get(english, english)
            marks.append(
                HolidayMark(date=day, name=f"{zh}调休上班", name_en=f"working day ({english})", kind="workday_adjusted")
            )
    return marks


def lunar_marks(start: date, end: date) -> list[HolidayMark]:
    """Traditional festivals and the solar terms of SOLAR_TERMS between start and end inclusive."""
    marks: list[HolidayMark] = []
    for year in range(max(start.year - 1, LUNAR_YEARS[0]), min(end.year, LUNAR_YEARS[1]) + 1):
        for name, english, month, day in FESTIVALS:
            when = lunar_date(year, month, day)
            if start <= when <= end:
                marks.append(HolidayMark(date=when, name=name, name_en=english, kind="festival"))
    for year in range(max(start.year, LUNAR_YEARS[0]), min(end.year, LUNAR_YEARS[1]) + 1):
        for name, when in _solar_terms(year).items():
            if start <= when <= end:
                marks.append(HolidayMark(date=when, name=name, name_en=SOLAR_TERMS[name], kind="solar_term"))
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
                marks.append(HolidayMark(date=day, name=item.name, name_en=item.name_en, kind="marketing"))
    return marks


def marks_between(
    start: date, end: date, marketing_dates: Sequence[MarketingDate] = DEFAULT_MARKETING_DATES
) -> list[HolidayMark]:
    """Every mark from start to end inclusive, sorted by date then kind then name."""
    marks = (
        set(statutory_marks(start, end))
        | set(lunar_marks(start, end))
        | set(marketing_marks(start, end, marketing_dates))
    )
    return sorted(marks, key=lambda m: (m.date, m.kind, m.name))


def dates_in_week(
    week_start: date, marketing_dates: Sequence[MarketingDate] = DEFAULT_MARKETING_DATES
) -> list[HolidayMark]:
    """All marks of the 7 days from week_start, sorted by date then kind then name."""
    return marks_between(week_start, week_start + timedelta(days=6), marketing_dates)


def raises_cadence(mark: HolidayMark) -> bool:
    """Holidays, festivals and marketing dates raise cadence; adjusted working days and solar terms do not."""
    return mark.kind not in ("workday_adjusted", "solar_term")
