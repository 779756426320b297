"""A simulated cohort through a journey, end to end through the real code paths, on a simulated clock.

Users are created through ``users.resolve_identity`` (so the identity trigger enrols them), some join
a group through ``groups.change_members``, the scheduler advances them with ``engine.advance_due``, a
simulated bot fetches due sends with ``outbox.fetch_due`` (recommender picks, cap reservations) and
reports delivered / open / click / convert / mute events through ``events.ingest`` — whose hook
confirms the sends and attributes the funnel. Only the users' behaviour is made up.

The simulated clock runs in the past (ending a day before now), because ingestion rightly refuses
events from the future.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from contenthub.audience import groups, users
from contenthub.audience.models import GroupIn, Identity, MembershipChange
from contenthub.hub import Hub
from contenthub.journeys import conditions, engine, funnel, outbox, service
from contenthub.library.models import Asset
from contenthub.library.service import save_built_assets
from contenthub.recommend import events
from contenthub.store.query import AssetFilter
from contenthub.timeutil import to_iso, utcnow

SCENES = ("onboarding", "education", "first_order", "seeding", "tutorial", "membership")
CTYPES = ("educational", "practical", "promotional", "brand_story", "interactive")
INTERESTS = ("护眼", "咖啡", "护肤", "母婴", "健身", "茶饮", "宠物", "家居")


@dataclass
class CohortConfig:
    users: int = 5000
    journey: str = "new-contact-care"
    channel: str = "wecom_1v1"
    days: int = 33
    arrival_days: float = 3.0
    tick_hours: float = 1.0
    assets: int = 72
    p_deliver: float = 0.95
    """Per offer: the bot sends and confirms. Otherwise the offer lapses and is offered again."""
    p_open: float = 0.55
    p_click_given_open: float = 0.3
    p_convert_given_click: float = 0.15
    p_mute: float = 0.01
    p_join_group: float = 0.35
    """Share of users who join the welfare group on their own within two days of arriving."""
    seed: int = 7


def _ensure_assets(hub: Hub, cfg: CohortConfig, start: datetime) -> None:
    """Placeholder assets only for a library too small to run the cohort on: on a real library (the demo's) the
    journey sends that library's content, and placeholders titled 旅程素材 would crowd editors' searches."""
    on_channel = AssetFilter(channels=(cfg.channel,), statuses=("approved",))
    if hub.store.count_assets(on_channel) >= cfg.assets:
        return
    stamp = to_iso(start - timedelta(days=30))
    docs = []
    for i in range(cfg.assets):
        aid = f"sim-j-{i:03d}"
        if hub.store.get_asset(aid) is None:
            docs.append(
                Asset(
                    id=aid,
                    title=f"旅程素材 {i:03d} {INTERESTS[i % len(INTERESTS)]}",
                    body="simulated",
                    kind="article",
                    content_type=CTYPES[i % len(CTYPES)],
                    scenes=[SCENES[i % len(SCENES)]],
                    channels=[cfg.channel],
                    tags=[INTERESTS[i % len(INTERESTS)]],
                    status="approved",
                    created_at=stamp,
                    updated_at=stamp,
                ).model_dump(mode="json")
            )
    save_built_assets(hub, docs)


def _behaviour(rng: np.random.Generator, cfg: CohortConfig, send: Any, at: datetime) -> list[dict[str, Any]]:
    base = {
        "user_id": send.user_id,
        "asset_id": send.asset_id,
        "channel": send.channel,
        "recommendation_id": send.recommendation_id,
    }
    tag = f"sim-{send.recommendation_id}"
    out = [{**base, "id": f"{tag}-d", "type": "delivered", "ts": to_iso(at + timedelta(minutes=1))}]
    if rng.random() < cfg.p_mute:
        out.append(
            {
                "id": f"{tag}-m",
                "type": "mute",
                "user_id": send.user_id,
                "channel": send.channel,
                "ts": to_iso(at + timedelta(minutes=3)),
            }
        )
        return out
    if rng.random() >= cfg.p_open:
        return out
    out.append({**base, "id": f"{tag}-o", "type": "open", "ts": to_iso(at + timedelta(minutes=5))})
    if rng.random() >= cfg.p_click_given_open:
        return out
    out.append({**base, "id": f"{tag}-c", "type": "click", "ts": to_iso(at + timedelta(minutes=6))})
    if rng.random() < cfg.p_convert_given_click:
        out.append(
            {
                **base,
                "id": f"{tag}-v",
                "type": "convert",
                "value": round(float(rng.exponential(120)), 2),
                "ts": to_iso(at + timedelta(minutes=30)),
            }
        )
    return out


def run_cohort(hub: Hub, cfg: CohortConfig, *, end: datetime | None = None) -> dict[str, Any]:
    """Run the cohort and return the funnel with what the simulation did (JSON-ready)."""
    t_wall = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    end = (end or utcnow() - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=cfg.days)
    _ensure_assets(hub, cfg, start)
    if cfg.journey not in service.heads(hub):
        service.install_template(hub, cfg.journey, "simulator", status="active")
    else:
        service.set_status(hub, cfg.journey, "active", "simulator")
    group_id = "sim-welfare-group"
    groups.upsert_group(hub, GroupIn(id=group_id, name="福利群", channel="wecom_group", purpose="welfare"))

    clock = [start]
    hub.cache["journeys_clock"] = lambda: clock[0]
    arrivals = sorted((start + timedelta(days=float(rng.uniform(0, cfg.arrival_days))), i) for i in range(cfg.users))
    joins = sorted(
        (at + timedelta(hours=float(rng.uniform(1, 48))), i) for at, i in arrivals if rng.random() < cfg.p_join_group
    )
    uid_of: dict[int, str] = {}
    a = j = 0
    fetched = delivered_events = 0
    pending: list[dict[str, Any]] = []
    steps = int(cfg.days * 24 / cfg.tick_hours)
    try:
        for k in range(1, steps + 1):
            now = start + timedelta(hours=k * cfg.tick_hours)
            clock[0] = now
            while a < len(arrivals) and arrivals[a][0] <= now:
                at, i = arrivals[a]
                uid_of[i] = (
                    users.resolve_identity(
                        hub, Identity(type="external_userid", value=f"sim-ext-{i:06d}"), at=to_iso(at)
                    )
                    or ""
                )
                a += 1
            joined = []
            while j < len(joins) and joins[j][0] <= now:
                at, i = joins[j]
                if i in uid_of:
                    joined.append(uid_of[i])
                j += 1
            if joined:
                groups.change_members(hub, group_id, MembershipChange(join=joined, at=now))
                conditions.invalidate_groups(hub)
            engine.run_until_idle(hub, now)
            while True:
                due = outbox.fetch_due(hub, cfg.channel, limit=outbox.MAX_LIMIT, now=now)
                if not due:
                    break
                fetched += len(due)
                for send in due:
                    if rng.random() < cfg.p_deliver:
                        pending.extend(_behaviour(rng, cfg, send, now))
                if len(due) < outbox.MAX_LIMIT:
                    break
            for i in range(0, len(pending), events.MAX_BATCH):
                delivered_events += events.ingest(hub, pending[i : i + events.MAX_BATCH]).accepted
            pending.clear()
        outbox.sweep_expired(hub, end)
    finally:
        hub.cache.pop("journeys_clock", None)
    f = funnel.build(hub, cfg.journey)
    return {
        "journey": cfg.journey,
        "config": asdict(cfg),
        "simulated_from": to_iso(start),
        "simulated_to": to_iso(end),
        "sends_fetched": fetched,
        "events_ingested": delivered_events,
        "seconds": round(time.perf_counter() - t_wall, 1),
        "funnel": f.model_dump(),
    }
