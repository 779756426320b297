"""Each view as a table (header and rows): the pages' table under every chart and the CSV exports."""

from __future__ import annotations

import csv
import io
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

Table = tuple[list[str], list[list[Any]]]


def retention(v: Retention) -> Table:
    head = ["cohort", "size", *[f"week_{k}" for k in range(v.weeks + 1)]]
    return head, [[c.key, c.size, *c.shares] for c in v.cohorts]


def lifecycle(v: LifecycleFlows) -> Table:
    head = ["week", *v.states, "flows"]
    return head, [
        [w.week, *[w.counts.get(s, 0) for s in v.states], "; ".join(f"{k}: {n}" for k, n in sorted(w.flows.items()))]
        for w in v.weeks
    ]


def channels(v: ChannelHealth) -> Table:
    head = [
        "channel",
        "week",
        "sends",
        "deliveries",
        "opens",
        "clicks",
        "conversions",
        "mutes",
        "unsubscribes",
        "revenue",
        "open_rate",
        "click_rate",
        "conversion_rate",
    ]
    return head, [[getattr(r, h) for h in head] for r in v.rows]


def caps(v: ChannelHealth) -> Table:
    head = ["channel", "per_day", "per_week", "per_month", "note"]
    return head, [[getattr(c, h) for h in head] for c in v.caps]


def assets(v: AssetLeaders) -> Table:
    head = [
        "facet",
        "value",
        "rank",
        "asset_id",
        "title",
        "deliveries",
        "clicks",
        "conversions",
        "click_rate",
        "revenue",
    ]
    rows = []
    for g in v.groups:
        for rank, items in (("best", g.best), ("worst", g.worst)):
            rows += [
                [
                    g.facet,
                    g.value,
                    rank,
                    a.asset_id,
                    a.title,
                    a.deliveries,
                    a.clicks,
                    a.conversions,
                    a.click_rate,
                    a.revenue,
                ]
                for a in items
            ]
    return head, rows


def fatigue(v: Fatigue) -> Table:
    head = [
        "sends_per_week",
        "user_weeks",
        "sends",
        "open_rate",
        "open_low",
        "open_high",
        "mute_rate",
        "mute_low",
        "mute_high",
    ]
    return head, [[getattr(b, h) for h in head] for b in v.bins]


def ltv_observed(v: ObservedLtv) -> Table:
    head = ["cohort", "users", *[f"week_{k}" for k in range(v.weeks + 1)]]
    return head, [[c.key, c.users, *c.cumulative] for c in v.curves]


def ltv_holdout(v: LtvModel) -> Table:
    head = ["week", "observed_revenue", "predicted_revenue", "observed_orders", "predicted_orders"]
    return head, [[getattr(h, k) for k in head] for h in v.holdout]


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    head, rows = table
    writer.writerow(head)
    writer.writerows([["" if x is None else x for x in row] for row in rows])
    return buf.getvalue()
