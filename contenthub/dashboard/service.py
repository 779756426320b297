"""The dashboard's service functions: each view of the current rollup, validated inputs, no HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from contenthub.audience import lifecycle
from contenthub.dashboard import channels, fatigue, ltv, retention, rollup
from contenthub.dashboard.models import (
    AssetLeaders,
    ChannelHealth,
    CohortBy,
    Fatigue,
    LifecycleFlows,
    LtvModel,
    ObservedLtv,
    Retention,
    UserValue,
)
from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import taxonomy

T = TypeVar("T")


def check_channel(hub: Hub, channel: str) -> str:
    known = taxonomy.ids(hub.store, "channels")
    if channel not in known:
        raise InvalidError(
            _("channel: unknown channel '{channel}'; allowed: {known}").format(
                channel=channel, known=", ".join(sorted(known))
            ),
            field="channel",
            value=channel,
        )
    return channel


def _memo(r: rollup.Rollup, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """A view's result computed once per rollup: the views are pure functions of the rollup and their
    parameters (and of the lifecycle rules, part of the key where used), so a request after the first — and
    every request for the views ``warm`` computes ahead — costs the size of its answer, not of the hub."""
    found = r.views.get(key)
    if found is None:
        found = r.views[key] = compute()
    return cast(T, found)


def _retention(hub: Hub, r: rollup.Rollup, by: CohortBy, weeks: int) -> Retention:
    key: tuple[Any, ...] = ("retention", by, weeks)
    return _memo(r, key, lambda: retention.cohorts(hub, r, by=by, weeks=weeks))


def _flows(hub: Hub, r: rollup.Rollup, weeks: int) -> LifecycleFlows:
    rules = lifecycle.get_rules(hub).model_dump_json()
    return _memo(r, ("lifecycle", weeks, rules), lambda: retention.flows(hub, r, weeks=weeks))


def fatigue_of(r: rollup.Rollup, channel: str) -> Fatigue:
    """A channel's fatigue curve on a given rollup (the calendar's link reads the current one without waiting)."""
    return _memo(r, ("fatigue", channel), lambda: fatigue.fatigue(r, channel))


def _observed(r: rollup.Rollup, by: str, weeks: int) -> ObservedLtv:
    return _memo(r, ("ltv", by, weeks), lambda: ltv.observed(r, by=by, weeks=weeks))


def warm(hub: Hub, r: rollup.Rollup) -> None:
    """The views at their default parameters (what the pages open on), computed on a new rollup before it
    is served, in the build's background thread."""
    for by in ("week", "source", "journey"):
        _retention(hub, r, by, 12)
    _flows(hub, r, 12)
    for channel in taxonomy.ids(hub.store, "channels"):
        fatigue_of(r, channel)
    for by in ("week", "source"):
        _observed(r, by, 12)
    ltv.model(hub, r)  # the value model, and the tiers the tier cohorts need
    _retention(hub, r, "tier", 12)


rollup.WARMERS.append(warm)


def retention_view(hub: Hub, by: CohortBy = "week", weeks: int = 12) -> Retention:
    return _retention(hub, rollup.get(hub), by, weeks)


def lifecycle_view(hub: Hub, weeks: int = 12) -> LifecycleFlows:
    return _flows(hub, rollup.get(hub), weeks)


def channels_view(hub: Hub, weeks: int = 12, channel: str | None = None) -> ChannelHealth:
    if channel is not None:
        check_channel(hub, channel)
    return channels.health(hub, rollup.get(hub), weeks=weeks, channel=channel)


def assets_view(hub: Hub, min_deliveries: int = 10) -> AssetLeaders:
    return channels.asset_leaders(hub, rollup.get(hub), min_deliveries=min_deliveries)


def fatigue_view(hub: Hub, channel: str) -> Fatigue:
    return fatigue_of(rollup.get(hub), check_channel(hub, channel))


def ltv_observed_view(hub: Hub, by: str = "week", weeks: int = 12) -> ObservedLtv:
    return _observed(rollup.get(hub), by, weeks)


def ltv_model_view(hub: Hub) -> LtvModel:
    return ltv.model(hub, rollup.get(hub))[0]


def user_value(hub: Hub, user_id: str) -> UserValue:
    ltv.model(hub, rollup.get(hub))  # fits and stores the model if this process has not yet
    return ltv.user_value(hub, user_id)


def refresh(hub: Hub, *, write_attributes: bool = True, full: bool = False) -> dict[str, object]:
    """Bring the rollup up to date now (``full``: read every week again), refit the value model and (by
    default) copy predicted value onto users."""
    r = rollup.refresh(hub, full=full)
    fitted, _ignored = ltv.model(hub, r)
    written = ltv.write_attributes(hub, r) if write_attributes and fitted.missing is None else 0
    return {
        "users": len(r.user_ids),
        "weeks": r.n_weeks,
        "build_seconds": round(r.build_seconds, 3),
        "weeks_read": r.reread_weeks,
        "model": fitted.model,
        "model_missing": fitted.missing,
        "attributes_written": written,
    }
