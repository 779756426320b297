"""Report charts as SVG, drawn server-side by matplotlib (no JavaScript, works in exports and screenshots).

Two pictures an analyst needs: every difference with its interval on one axis (a forest plot: is the
interval clear of zero, and on which side), and the primary metric's cumulative daily path (has it
settled, or is it still moving). Only the object-oriented API is used (no pyplot global state), so
concurrent requests do not share a figure.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from contenthub.experiments.report import Report
from contenthub.labels import label_in

if TYPE_CHECKING:  # matplotlib itself is imported when a chart is drawn
    from matplotlib.typing import RcKeyType

COLORS = {"good": "#067647", "bad": "#b42318", "neutral": "#656d76"}
LINE_COLORS = ("#656d76", "#0b6bcb", "#c4320a", "#7a5af8", "#099250", "#dc6803")
# Browsers render the text (svg.fonttype 'none'), so Chinese variant names show with the page's fonts.
FONT: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    # Per-glyph fallback (matplotlib >= 3.6) so Chinese labels are measured with a CJK font when one
    # is installed; missing families are skipped quietly.
    "font.sans-serif": ["DejaVu Sans", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP"],
}


def _svg(fig: Any) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buf = io.StringIO()
    FigureCanvasSVG(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyph-missing warnings for CJK text that the browser renders anyway
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue and DOCTYPE: the SVG goes inline into HTML


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return Figure(figsize=(width, height))


def _styled(draw: Callable[..., str | None]) -> Callable[..., str | None]:
    """Run a chart function under the report style (rc settings are read while drawing and saving)."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> str | None:
        from matplotlib import rc_context

        with rc_context(FONT):
            return draw(*args, **kwargs)

    return wrapper


def _percent_axis(axis: Any) -> None:
    """Tick labels as signed percentages ('+20%', '-5%'), like the table."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.0f}%" if v else "0"))


@_styled
def difference_chart(report: Report, lang: str = "en") -> str | None:
    """Relative difference vs control with its interval, one line per (metric, treatment).

    The interval is the one the conclusion uses (Fieller's, at the test's own critical value), so
    a dot coloured "significant" never sits on a bar crossing zero. Rows without a bounded relative
    interval (control 0 or not clear of 0) are left out -- the table shows their absolute
    difference: mixing absolute and relative numbers on one axis would mislead.
    ``None`` when no row has an interval."""
    rows = []
    for m in report.metrics:
        for r in m.rows[1:]:
            if r.rel_diff is not None and r.rel_ci_low is not None and r.rel_ci_high is not None:
                rows.append(
                    (
                        f"{m.name_zh if lang == 'zh' else m.name} · {r.variant}",
                        r.rel_diff * 100,
                        r.rel_ci_low * 100,
                        r.rel_ci_high * 100,
                        r.direction or "neutral",
                    )
                )
    if not rows:
        return None
    fig = _figure(7.5, 0.45 * len(rows) + 0.9)
    ax = fig.add_subplot()
    for y, (_label, est, low, high, direction) in enumerate(reversed(rows)):
        color = COLORS.get(direction, COLORS["neutral"])
        ax.errorbar([est], [y], xerr=[[est - low], [high - est]], fmt="o", color=color, capsize=4, lw=1.6)
    ax.axvline(0, color="#1f2328", lw=0.8)
    if min(r[2] for r in rows) <= -100:
        ax.set_xlim(left=-105)  # nothing here can fall by more than 100%
    ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    level = f"{(1 - report.alpha) * 100:g}%"
    corrected = report.correction != "none"
    if lang == "zh":
        shown = (
            f"按 {label_in('zh', 'correction', report.correction)} 校正后的置信区间"
            if corrected
            else f"{level} 置信区间"
        )
        kind = ("始终有效 " if report.sequential else "") + f"{shown}（Fieller，与显著性结论同一检验）"
        ax.set_xlabel("相对对照组的变化（%），" + kind)
    else:
        shown = f"CI adjusted for {report.correction}" if corrected else f"{level} CI"
        kind = ("always-valid " if report.sequential else "") + f"{shown} (Fieller: the test behind the conclusion)"
        ax.set_xlabel(f"change vs control (%), {kind}")
    _percent_axis(ax.xaxis)
    ax.grid(axis="x", color="#d0d7de", lw=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def _date_axis(ax: Any, days: list[date]) -> None:
    """One tick per period, thinned to at most 10 labels, as 'MM-DD'."""
    from matplotlib.dates import DateFormatter

    step = max(1, -(-len(days) // 10))
    ax.set_xticks(days[::step])
    ax.xaxis.set_major_formatter(DateFormatter("%m-%d"))


def _focus(ax: Any, points: list[Any], treatments: list[str]) -> None:
    """Fit the y-range to the estimates and the intervals of the later half of the run: the first
    days' intervals are wide by nature and would flatten everything after them into a line."""
    later = points[len(points) // 2 :]
    ys = [p.rel_diff[v] * 100 for p in points for v in treatments if p.rel_diff.get(v) is not None]
    ys += [x * 100 for p in later for v in treatments if p.rel_ci.get(v) for x in p.rel_ci[v]]
    if ys:
        low, high = min([*ys, 0.0]), max([*ys, 0.0])
        pad = (high - low) * 0.08 or 1.0
        ax.set_ylim(low - pad, high + pad)


@_styled
def cumulative_chart(report: Report, metric_id: str | None = None, lang: str = "en") -> str | None:
    """Cumulative value per variant by day (top) and the relative difference with its interval (bottom)."""
    metric_id = metric_id or report.experiment.primary_metric
    series = next((s for s in report.timeseries if s.metric == metric_id), None)
    if series is None or not series.points:
        return None
    result = report.metric(metric_id)
    name = result.name_zh if lang == "zh" else result.name
    days = [p.day for p in series.points]
    variants = [v.name for v in report.experiment.variants]
    fig = _figure(7.5, 4.6)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.2, 1]})
    for i, variant in enumerate(variants):
        values = [p.values.get(variant) for p in series.points]
        top.plot(
            days,
            [v if v is not None else float("nan") for v in values],
            marker="o",
            ms=3,
            color=LINE_COLORS[i % len(LINE_COLORS)],
            label=variant,
        )
    top.set_ylabel(name)
    top.legend(loc="best", frameon=False)
    for i, variant in enumerate(variants[1:], start=1):
        color = LINE_COLORS[i % len(LINE_COLORS)]
        rel = [p.rel_diff.get(variant) for p in series.points]
        cis = [p.rel_ci.get(variant) for p in series.points]
        bottom.plot(
            days,
            [r * 100 if r is not None else float("nan") for r in rel],
            color=color,
            marker="o",
            ms=3,
            label=variant,
        )
        bottom.fill_between(
            days,
            [c[0] * 100 if c else float("nan") for c in cis],
            [c[1] * 100 if c else float("nan") for c in cis],
            color=color,
            alpha=0.15,
            lw=0,
        )
    bottom.axhline(0, color="#1f2328", lw=0.8)
    bottom.set_ylabel("相对对照组（%）" if lang == "zh" else "vs control (%)")
    _percent_axis(bottom.yaxis)
    for ax in (top, bottom):
        ax.grid(color="#d0d7de", lw=0.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    _date_axis(bottom, days)
    _focus(bottom, series.points, variants[1:])
    return _svg(fig)
