"""Seasonal assets: campaign windows tied to a holiday or marketing date, and wording that names one.

Why here and fed by contenthub.occasions: the planner marks weeks with the same marketing-date table and
lunar calendar, so "女神节" in an asset and the 38女神节 mark on the calendar are one date, in any year.
- `resolve_campaign` turns a link ("中秋, 14 days before, 1 after") into the asset's effective window
  (valid_from/valid_until), which every picker already honours (recommend's candidate mask filters on it);
- `seasonal_terms` finds occasions an asset's text names; `flags` says which of them are far from now while
  the asset has no window, so the asset page and the review queue can ask the editor to set one;
- `out_of_season` is the planner's guard for such assets: one that names an occasion and has no window is
  not planned far from that occasion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contenthub.i18n import _
from contenthub.occasions import (
    DEFAULT_MARKETING_DATES,
    MarketingDate,
    lunar_date,
    statutory_years,
)

LEAD_DAYS = 30
"""An occasion is 'in season' from this many days before it …"""
TAIL_DAYS = 3
"""… to this many days after it (a 中秋 post on 十六 is still fine, a week later it is not)."""


class Occasion(BaseModel):
    """A yearly date that seasonal content is about, the words that name it, and how to date it in a year."""

    model_config = ConfigDict(frozen=True)

    name: str
    words: tuple[str, ...]
    marketing: MarketingDate | None = None
    lunar: tuple[int, int] | None = None
    solar: tuple[int, int] | None = None

    def on(self, year: int) -> date | None:
        if self.marketing is not None:
            return self.marketing.start_in(year)
        if self.lunar is not None:
            return lunar_date(year, *self.lunar)
        if self.solar is not None:
            return date(year, *self.solar)
        return None


_FESTIVALS: tuple[Occasion, ...] = (
    Occasion(name="春节", words=("春节", "新春", "过年", "拜年", "除夕", "年夜饭", "新年红包"), lunar=(1, 1)),
    Occasion(name="元宵节", words=("元宵",), lunar=(1, 15)),
    Occasion(name="端午节", words=("端午", "粽子"), lunar=(5, 5)),
    Occasion(name="中秋节", words=("中秋", "月饼", "赏月"), lunar=(8, 15)),
    Occasion(name="重阳节", words=("重阳",), lunar=(9, 9)),
    Occasion(name="国庆节", words=("国庆", "十一黄金周", "黄金周"), solar=(10, 1)),
    Occasion(name="清明节", words=("清明", "踏青"), solar=(4, 5)),
    Occasion(name="劳动节", words=("五一", "劳动节"), solar=(5, 1)),
)

_WORDS: dict[str, tuple[str, ...]] = {
    "38女神节": ("女神节", "妇女节", "三八节", "3.8"),
    "520": ("520",),
    "618": ("618",),
    "七夕": ("七夕",),
    "双11": ("双11", "双十一", "11.11"),
    "双12": ("双12", "双十二", "12.12"),
    "圣诞节": ("圣诞",),
    "情人节": ("情人节",),
    "年货节": ("年货节", "年货"),
    "元旦": ("元旦", "跨年"),
}
"""Words that name each default marketing date; a marketing date added by an editor is found by its name."""


def occasions(marketing_dates: Sequence[MarketingDate] = DEFAULT_MARKETING_DATES) -> list[Occasion]:
    found = list(_FESTIVALS)
    for item in marketing_dates:
        found.append(Occasion(name=item.name, words=_WORDS.get(item.name, (item.name,)), marketing=item))
    return found


def _pattern(word: str) -> re.Pattern[str]:
    # digits must stand alone: '618' in 'SKU 16188' or '520ml' is not the shopping festival
    if word[0].isdigit():
        return re.compile(rf"(?<![\d.]){re.escape(word)}(?![\d]|ml|g\b|元)", re.IGNORECASE)
    return re.compile(re.escape(word), re.IGNORECASE)


def seasonal_terms(text: str, found_in: Sequence[Occasion]) -> list[tuple[Occasion, str]]:
    """Occasions the text names, each with the first word that named it."""
    hits = []
    for occasion in found_in:
        for word in occasion.words:
            if _pattern(word).search(text):
                hits.append((occasion, word))
                break
    return hits


def nearest(occasion: Occasion, day: date) -> date | None:
    """The occurrence closest to `day` (this year's, last year's or next year's)."""
    dates = [d for y in (day.year - 1, day.year, day.year + 1) if (d := occasion.on(y)) is not None]
    return min(dates, key=lambda d: abs((d - day).days), default=None)


def in_season(occasion: Occasion, day: date) -> bool:
    for year in (day.year - 1, day.year, day.year + 1):
        when = occasion.on(year)
        if when is not None and when - timedelta(days=LEAD_DAYS) <= day <= when + timedelta(days=TAIL_DAYS):
            return True
    return False


def asset_text(doc: dict[str, object]) -> str:
    return f"{doc.get('title') or ''}\n{doc.get('body') or ''}\n{' '.join(doc.get('tags') or [])}"  # type: ignore[arg-type]


def has_window(doc: dict[str, object]) -> bool:
    return bool(doc.get("valid_from") or doc.get("valid_until") or doc.get("campaign"))


class SeasonalFlag(BaseModel):
    """One occasion an asset names while it has no campaign window, and how far today is from it."""

    occasion: str
    word: str
    nearest: date
    days_away: int
    in_season: bool

    def message(self, lang: str) -> str:
        if lang == "zh":
            return (
                f"文案提到「{self.word}」（{self.occasion}，最近一次 {self.nearest.isoformat()}，相距 "
                f"{abs(self.days_away)} 天），但没有设置投放时间窗：请设置有效期或关联节日，否则排期会在远离该节日时跳过它。"
            )
        return (
            f"The text names '{self.word}' ({self.occasion}, nearest {self.nearest.isoformat()}, "
            f"{abs(self.days_away)} days away) but the asset has no campaign window: set valid dates or link "
            "it to the occasion, or plans will skip it away from that date."
        )


def flags(
    doc: dict[str, object], today: date, marketing_dates: Sequence[MarketingDate] = DEFAULT_MARKETING_DATES
) -> list[SeasonalFlag]:
    """Seasonal wording in an asset without a window (empty when it has one or names no occasion)."""
    if has_window(doc):
        return []
    out = []
    for occasion, word in seasonal_terms(asset_text(doc), occasions(marketing_dates)):
        when = nearest(occasion, today)
        if when is not None:
            out.append(
                SeasonalFlag(
                    occasion=occasion.name,
                    word=word,
                    nearest=when,
                    days_away=(when - today).days,
                    in_season=in_season(occasion, today),
                )
            )
    return out


def occasions_named(docs: Sequence[dict[str, object]], found_in: Sequence[Occasion]) -> dict[int, list[Occasion]]:
    """Row → occasions named, for the docs without a window: one pass for a whole catalog (the planner's
    picker runs it once per catalog, then answers per day with `in_season`)."""
    by_word = {word: o for o in found_in for word in o.words}
    alternatives = "|".join(_pattern(w).pattern for w in sorted(by_word, key=len, reverse=True))
    combined = re.compile(f"(?:{alternatives})", re.IGNORECASE)
    out: dict[int, list[Occasion]] = {}
    for row, doc in enumerate(docs):
        if has_window(doc):
            continue
        named: list[Occasion] = []
        for match in combined.finditer(asset_text(doc)):
            occasion = next((o for w, o in by_word.items() if w.lower() == match.group(0).lower()), None)
            if occasion is not None and occasion not in named:
                named.append(occasion)
        if named:
            out[row] = named
    return out


def out_of_season(doc: dict[str, object], day: date, found_in: Sequence[Occasion]) -> bool:
    """True when an asset without a window names an occasion and `day` is outside every named one's season."""
    if has_window(doc):
        return False
    hits = seasonal_terms(asset_text(doc), found_in)
    return bool(hits) and not any(in_season(occasion, day) for occasion, _ignored in hits)


# ---- campaign links ----------------------------------------------------------------------------------------


class CampaignLink(BaseModel):
    """An asset's window tied to an occasion: from `days_before` it to `days_after` it, in the hub's zone."""

    model_config = ConfigDict(extra="forbid")

    occasion: str = Field(min_length=1, max_length=40, description="e.g. '中秋节', '618', '双11'.")
    days_before: int = Field(default=14, ge=0, le=120)
    days_after: int = Field(default=1, ge=0, le=60)

    @field_validator("occasion")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


def find_occasion(name: str, marketing_dates: Sequence[MarketingDate] = DEFAULT_MARKETING_DATES) -> Occasion | None:
    """By name or by one of its words ('中秋' finds 中秋节, '女神节' finds 38女神节)."""
    every = occasions(marketing_dates)
    return next((o for o in every if o.name == name), None) or next((o for o in every if name in o.words), None)


def resolve_campaign(
    link: CampaignLink, now: datetime, timezone: str, marketing_dates: Sequence[MarketingDate] = DEFAULT_MARKETING_DATES
) -> tuple[datetime, datetime]:
    """The window of the occasion's next occurrence whose window has not ended: (valid_from, valid_until).

    Raises ValueError naming the known occasions when the name is unknown.
    """
    occasion = find_occasion(link.occasion, marketing_dates)
    if occasion is None:
        known = ", ".join(o.name for o in occasions(marketing_dates))
        raise ValueError(
            _("campaign.occasion: unknown occasion '{occasion}'; known: {known}").format(
                occasion=link.occasion, known=known
            )
        )
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    last_year = statutory_years()[1] + 50  # lunar-python covers far more; a bound keeps the loop finite
    for year in range(today.year - 1, min(today.year + 3, last_year)):
        when = occasion.on(year)
        if when is None:
            continue
        end = when + timedelta(days=link.days_after + 1)
        if end > today:
            start = when - timedelta(days=link.days_before)
            return (datetime.combine(start, time(), zone), datetime.combine(end, time(), zone))
    raise ValueError(_("campaign.occasion: '{occasion}' has no date in the next years").format(occasion=link.occasion))
