"""The dashboard rollup kept up to date incrementally: a refresh reads only the weeks whose events changed, and
what it gives equals a build from the whole event log — after new, late, merged and erased events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from contenthub.audience import erasure, users
from contenthub.dashboard import rollup, service
from contenthub.hub import Hub
from contenthub.recommend import events
from contenthub.timeutil import to_iso, utcnow
from tests.test_dashboard import _assets, _simulate


def _arrays(r: rollup.Rollup) -> dict[str, Any]:
    sends = {
        ch: sorted(
            zip(s.user.tolist(), s.week.tolist(), s.sends.tolist(), s.opens.tolist(), s.mutes.tolist(), strict=True)
        )
        for ch, s in r.sends.items()
    }
    return {
        "user_ids": r.user_ids,
        "week0": r.week0,
        "now_week": r.now_week,
        "first_week": r.first_week.tolist(),
        "engaged": r.engaged.tolist(),
        "orders": r.orders.tolist(),
        "revenue": np.round(r.revenue, 6).tolist(),
        "unsub_week": r.unsub_week.tolist(),
        "source": r.source.tolist(),
        "journey": r.journey.tolist(),
        "sends": sends,
        "channel_weeks": {k: {n: round(v, 6) for n, v in d.items()} for k, d in r.channel_weeks.items()},
    }


def _views(hub: Hub) -> list[Any]:
    return [
        service.retention_view(hub, "week", 12).model_dump(),
        service.retention_view(hub, "source", 12).model_dump(),
        service.lifecycle_view(hub, 12).model_dump(),
        service.channels_view(hub, 12).model_dump(),
        service.fatigue_view(hub, "wecom_1v1").model_dump(),
        service.ltv_observed_view(hub, "week", 12).model_dump(),
    ]


def _full_equals_incremental(hub: Hub, incremental: rollup.Rollup) -> None:
    got, views = _arrays(incremental), _views(hub)
    full = rollup.refresh(hub, full=True)
    assert full.reread_weeks == full.n_weeks
    assert got == _arrays(full)
    assert views == _views(hub)


def _event(eid: str, etype: str, user: str, days_ago: float, **extra: Any) -> dict[str, Any]:
    at = utcnow() - timedelta(days=days_ago)
    return {
        "id": eid,
        "type": etype,
        "user_id": user,
        "asset_id": "a1",
        "channel": "wecom_1v1",
        "ts": to_iso(at),
        **extra,
    }


def test_a_refresh_reads_only_the_weeks_that_changed_and_equals_a_full_build(hub: Hub) -> None:
    _assets(hub)
    _simulate(hub)
    first = rollup.refresh(hub, full=True)
    assert first.reread_weeks == first.n_weeks > 12
    assert rollup.refresh(hub).reread_weeks == 0  # nothing new: every week kept

    # new events now (a new user among them) and a late one five weeks back
    new = [
        _event("inc-1", "delivered", "u001", 0.01),
        _event("inc-2", "open", "u001", 0.005),
        _event("inc-3", "delivered", "newcomer", 0.01),
        _event("inc-4", "convert", "newcomer", 0.004, value=88.0),
        _event("late-1", "delivered", "u002", 35),
        _event("late-2", "unsubscribe", "u002", 35),
    ]
    assert not events.ingest(hub, new).rejected
    r = rollup.refresh(hub)
    assert 2 <= r.reread_weeks <= 3 < r.n_weeks  # the current week and the late event's (local) week
    assert "newcomer" in r.user_ids
    _full_equals_incremental(hub, r)


def test_merges_and_erasures_reach_an_incremental_refresh(hub: Hub) -> None:
    """A merge moves events between users without changing any week's count, an erasure removes a user's
    events: both are seen (through the user documents) and the refresh then reads every week."""
    _assets(hub)
    _simulate(hub)
    rollup.refresh(hub, full=True)
    users.merge_users(hub, keep="u004", absorb="u005")
    r = rollup.refresh(hub)
    assert "u005" not in r.user_ids and r.reread_weeks == r.n_weeks
    _full_equals_incremental(hub, r)
    erasure.erase_user(hub, "u006")
    r = rollup.refresh(hub)
    assert "u006" not in r.user_ids
    _full_equals_incremental(hub, r)
