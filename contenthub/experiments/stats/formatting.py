"""Numbers as people read them, in English and Chinese: the one place that decides how a share,
a difference of shares, a relative change or a p-value is written on pages, in sentences and on
charts, so the summary, the table and the chart never write the same figure two ways.

Shares and their differences are percentages and *percentage points* ("+5.0 pp", "+5.0 个百分点"):
a difference of two rates written as "0.0504" or as "5.04%" is read as a relative change.
"""

from __future__ import annotations

import math
from typing import Literal

Kind = Literal["binomial", "mean", "ratio"]
PP = {"en": " pp", "zh": " 个百分点"}


def _lang(lang: str) -> str:
    return "zh" if lang == "zh" else "en"


def sig(x: float, digits: int = 2) -> str:
    """About ``digits`` significant digits without scientific notation for everyday sizes:
    12.34 → '12', 1.234 → '1.2', 0.01234 → '0.012'."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}" if math.isfinite(x) else "–"
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    x = float(f"{x:.{digits}g}")  # round first: 0.0999999 is 0.10, not 0.100
    places = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{places}f}"


def value(kind: Kind, x: float | None) -> str:
    """A metric's value: shares as %, per-unit means with 2 decimals, ratios with 4."""
    if x is None or not math.isfinite(x):
        return "–"
    if kind == "binomial":
        return f"{x * 100:.2f}%"
    if kind == "mean":
        return f"{x:,.2f}"
    return f"{x:.4f}"


def diff(kind: Kind, x: float | None, lang: str = "en", signed: bool = True) -> str:
    """An absolute difference: percentage points for shares, plain numbers otherwise."""
    if x is None or not math.isfinite(x):
        return "–"
    sign = "+" if signed and x > 0 else ""
    if kind == "binomial":
        return f"{sign}{sig(x * 100)}{PP[_lang(lang)]}"
    if kind == "mean":
        return f"{sign}{sig(x, 3)}"
    return f"{sign}{sig(x, 3)}"


def pct(x: float | None, signed: bool = True) -> str:
    """A relative change or a probability as a percentage with about two significant digits."""
    if x is None or not math.isfinite(x):
        return "–"
    text = sig(x * 100) + "%"
    return ("+" + text) if signed and x > 0 else text


def p_value(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}" if x < 0.01 else f"{x:.3f}"


def interval(low: str, high: str, lang: str = "en") -> str:
    """'[low, high]' in both languages (a range dash is ambiguous next to negative numbers)."""
    return f"[{low}, {high}]"


def p_text(x: float | None) -> str:
    """'p = 0.037' or 'p < 0.0001', for sentences."""
    text = p_value(x)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"
