"""Retention cohorts and week-by-week lifecycle flows, reduced from the rollup.

A user is *engaging* in a week when they have at least one engaged event (``engagement.ENGAGED``) in it;
week 0 is the week they were first seen (their first event of any kind).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from typing import Any

import numpy as np

from contenthub.audience import lifecycle
from contenthub.dashboard import ltv
from contenthub.dashboard.models import (
    Cohort,
    CohortBy,
    LifecycleFlows,
    Retention,
    StageWeek,
)
from contenthub.dashboard.rollup import Rollup
from contenthub.dashboard.weeks import week_start
from contenthub.hub import Hub

FLOW_STATES = ["new", "active", "silent", "churned", "won_back"]
MAX_WEEKS = 12


def _missing_users(r: Rollup) -> str | None:
    if not r.user_ids:
        return "No user activity yet: nothing has been ingested, so there are no cohorts."
    return None


def cohorts(hub: Hub, r: Rollup, by: CohortBy = "week", weeks: int = MAX_WEEKS) -> Retention:
    """Share of each cohort engaging k weeks after first seen. By week, the cohorts are the last ``weeks``+1
    first-seen weeks (the triangle); by source, journey or tier every user counts, and each week k's
    share is over the users whose week k has been reached."""
    missing = _missing_users(r)
    if missing:
        return Retention(by=by, weeks=weeks, cohorts=[], missing=missing)
    active = r.engaged > 0
    rel = r.first_week - r.week0  # column of each user's week 0 (negative: before the arrays)
    if by == "week":
        keys = r.first_week
        groups = [(str(week_start(w)), keys == w) for w in range(r.now_week - weeks, r.now_week + 1)]
    else:
        labels = _labels(hub, r, by)
        groups = [(k or "unknown", labels == k) for k in sorted(set(labels.tolist()))]
    out = []
    for key, mask in groups:
        size = int(mask.sum())
        if not size:
            continue
        idx = np.flatnonzero(mask)
        shares: list[float | None] = []
        eligible: list[int] = []
        for k in range(weeks + 1):
            cols = rel[idx] + k
            ok = (cols >= 0) & (cols < r.n_weeks)
            n_ok = int(ok.sum())
            eligible.append(n_ok)
            shares.append(round(float(active[idx[ok], cols[ok]].mean()), 4) if n_ok else None)
        out.append(Cohort(key=key, size=size, shares=shares, eligible=eligible))
    if not out:
        return Retention(
            by=by, weeks=weeks, cohorts=[], missing=f"No users were first seen in the last {weeks + 1} weeks."
        )
    return Retention(by=by, weeks=weeks, cohorts=out)


def _labels(hub: Hub, r: Rollup, by: CohortBy) -> np.ndarray:
    if by == "source":
        return r.source
    if by == "journey":
        return r.journey
    return ltv.tiers(hub, r)


def flows(hub: Hub, r: Rollup, weeks: int = MAX_WEEKS) -> LifecycleFlows:
    """Users per flow state at the end of each of the last ``weeks`` weeks, and the moves between them.

    The stage is ``lifecycle.stage_of`` — the rule the recommender applies — evaluated at each week's end
    from weekly counters: days since the last engaged week and since first seen are counted from
    mid-week (±3.5 days), engaged days over 90 days are approximated by engaged events over the last 13
    weeks (at most 7 a week) and orders by any conversion so far.
    ``won_back`` is a user silent or churned the week before and engaging again (new/active/stable) now;
    ``stable`` is reported under ``active`` (the flow the brief asks for)."""
    missing = _missing_users(r)
    if missing:
        return LifecycleFlows(states=FLOW_STATES, weeks=[], missing=missing)
    rules = lifecycle.get_rules(hub)
    span = r.n_weeks + max(0, r.week0 - int(r.first_week.min())) if len(r.user_ids) else r.n_weeks
    table, weeks_cap, days_cap = _stage_table(rules.model_dump_json(), span + 1)
    n = len(r.user_ids)
    engaged = r.engaged > 0
    has_orders = (np.cumsum(r.orders > 0, axis=1) > 0).astype(np.int32)
    engaged_days = np.cumsum(np.minimum(r.engaged, 7), axis=1, dtype=np.int32)  # running sum, for 13-week windows
    start = max(0, r.n_weeks - weeks - 1)
    # the last engaged week before ``start`` (-1: none), then carried forward week by week
    before = engaged[:, :start]
    last_engaged = (
        np.where(before.any(axis=1), r.week0 + start - 1 - np.argmax(before[:, ::-1], axis=1), -1)
        if start
        else np.full(n, -1)
    )
    last_engaged = last_engaged.astype(np.int32)
    first_week = r.first_week.astype(np.int32)
    unsub_week = np.where(r.unsub_week >= 0, r.unsub_week, np.iinfo(np.int32).max).astype(np.int32)
    prev: np.ndarray | None = None
    out: list[StageWeek] = []
    n_states = len(FLOW_STATES)
    for c in range(start, r.n_weeks):
        week = r.week0 + c
        last_engaged = np.where(engaged[:, c], week, last_engaged)
        age_weeks = np.clip(week - first_week, 0, weeks_cap)
        since_weeks = np.where(last_engaged >= 0, np.minimum(week - last_engaged, weeks_cap), -1)
        days = engaged_days[:, c] - (engaged_days[:, c - 13] if c >= 13 else 0)
        codes = _code(
            age_weeks,
            since_weeks,
            (unsub_week <= week).astype(np.int32),
            np.minimum(days, days_cap),
            has_orders[:, c],
            weeks_cap,
            days_cap,
        )
        state = np.where(first_week <= week, table[codes], -1)
        if prev is not None:
            state = np.where(((prev == 2) | (prev == 3)) & ((state == 0) | (state == 1)), 4, state)
        if c >= r.n_weeks - weeks:
            tally = np.bincount(state + 1, minlength=n_states + 1)
            counts = {s: int(tally[i + 1]) for i, s in enumerate(FLOW_STATES)}
            moves: dict[str, int] = {}
            if prev is not None:
                pairs = np.bincount((prev + 1) * (n_states + 1) + state + 1, minlength=(n_states + 1) ** 2)
                for code in np.flatnonzero(pairs):
                    a, b = divmod(int(code), n_states + 1)
                    if b:
                        name = FLOW_STATES[a - 1] if a else "(first seen)"
                        moves[f"{name}>{FLOW_STATES[b - 1]}"] = int(pairs[code])
            out.append(StageWeek(week=str(week_start(week)), counts=counts, flows=moves))
        prev = state
    return LifecycleFlows(states=FLOW_STATES, weeks=out)


def _code(age: Any, since: Any, unsub: Any, days: Any, orders: Any, weeks_cap: int, days_cap: int) -> Any:
    """One integer per combination of the stage inputs (an index into ``_stage_table``)."""
    return (((age * (weeks_cap + 2) + since + 1) * 2 + unsub) * (days_cap + 1) + days) * 2 + orders


MAX_ENGAGED_DAYS = 7 * 13
"""The most engaged days ``flows`` can count (at most 7 a week over 13 weeks)."""


@lru_cache(maxsize=16)
def _stage_table(rules_json: str, history_weeks: int) -> tuple[np.ndarray, int, int]:
    """``lifecycle.stage_of`` for every weekly input combination, as a flow-state index per ``_code``.

    Why a table: the flows need a stage per user per week (100,000 × 12 calls). The rule only compares
    day counts with the rules' day thresholds and engaged days with its day-count thresholds, so inputs
    past the largest threshold are clamped without changing any answer, and the few thousand combinations
    left are evaluated once, by the rule itself. Inputs also never exceed the data's own span
    (``history_weeks``, ``MAX_ENGAGED_DAYS``), so thresholds beyond it (a rule of 10 years) change no answer
    either, and the table stays small whatever the rules say."""
    rules = lifecycle.LifecycleRules.model_validate_json(rules_json)
    weeks_cap = min(
        max(rules.new_days, rules.active_days, rules.silent_days, rules.churned_days) // 7 + 2, history_weeks + 1
    )
    days_cap = min(
        max(rules.stable_min_engaged_days, rules.quality_min_engaged_days, rules.low_frequency_max_engaged_days) + 1,
        MAX_ENGAGED_DAYS + 1,
    )
    size = int(_code(weeks_cap, weeks_cap, 1, days_cap, 1, weeks_cap, days_cap)) + 1
    table = np.zeros(size, dtype=np.int64)
    for age, since, unsub, days, orders in product(
        range(weeks_cap + 1), range(-1, weeks_cap + 1), (0, 1), range(days_cap + 1), (0, 1)
    ):
        stage = lifecycle.stage_of(
            rules,
            days_since=since * 7 + 3.5 if since >= 0 else None,
            age_days=age * 7 + 3.5,
            unsubscribed=bool(unsub),
            engaged_days=days,
            has_orders=bool(orders),
        )
        table[_code(age, since, unsub, days, orders, weeks_cap, days_cap)] = FLOW_STATES.index(
            "active" if stage == "stable" else stage
        )
    return table, weeks_cap, days_cap
