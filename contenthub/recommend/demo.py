"""Demo audience: users with identities, groups, and weeks of engagement simulated from a preference
model — ingested through the same event pipeline bots use, so profiles, stats and pages are real.

The simulation spans ``DAYS`` (13 weeks) so the operations dashboard has cohorts, lifecycle flows and
held-out weeks to show: each user has a send intensity, an interest that fades after a random lifetime
(some come back), opens that drop and mutes that rise with the sends of the week on a channel (send
fatigue), and purchases with a value (LTV)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from tqdm import tqdm

from contenthub.audience import groups, users
from contenthub.audience.models import GroupIn, Identity, MembershipChange, UserIn
from contenthub.hub import Hub
from contenthub.library.demo_corpus import generate_assets
from contenthub.recommend import events
from contenthub.recommend.catalog import refresh_now
from contenthub.store.query import AssetFilter
from contenthub.timeutil import to_iso, utcnow

REGIONS = ["上海", "北京", "杭州", "广州", "深圳", "成都", "武汉", "南京"]
SOURCES = ["mp_subscription", "wecom_1v1", "xiaohongshu", "douyin", "miniprogram"]
LEVELS = ["普通会员", "银卡", "金卡", "黑金"]
GROUPS = [
    ("g-eye-fans", "护眼交流群", "community"),
    ("g-welfare-1", "福利群①", "welfare"),
    ("g-welfare-2", "福利群②", "welfare"),
    ("g-coffee", "咖啡爱好者", "community"),
    ("g-new-mom", "新手妈妈群", "conversion"),
    ("g-pets", "毛孩子俱乐部", "community"),
    ("g-notice", "新品通知群", "broadcast"),
    ("g-fitness", "燃脂打卡群", "community"),
]
DAYS = 91
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["小美", "晓雯", "子涵", "思远", "佳怡", "浩然", "雨桐", "一鸣", "欣悦", "俊杰", "梓萱", "天宇", "诗琪", "明轩"]
NAMED_SHARE = 0.6
"""Share of demo users whose name is known (a WeCom remark or member profile); the rest show their id only."""


def _verticals(n_assets: int) -> dict[str, str]:
    return {f"demo-{i:05d}": a.get("vertical", "") for i, a in enumerate(generate_assets(n_assets))}


def load_demo(hub: Hub, *, n_users: int = 600, progress: bool = False, force: bool = False) -> list[str]:
    if hub.store.count_docs(users.USERS) and not force:
        return [f"{hub.store.count_docs(users.USERS)} users already present; not simulating again"]
    rng = random.Random(11)
    now = utcnow()
    approved = hub.store.filter_assets(AssetFilter(statuses=("approved",)), limit=100000).hits
    docs = hub.store.get_assets([h.id for h in approved])
    verticals = _verticals(len(docs) + 100)
    all_verticals = sorted({v for v in verticals.values() if v})
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for d in docs.values():
        for c in d.get("channels", []):
            by_channel.setdefault(c, []).append(d)

    people: list[dict[str, Any]] = []
    names = random.Random(23)  # its own stream: the engagement simulation below draws exactly as before
    for i in range(n_users):
        created = now - timedelta(days=rng.uniform(0, DAYS + 7), hours=rng.uniform(0, 24))
        idents = [Identity(type="openid", value=f"o_demo_{i:05d}")]
        if rng.random() < 0.7:
            idents.append(Identity(type="external_userid", value=f"wm_demo_{i:05d}"))
        if rng.random() < 0.3:
            idents.append(Identity(type="phone", value=f"1380000{i:04d}"))
        u = users.upsert_user(
            hub,
            UserIn(
                id=f"demo-u{i:04d}",
                identities=idents,
                region=rng.choice(REGIONS),
                source_channel=rng.choice(SOURCES),
                member_level=rng.choices(LEVELS, weights=[6, 3, 2, 1])[0],
                attributes={"nickname": names.choice(SURNAMES) + names.choice(GIVEN)}
                if names.random() < NAMED_SHARE
                else {},
            ),
        )
        doc = hub.store.get_doc(users.USERS, u.id) or {}
        doc["created_at"] = to_iso(created)
        hub.store.put_doc(users.USERS, u.id, doc)
        likes = set(rng.sample(all_verticals, k=min(2, len(all_verticals)))) if all_verticals else set()
        activity = rng.choice([0.02, 0.1, 0.3, 0.6])  # some users go silent, some are fans
        people.append(
            {
                "id": u.id,
                "likes": likes,
                "activity": activity,
                "created": created,
                "intensity": rng.choice([0.15, 0.3, 0.5, 0.8]),  # chance of a send on a given day
                "lifetime": rng.expovariate(1 / 45),
                "returns": rng.random() < 0.25,
                "channels": rng.sample(["wecom_1v1", "mp_subscription", "wecom_group", "moments", "app_push"], 2),
            }
        )

    for gid, name, purpose in GROUPS:
        groups.upsert_group(hub, GroupIn(id=gid, name=name, channel="wecom_group", purpose=purpose, owner="运营小美"))
        members = rng.sample([p["id"] for p in people], k=min(len(people), rng.randint(30, 120)))
        groups.change_members(hub, gid, MembershipChange(join=members, at=now - timedelta(days=DAYS)))

    batch: list[dict[str, Any]] = []
    total = 0
    seq = 0

    def flush() -> None:
        nonlocal total
        if batch:
            total += events.ingest(hub, batch).accepted
            batch.clear()

    for p in tqdm(people, desc="demo engagement", unit="user", disable=not progress):
        week_sends: dict[tuple[int, str], int] = {}
        muted: set[str] = set()
        for day in range(DAYS, 0, -1):
            at = now - timedelta(days=day, hours=rng.uniform(-4, 4))
            if at < p["created"] or rng.random() > p["intensity"]:
                continue
            channel = rng.choice(p["channels"])
            pool = by_channel.get(channel)
            if not pool or channel in muted:
                continue
            age = (at - p["created"]).days
            # interest fades after the user's lifetime; a few come back three weeks later
            fading = age > p["lifetime"] and not (p["returns"] and age > p["lifetime"] + 21)
            sent = week_sends[day // 7, channel] = week_sends.get((day // 7, channel), 0) + 1
            asset = rng.choice(pool)
            liked = verticals.get(asset["id"], "") in p["likes"]
            seq += 1
            base = {"user_id": p["id"], "asset_id": asset["id"], "channel": channel}
            batch.append({**base, "id": f"demo-e{seq}-d", "type": "delivered", "ts": to_iso(at)})
            p_open = p["activity"] * (2.2 if liked else 0.6) * (0.1 if fading else 1.0) * 0.9 ** (sent - 1)
            if rng.random() < min(p_open, 0.95):
                batch.append({**base, "id": f"demo-e{seq}-o", "type": "open", "ts": to_iso(at + timedelta(minutes=7))})
                if rng.random() < (0.55 if liked else 0.12):
                    batch.append(
                        {**base, "id": f"demo-e{seq}-c", "type": "click", "ts": to_iso(at + timedelta(minutes=9))}
                    )
                    if rng.random() < (0.3 if liked else 0.04):
                        batch.append(
                            {
                                **base,
                                "id": f"demo-e{seq}-v",
                                "type": "convert",
                                "value": round(rng.uniform(29, 399), 2),
                                "ts": to_iso(at + timedelta(minutes=30)),
                            }
                        )
            elif rng.random() < 0.004 + 0.012 * max(sent - 2, 0) * (0.5 if liked else 1.0):
                kind = "unsubscribe" if rng.random() < 0.25 else "mute"
                batch.append(
                    {
                        "user_id": p["id"],
                        "channel": channel,
                        "id": f"demo-e{seq}-m",
                        "type": kind,
                        "ts": to_iso(at + timedelta(hours=1)),
                        **({"asset_id": asset["id"]} if kind == "mute" else {}),
                    }
                )
                if kind == "unsubscribe":
                    muted.add(channel)
            if len(batch) >= 2000:
                flush()
    flush()
    refresh_now(hub)
    return [f"created {len(people)} users and {len(GROUPS)} groups; ingested {total} events over {DAYS} days"]
