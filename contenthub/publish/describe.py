"""A cadence rule in words, for the slot page (editors read sentences, not JSON), in Chinese or English."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

from contenthub.localtime import zone_label
from contenthub.publish.rules import DAYS_IN_MONTH, CadenceRule

_WEEKDAYS = {"zh": "一二三四五六日", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}


def _weekdays(days: list[int], lang: str) -> str:
    if len(days) == 7:
        return "每天" if lang == "zh" else "every day"
    if lang == "zh":
        return "每周" + "、".join(_WEEKDAYS["zh"][d] for d in days)
    return ", ".join(_WEEKDAYS["en"][d] for d in days)


def describe_rule(rule: CadenceRule, lang: str, type_names: Mapping[str, str]) -> list[str]:
    """One sentence per part of the rule: when, how often, how far apart, which content mix."""
    zh = lang == "zh"
    windows = ", ".join(f"{a:02d}:00–{b:02d}:00" for a, b in rule.windows)
    zone = zone_label(ZoneInfo(rule.timezone))
    lines = [
        f"{_weekdays(rule.allowed_weekdays, lang)} {windows}（{zone}）"
        if zh
        else f"{_weekdays(rule.allowed_weekdays, lang)}, {windows} ({zone})"
    ]
    caps = []
    if rule.max_per_day is not None:
        caps.append(f"每天最多 {rule.max_per_day} 条" if zh else f"at most {rule.max_per_day} a day")
    if rule.max_per_week is not None:
        caps.append(f"每周最多 {rule.max_per_week} 条" if zh else f"at most {rule.max_per_week} a week")
    if rule.max_per_month == DAYS_IN_MONTH:
        caps.append("每月最多（当月天数）条" if zh else "at most as many a month as the month has days")
    elif rule.max_per_month is not None:
        caps.append(f"每月最多 {rule.max_per_month} 条" if zh else f"at most {rule.max_per_month} a month")
    if caps:
        shared = (
            ("（该渠道所有受众共用）" if zh else " (shared by every audience of the channel)")
            if rule.cap_scope == "channel"
            else ""
        )
        lines.append(("，".join(caps) if zh else ", ".join(caps).capitalize()) + shared)
    target = rule.week_target(False)
    if target:
        lines.append(
            f"每周目标 {target} 条" + (f"，节日周再加 {rule.holiday_boost} 条" if rule.holiday_boost else "")
            if zh
            else f"Aim for {target} a week"
            + (f", {rule.holiday_boost} more in a holiday week" if rule.holiday_boost else "")
        )
    if rule.min_gap_minutes:
        hours = rule.min_gap_minutes / 60
        gap = f"{hours:g} 小时" if zh else f"{hours:g} hours"
        lines.append(f"两条之间至少间隔 {gap}" if zh else f"At least {gap} between two posts")
    if rule.mix:
        parts = [f"{type_names.get(k, k)} {lo}–{hi}" for k, (lo, hi) in rule.mix.items()]
        lines.append(("内容配比（每周）：" + "、".join(parts)) if zh else "Content mix per week: " + ", ".join(parts))
    if rule.blackout_dates:
        days = ", ".join(d.isoformat() for d in rule.blackout_dates)
        lines.append(f"停发日期：{days}" if zh else f"No posts on {days}")
    return lines
