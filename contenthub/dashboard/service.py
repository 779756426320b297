"""The dashboard's service functions: each view of the current rollup, validated inputs, no HTTP."""

from __future__ import annotations

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


def retention_view(hub: Hub, by: CohortBy = "week", weeks: int = 12) -> Retention:
    return retention.cohorts(hub, rollup.get(hub), by=by, weeks=weeks)


def lifecycle_view(hub: Hub, weeks: int = 12) -> LifecycleFlows:
    return retention.flows(hub, rollup.get(hub), weeks=weeks)


def channels_view(hub: Hub, weeks: int = 12, channel: str | None = None) -> ChannelHealth:
    if channel is not None:
        check_channel(hub, channel)
    return channels.health(hub, rollup.get(hub), weeks=weeks, channel=channel)


def assets_view(hub: Hub, min_deliveries: int = 10) -> AssetLeaders:
    return channels.asset_leaders(hub, rollup.get(hub), min_deliveries=min_deliveries)


def fatigue_view(hub: Hub, channel: str) -> Fatigue:
    return fatigue.fatigue(rollup.get(hub), check_channel(hub, channel))


def ltv_observed_view(hub: Hub, by: str = "week", weeks: int = 12) -> ObservedLtv:
    return ltv.observed(rollup.get(hub), by=by, weeks=weeks)


def ltv_model_view(hub: Hub) -> LtvModel:
    return ltv.model(hub, rollup.get(hub))[0]


def user_value(hub: Hub, user_id: str) -> UserValue:
    ltv.model(hub, rollup.get(hub))  # fits and stores the model if this process has not yet
    return ltv.user_value(hub, user_id)


def refresh(hub: Hub, *, write_attributes: bool = True) -> dict[str, object]:
    """Rebuild the rollup now, refit the value model and (by default) copy predicted value onto users."""
    r = rollup.refresh(hub)
    fitted, _ignored = ltv.model(hub, r)
    written = ltv.write_attributes(hub, r) if write_attributes and fitted.missing is None else 0
    return {
        "users": len(r.user_ids),
        "weeks": r.n_weeks,
        "build_seconds": round(r.build_seconds, 3),
        "model": fitted.model,
        "model_missing": fitted.missing,
        "attributes_written": written,
    }
