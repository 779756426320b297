"""Channel health week by week, with the caps in force, and the best and worst assets per scene and type."""

from __future__ import annotations

from collections import defaultdict

from contenthub.audience import caps
from contenthub.dashboard.models import (
    AssetGroup,
    AssetLeaders,
    AssetRank,
    CapInForce,
    ChannelHealth,
    ChannelWeek,
)
from contenthub.dashboard.rollup import Rollup
from contenthub.dashboard.weeks import week_start
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.library import taxonomy

LEADERS = 3


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def health(hub: Hub, r: Rollup, weeks: int = 12, channel: str | None = None) -> ChannelHealth:
    channels = taxonomy.ids(hub.store, "channels")
    if channel is not None:
        channels = [channel]
    week_ids = list(range(r.now_week - weeks + 1, r.now_week + 1))
    rows: list[ChannelWeek] = []
    missing: dict[str, str] = {}
    for ch in channels:
        found = [(w, r.channel_weeks.get((ch, w))) for w in week_ids]
        if not any(f and (f.get("n:served") or f.get("n:delivered")) for _ignored, f in found):
            missing[ch] = _("No sends or deliveries on this channel in the last {weeks} weeks.").format(weeks=weeks)
            continue
        for w, f in found:
            f = f or {}
            n = {
                t: int(f.get(f"n:{t}", 0))
                for t in ("served", "delivered", "open", "click", "convert", "mute", "unsubscribe")
            }
            d = n["delivered"]
            rows.append(
                ChannelWeek(
                    channel=ch,
                    week=str(week_start(w)),
                    sends=n["served"],
                    deliveries=d,
                    opens=n["open"],
                    clicks=n["click"],
                    conversions=n["convert"],
                    mutes=n["mute"],
                    unsubscribes=n["unsubscribe"],
                    revenue=round(float(f.get("rev", 0.0)), 2),
                    open_rate=_rate(n["open"], d),
                    click_rate=_rate(n["click"], d),
                    conversion_rate=_rate(n["convert"], d),
                )
            )
    in_force = []
    for ch in channels:
        rule = caps.get_rule(hub, ch)
        in_force.append(
            CapInForce(
                channel=ch, per_day=rule.per_day, per_week=rule.per_week, per_month=rule.per_month, note=rule.note
            )
        )
    return ChannelHealth(weeks=[str(week_start(w)) for w in week_ids], rows=rows, caps=in_force, missing=missing)


def asset_leaders(hub: Hub, r: Rollup, min_deliveries: int = 10) -> AssetLeaders:
    """Per scene and per content type, the assets with the highest and lowest click rate (clicks per
    delivery) among those delivered at least ``min_deliveries`` times, from the per-asset statistics
    ingestion keeps (``asset_stats``, summed over channels in the rollup)."""
    eligible = {
        a: defaultdict(float, t) for a, t in r.asset_totals.items() if t.get("n:delivered", 0) >= min_deliveries
    }
    if not eligible:
        return AssetLeaders(
            min_deliveries=min_deliveries,
            groups=[],
            missing=(
                _("No asset has been delivered {n} times yet, so no click rate is worth ranking.").format(
                    n=min_deliveries
                )
            ),
        )
    missing = sorted(a for a in eligible if a not in r.asset_meta)
    if missing:
        r.asset_meta.update(
            {
                aid: {
                    "title": d.get("title", ""),
                    "scenes": d.get("scenes") or [],
                    "content_type": d.get("content_type"),
                }
                for aid, d in hub.store.get_assets(missing).items()
            }
        )
    docs = r.asset_meta
    by_group: dict[tuple[str, str], list[AssetRank]] = defaultdict(list)
    for aid, t in eligible.items():
        doc = docs.get(aid)
        if doc is None:
            continue
        rank = AssetRank(
            asset_id=aid,
            title=doc.get("title", ""),
            deliveries=int(t["n:delivered"]),
            clicks=int(t["n:click"]),
            conversions=int(t["n:convert"]),
            click_rate=round(t["n:click"] / t["n:delivered"], 4),
            revenue=round(t["rev"], 2),
        )
        for scene in doc.get("scenes") or ():
            by_group["scene", scene].append(rank)
        if doc.get("content_type"):
            by_group["content_type", doc["content_type"]].append(rank)
    groups = []
    for (facet, value), ranks in sorted(by_group.items()):
        ranks.sort(key=lambda a: (-a.click_rate, -a.deliveries, a.asset_id))
        best = ranks[:LEADERS]
        worst = [a for a in ranks[::-1][:LEADERS] if a not in best]
        groups.append(AssetGroup(facet=facet, value=value, best=best, worst=worst))
    return AssetLeaders(min_deliveries=min_deliveries, groups=groups)
