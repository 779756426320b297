"""Plotly figure specs (plain dicts: data + layout) for the dashboard pages.

The browser draws them with the plotly.js that ships in the ``plotly`` package (served by the pages, no
CDN); the spec travels in a data attribute, so the pages need no inline script. A view with nothing to
draw yields a ``Chart`` with ``missing`` set instead of a figure: the page says what is missing rather
than showing an empty axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contenthub.dashboard.models import (
    AssetLeaders,
    ChannelHealth,
    Fatigue,
    LifecycleFlows,
    LtvModel,
    ObservedLtv,
    Retention,
)
from contenthub.dashboard.tables import Table
from contenthub.labels import label

Tr = Callable[[str], str]
PALETTE = [
    "#0b6bcb",
    "#c4320a",
    "#099250",
    "#7a5af8",
    "#dc6803",
    "#656d76",
    "#e31b54",
    "#0e9384",
    "#4e5ba6",
    "#b54708",
    "#6172f3",
]
STATE_COLORS = {"new": "#0b6bcb", "active": "#099250", "silent": "#dc6803", "churned": "#b42318", "won_back": "#7a5af8"}


@dataclass
class Chart:
    id: str
    title: str
    figure: dict[str, Any] | None = None
    missing: str | None = None
    table: Table = field(default_factory=lambda: ([], []))
    csv_url: str = ""


def _layout(x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "margin": {"l": 60, "r": 70, "t": 30, "b": 50},
        "height": 380,
        "hovermode": "closest",
        "xaxis": {"title": {"text": x_title}, "automargin": True},
        "yaxis": {"title": {"text": y_title}, "automargin": True},
        "legend": {"orientation": "h", "y": -0.2},
        "font": {"family": "sans-serif", "size": 12},
        **extra,
    }


def retention_triangle(v: Retention, tr: Tr) -> dict[str, Any] | None:
    if v.missing:
        return None
    weeks = list(range(v.weeks + 1))
    z = [c.shares for c in v.cohorts]
    text = [[f"{s:.0%}" if s is not None else "" for s in c.shares] for c in v.cohorts]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": weeks,
                "y": [f"{c.key} ({c.size})" for c in v.cohorts],
                "text": text,
                "texttemplate": "%{text}",
                "colorscale": "Blues",
                "reversescale": True,
                "zmin": 0,
                "zmax": 1,
                "hovertemplate": tr("dash_cohort") + " %{y}<br>" + tr("dash_week_k") + " %{x}: %{z:.1%}<extra></extra>",
                "colorbar": {"tickformat": ".0%"},
            }
        ],
        "layout": _layout(
            tr("dash_week_k"),
            tr("dash_cohort"),
            height=max(320, 28 * len(z) + 120),
            yaxis={"autorange": "reversed", "type": "category", "automargin": True},
        ),
    }


def retention_curves(v: Retention, tr: Tr) -> dict[str, Any] | None:
    if v.missing:
        return None
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": f"{c.key} ({c.size})",
            "x": list(range(v.weeks + 1)),
            "y": c.shares,
            "line": {"color": PALETTE[i % len(PALETTE)]},
            "hovertemplate": "%{y:.1%}<extra>%{fullData.name}</extra>",
        }
        for i, c in enumerate(v.cohorts)
    ]
    return {
        "data": data,
        "layout": _layout(
            tr("dash_week_k"),
            tr("dash_share_engaging"),
            yaxis={"tickformat": ".0%", "rangemode": "tozero", "title": {"text": tr("dash_share_engaging")}},
        ),
    }


def lifecycle_bars(v: LifecycleFlows, tr: Tr) -> dict[str, Any] | None:
    if v.missing or not v.weeks:
        return None
    data = [
        {
            "type": "bar",
            "name": tr(f"dash_state_{s}"),
            "x": [w.week for w in v.weeks],
            "y": [w.counts.get(s, 0) for w in v.weeks],
            "marker": {"color": STATE_COLORS[s]},
        }
        for s in v.states
    ]
    return {"data": data, "layout": _layout(tr("dash_week"), tr("dash_users"), barmode="stack")}


def lifecycle_sankey(v: LifecycleFlows, tr: Tr) -> dict[str, Any] | None:
    """The last week's moves between states (from the week before)."""
    if v.missing or not v.weeks or not v.weeks[-1].flows:
        return None
    last = v.weeks[-1]
    names = ["(first seen)", *v.states]
    labels = [tr("dash_first_seen")] + [tr(f"dash_state_{s}") for s in v.states]
    sources, targets, values = [], [], []
    for key, n in last.flows.items():
        a, _, b = key.partition(">")
        sources.append(names.index(a))
        targets.append(len(names) + names.index(b))
        values.append(n)
    colors = ["#98a2b3"] + [STATE_COLORS[s] for s in v.states]
    return {
        "data": [
            {
                "type": "sankey",
                "node": {"label": labels + labels, "color": colors + colors, "pad": 12},
                "link": {"source": sources, "target": targets, "value": values},
            }
        ],
        "layout": {"margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "height": 360},
    }


def channel_metric(v: ChannelHealth, metric: str, tr: Tr, *, kind: str = "lines") -> dict[str, Any] | None:
    if not v.rows:
        return None
    by_channel: dict[str, list[Any]] = {}
    for row in v.rows:
        by_channel.setdefault(row.channel, []).append(row)
    data = []
    for i, (ch, rows) in enumerate(sorted(by_channel.items())):
        trace: dict[str, Any] = {
            "name": label("channel", ch),
            "x": [r.week for r in rows],
            "y": [getattr(r, metric) for r in rows],
        }
        if kind == "bars":
            trace.update(type="bar", marker={"color": PALETTE[i % len(PALETTE)]})
        else:
            trace.update(
                type="scatter", mode="lines+markers", line={"color": PALETTE[i % len(PALETTE)]}, connectgaps=False
            )
        data.append(trace)
    rate = metric.endswith("_rate")
    layout = _layout(tr("dash_week"), tr(f"dash_{metric}"), barmode="stack")
    if rate:
        layout["yaxis"].update(tickformat=".0%", rangemode="tozero")
    return {"data": data, "layout": layout}


def fatigue_curve(v: Fatigue, tr: Tr) -> dict[str, Any] | None:
    if v.missing or not v.bins:
        return None
    x = [b.sends_per_week for b in v.bins]

    def band(rate: str, lo: str, hi: str) -> dict[str, Any]:
        return {
            "type": "data",
            "symmetric": False,
            "array": [round(getattr(b, hi) - getattr(b, rate), 4) for b in v.bins],
            "arrayminus": [round(getattr(b, rate) - getattr(b, lo), 4) for b in v.bins],
        }

    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": tr("dash_open_rate"),
            "x": x,
            "y": [b.open_rate for b in v.bins],
            "error_y": band("open_rate", "open_low", "open_high"),
            "line": {"color": PALETTE[0]},
            "hovertemplate": "%{y:.1%}<extra>%{fullData.name}</extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": tr("dash_mute_rate"),
            "x": x,
            "yaxis": "y2",
            "y": [b.mute_rate for b in v.bins],
            "error_y": band("mute_rate", "mute_low", "mute_high"),
            "line": {"color": PALETTE[1]},
            "hovertemplate": "%{y:.1%}<extra>%{fullData.name}</extra>",
        },
        {
            "type": "bar",
            "name": tr("dash_user_weeks"),
            "x": x,
            "y": [b.user_weeks for b in v.bins],
            "yaxis": "y3",
            "marker": {"color": "rgba(101,109,118,0.18)"},
            "hoverinfo": "y+name",
        },
    ]
    layout = _layout(tr("dash_sends_per_week"), tr("dash_open_rate"))
    layout["xaxis"]["type"] = "category"
    layout["yaxis"].update(tickformat=".0%", rangemode="tozero")
    layout["yaxis2"] = {
        "title": {"text": tr("dash_mute_rate")},
        "overlaying": "y",
        "side": "right",
        "tickformat": ".1%",
        "rangemode": "tozero",
    }
    layout["yaxis3"] = {"overlaying": "y", "visible": False, "rangemode": "tozero"}
    if v.mutes_rise_at is not None:
        # by category index: plotly reads a digit string as a number, which on a category axis is an index
        at = x.index(str(v.mutes_rise_at) if str(v.mutes_rise_at) in x else f"{v.mutes_rise_at}+")
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": at,
                "x1": at,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#b42318", "dash": "dot"},
            }
        ]
        layout["annotations"] = [
            {
                "x": at,
                "y": 1,
                "yref": "paper",
                "text": tr("dash_mutes_rise"),
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"color": "#b42318"},
            }
        ]
    return {"data": data, "layout": layout}


def ltv_curves(v: ObservedLtv, tr: Tr) -> dict[str, Any] | None:
    if not v.curves or v.missing:
        return None
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": f"{c.key} ({c.users})",
            "x": list(range(v.weeks + 1)),
            "y": c.cumulative,
            "line": {"color": PALETTE[i % len(PALETTE)]},
            "hovertemplate": "¥%{y:.2f}<extra>%{fullData.name}</extra>",
        }
        for i, c in enumerate(v.curves)
    ]
    return {"data": data, "layout": _layout(tr("dash_week_k"), tr("dash_cum_revenue"))}


def ltv_holdout(v: LtvModel, tr: Tr) -> dict[str, Any] | None:
    if v.missing or not v.holdout:
        return None
    x = [h.week for h in v.holdout]
    obs, pred, total_o, total_p = [], [], 0.0, 0.0
    for h in v.holdout:
        total_o += h.observed_revenue
        total_p += h.predicted_revenue
        obs.append(round(total_o, 2))
        pred.append(round(total_p, 2))
    data = [
        {
            "type": "bar",
            "name": tr("dash_observed"),
            "x": x,
            "y": [h.observed_revenue for h in v.holdout],
            "marker": {"color": PALETTE[0]},
        },
        {
            "type": "bar",
            "name": tr("dash_predicted"),
            "x": x,
            "y": [h.predicted_revenue for h in v.holdout],
            "marker": {"color": PALETTE[1]},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": tr("dash_observed") + " Σ",
            "x": x,
            "y": obs,
            "yaxis": "y2",
            "line": {"color": PALETTE[0], "dash": "dot"},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": tr("dash_predicted") + " Σ",
            "x": x,
            "y": pred,
            "yaxis": "y2",
            "line": {"color": PALETTE[1], "dash": "dot"},
        },
    ]
    layout = _layout(tr("dash_heldout_week"), tr("dash_revenue"), barmode="group")
    layout["yaxis2"] = {
        "title": {"text": tr("dash_cum_revenue") + " Σ"},
        "overlaying": "y",
        "side": "right",
        "rangemode": "tozero",
    }
    return {"data": data, "layout": layout}


def asset_bars(v: AssetLeaders, tr: Tr, facet: str) -> dict[str, Any] | None:
    groups = [g for g in v.groups if g.facet == facet]
    if v.missing or not groups:
        return None
    data = []
    for rank, color in (("best", "#099250"), ("worst", "#b42318")):
        xs, ys, texts = [], [], []
        for g in groups:
            for a in getattr(g, rank):
                xs.append(g.value)
                ys.append(a.click_rate)
                texts.append(f"{a.title} ({a.asset_id}) · {a.clicks}/{a.deliveries}")
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": tr(f"dash_{rank}"),
                "x": xs,
                "y": ys,
                "text": texts,
                "marker": {"color": color, "size": 10},
                "hovertemplate": "%{text}<br>%{y:.1%}<extra></extra>",
            }
        )
    layout = _layout(tr(facet), tr("dash_click_rate"))
    layout["yaxis"].update(tickformat=".0%", rangemode="tozero")
    layout["xaxis"]["type"] = "category"
    return {"data": data, "layout": layout}
