"""Retention cohorts and week-by-week lifecycle flows, reduced from the rollup.

A user is *engaging* in a week when they have at least one engaged event (``engagement.ENGAGED``) in it;
week 0 is the week they were first seen (their first event of any kind).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from contenthub.dashboard import ltv
from contenthub.dashboard.activity import week_start
from contenthub.dashboard.models import Cohort, CohortBy, LifecycleFlows, Retention, StageWeek
from contenthub.dashboard.rollup import Rollup
from contenthub.hub import Hub
from contenthub.recommend import lifecycle

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
        return Retention(by=by, weeks=weeks, cohorts=[], missing=f"No users were first seen in the last {weeks + 1} weeks.")
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
    mid-week (±3.5 days), engaged days over 90 days are approximated by engaged weeks over 13 weeks
    (at most one counted day per week with activity, capped at 7 per week) and orders by any conversion so far.
    ``won_back`` is a user silent or churned the week before and engaging again (new/active/stable) now;
    ``stable`` is reported under ``active`` (the flow the brief asks for)."""
    missing = _missing_users(r)
    if missing:
        return LifecycleFlows(states=FLOW_STATES, weeks=[], missing=missing)
    rules = lifecycle.get_rules(hub)
    n = len(r.user_ids)
    engaged = r.engaged > 0
    orders_cum = np.cumsum(r.orders > 0, axis=1) > 0
    last_engaged = np.full(n, -10_000, dtype=np.int64)  # week index of the last engaged week so far
    # weeks before the arrays: counted as engaged in the user's first week when it lies there
    start = max(0, r.n_weeks - weeks - 1)
    for c in range(start):
        last_engaged = np.where(engaged[:, c], r.week0 + c, last_engaged)
    window = np.minimum(r.engaged, 7)
    prev: np.ndarray | None = None
    out: list[StageWeek] = []
    stage_of = _stage_fn(rules.model_dump_json())
    for c in range(start, r.n_weeks):
        week = r.week0 + c
        last_engaged = np.where(engaged[:, c], week, last_engaged)
        seen = r.first_week <= week
        age_weeks = np.clip(week - r.first_week, 0, 60)
        since_weeks = np.where(last_engaged > -10_000, np.clip(week - last_engaged, 0, 60), -1)
        lo = max(0, c - 12)
        days = np.minimum(window[:, lo:c + 1].sum(axis=1), 91)
        unsub = (r.unsub_week >= 0) & (r.unsub_week <= week)
        has_orders = orders_cum[:, c]
        # one integer per combination of inputs, so np.unique is a 1-D sort
        codes = ((((age_weeks * 62 + since_weeks + 1) * 2 + unsub) * 31 + np.minimum(days, 30)) * 2
                 + has_orders).astype(np.int64)
        uniq, inverse = np.unique(codes[seen], return_inverse=True)
        stage_ids = np.array([FLOW_STATES.index(stage_of(*_decode(int(code)))) for code in uniq], dtype=np.int64)
        state = np.full(n, -1, dtype=np.int64)
        state[seen] = stage_ids[inverse.ravel()]
        if prev is not None:
            was_lost = (prev == 2) | (prev == 3)
            back = was_lost & ((state == 0) | (state == 1))
            state = np.where(back, 4, state)
        if c >= r.n_weeks - weeks:
            counts = {s: int((state == i).sum()) for i, s in enumerate(FLOW_STATES)}
            moves: dict[str, int] = {}
            if prev is not None:
                both = (prev >= 0) & (state >= 0)
                pairs, n_pairs = np.unique(prev[both] * 10 + state[both], return_counts=True)
                moves = {f"{FLOW_STATES[p // 10]}>{FLOW_STATES[p % 10]}": int(k) for p, k in zip(pairs, n_pairs, strict=True)}
                arrivals = int(((prev < 0) & (state >= 0)).sum())
                if arrivals:
                    moves["(first seen)>new"] = arrivals
            out.append(StageWeek(week=str(week_start(week)), counts=counts, flows=moves))
        prev = state
    return LifecycleFlows(states=FLOW_STATES, weeks=out)


def _decode(code: int) -> tuple[int, int, int, int, int]:
    code, has_orders = divmod(code, 2)
    code, days = divmod(code, 31)
    code, unsub = divmod(code, 2)
    age, since = divmod(code, 62)
    return age, since - 1, unsub, days, has_orders


@lru_cache(maxsize=16)
def _stage_fn(rules_json: str):  # type: ignore[no-untyped-def]
    """A memoised ``lifecycle.stage_of`` for weekly inputs (few distinct combinations: one call each)."""
    rules = lifecycle.LifecycleRules.model_validate_json(rules_json)

    @lru_cache(maxsize=200_000)
    def stage(age_weeks: int, since_weeks: int, unsub: int, engaged_days: int, has_orders: int) -> str:
        s = lifecycle.stage_of(rules, days_since=since_weeks * 7 + 3.5 if since_weeks >= 0 else None,
                               age_days=age_weeks * 7 + 3.5, unsubscribed=bool(unsub),
                               engaged_days=engaged_days, has_orders=bool(has_orders))
        return "active" if s == "stable" else s

    return stage
