"""Ingestion's fast paths compute what the plain ones did.

- ``events._well_formed`` (plain-Python check of well-formed events) accepts only events EventIn accepts,
  and yields exactly the row the pydantic path (``events._validated``) builds for them; everything else
  falls through to EventIn, so every rejection reason is EventIn's.
- ``engagement.counter_deltas`` (grouped sums, cached asset features) equals a plain per-event loop.
- the all-channel ("*") statistics and popularity, no longer written by ingestion, are summed where read.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any

import pytest

from contenthub.audience import engagement
from contenthub.recommend import events
from contenthub.recommend.models import RejectedEvent
from contenthub.timeutil import from_iso

CHANNELS = {"wecom_1v1", "moments", "c" * 65}
HORIZON = "2026-12-01T10:05:00.000000Z"
BASE = {
    "id": "e1",
    "type": "click",
    "user_id": "u1",
    "asset_id": "a1",
    "channel": "wecom_1v1",
    "ts": "2026-12-01T09:00:00.123456Z",
}

CASES: list[dict[str, Any]] = [
    BASE,
    {**BASE, "ts": None},
    {k: v for k, v in BASE.items() if k != "ts"},
    {**BASE, "value": 99},
    {**BASE, "value": 99.5},
    {**BASE, "value": True},
    {**BASE, "value": "99"},
    {**BASE, "value": 1e9},
    {**BASE, "value": -1e9},
    {**BASE, "value": 1e9 + 1},
    {**BASE, "value": math.nan},
    {**BASE, "value": math.inf},
    {**BASE, "value": None},
    {**BASE, "ts": "2026-12-01T09:00:00Z"},
    {**BASE, "ts": "2026-12-01T09:00:00.123456+00:00"},
    {**BASE, "ts": "2026-12-01T17:00:00.123456+08:00"},
    {**BASE, "ts": "2026-12-01T09:00:00.123456"},
    {**BASE, "ts": "2026-W48-1T09:00:00.123456Z"},
    {**BASE, "ts": "2026-02-30T09:00:00.123456Z"},
    {**BASE, "ts": "2026-12-01T24:00:00.123456Z"},
    {**BASE, "ts": "0000-12-01T09:00:00.123456Z"},
    {**BASE, "ts": "２０２６-12-01T09:00:00.123456Z"},
    {**BASE, "ts": "2026-12-01T10:05:00.000001Z"},
    {**BASE, "ts": HORIZON},
    {**BASE, "ts": 1764579600},
    {**BASE, "ts": ""},
    {**BASE, "type": "teleport"},
    {**BASE, "type": "Click"},
    {**BASE, "type": None},
    {**BASE, "id": ""},
    {**BASE, "id": "x" * 128},
    {**BASE, "id": "x" * 129},
    {**BASE, "id": 7},
    {k: v for k, v in BASE.items() if k != "id"},
    {**BASE, "user_id": ""},
    {**BASE, "user_id": None},
    {**BASE, "user_id": None, "group_id": "g1"},
    {**BASE, "group_id": "g1"},
    {**BASE, "group_id": ""},
    {**BASE, "user_id": "u" * 129},
    {**BASE, "asset_id": ""},
    {**BASE, "asset_id": None},
    {**BASE, "asset_id": "a" * 65},
    {**BASE, "asset_id": None, "type": "unsubscribe"},
    {**BASE, "asset_id": None, "type": "served"},
    {**BASE, "channel": "myspace"},
    {**BASE, "channel": ""},
    {**BASE, "channel": "c" * 65},
    {**BASE, "recommendation_id": "r1"},
    {**BASE, "recommendation_id": ""},
    {**BASE, "attributes": {}},
    {**BASE, "attributes": {"k": "v"}},
    {**BASE, "attributes": None},
    {**BASE, "identity": None},
    {**BASE, "user_id": None, "identity": {"type": "openid", "value": "o1"}},
    {**BASE, "extra": "ignored"},
    ["not", "an", "object"],
    "nope",
    None,
]


def _plain(i: int, raw: Any) -> tuple[dict[str, Any], Any] | list[RejectedEvent]:
    rejected: list[RejectedEvent] = []
    found = events._validated(i, raw, CHANNELS, HORIZON, rejected)
    return found if found is not None else rejected


@pytest.mark.parametrize("i,raw", list(enumerate(CASES)))
def test_fast_path_builds_the_row_the_pydantic_path_builds(i: int, raw: Any) -> None:
    fast = events._well_formed(raw, CHANNELS, HORIZON)
    plain = _plain(i, raw)
    if fast is None:
        return  # the event goes the plain way: same outcome by construction
    assert isinstance(plain, tuple), f"fast path accepted what EventIn rejects: {plain}"
    row, identity = plain
    assert identity is None
    assert fast == row and list(fast) == list(row)
    assert [type(v) for v in fast.values()] == [type(v) for v in row.values()]


def test_the_fast_path_takes_the_common_shapes() -> None:
    for raw in (
        BASE,
        {**BASE, "value": 99},
        {**BASE, "ts": None},
        {**BASE, "asset_id": None, "type": "unsubscribe"},
        {**BASE, "user_id": None, "group_id": "g1"},
        {**BASE, "attributes": {}},
    ):
        assert events._well_formed(raw, CHANNELS, HORIZON) is not None, raw


def _reference_deltas(
    evs: list[dict[str, Any]], assets: dict[str, dict[str, Any]], half_life: float
) -> dict[tuple[str, str, str], float]:
    """The per-event loop counter_deltas replaced (sums per counter in event order)."""
    acc: dict[tuple[str, str, str], float] = defaultdict(float)
    for ev in evs:
        w = engagement.EVENT_WEIGHTS.get(ev["type"], 0.0)
        asset = assets.get(ev.get("asset_id") or "")
        rev = float(ev["value"]) if ev["type"] == "convert" and ev.get("value") else None
        scale = engagement.decay_scale(from_iso(ev["ts"]), half_life)
        owners = [o for o in (ev.get("user_id"), ev.get("group_id") and f"group:{ev['group_id']}") if o]
        for owner in owners:
            acc["profile", owner, f"n:{ev['type']}"] += 1
            if rev is not None:
                acc["profile", owner, "rev"] += rev
            if w and asset is not None:
                for f, fw in engagement.asset_features(asset):
                    acc["profile", owner, f] += w * scale * fw
                    rw = engagement.RATE_WEIGHTS[ev["type"]]
                    if f[:2] in engagement.RATE_PREFIXES and rw:  # the topic's and type's engagement rate
                        acc["profile", owner, "g:" + f] += rw * scale
                acc["profile", owner, "w:pos" if w > 0 else "w:neg"] += abs(w) * scale
            elif ev["type"] == "delivered" and asset is not None:  # exposure of the topic and type
                for f, _ in engagement.asset_features(asset):
                    if f[:2] in engagement.RATE_PREFIXES:
                        acc["profile", owner, "e:" + f] += scale
        if asset is not None:  # per channel only: the all-channel figures are summed where they are read
            key = f"{asset['id']}|{ev['channel']}"
            acc["asset_stats", key, f"n:{ev['type']}"] += 1
            if rev is not None:
                acc["asset_stats", key, "rev"] += rev
            if w > 0:
                acc["popularity", ev["channel"], asset["id"]] += w * scale
    return dict(acc)


def test_counter_deltas_equal_the_per_event_loop() -> None:
    rng = random.Random(4)
    tags = ["护眼", "母婴", "辅食", "直播", "美白"]
    assets = {
        f"a{i}": {
            "id": f"a{i}",
            "tags": rng.sample(tags, rng.randrange(4)),
            "scenes": rng.sample(["onboarding", "holiday"], rng.randrange(3)),
            "content_type": rng.choice([None, "practical"]),
            "kind": rng.choice([None, "article"]),
        }
        for i in range(30)
    }
    evs = []
    for k in range(3000):
        etype = rng.choice(list(engagement.EVENT_WEIGHTS))
        evs.append(
            {
                "id": f"e{k}",
                "type": etype,
                "user_id": rng.choice([None, f"u{rng.randrange(50)}"]),
                "asset_id": rng.choice([None, f"a{rng.randrange(35)}"]),
                "channel": rng.choice(["moments", "sms"]),
                "group_id": rng.choice([None, None, "g1"]),
                "recommendation_id": None,
                "ts": f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T10:00:00.{k:06d}Z",
                "value": rng.choice([None, 12.5, 0.0]),
            }
        )
    out = engagement.counter_deltas(evs, assets, 30.0)
    keys = [(c, k) for c, k, _ in out]
    assert keys == sorted(set(keys)), "grouped by (collection, key): each key once, in key order"
    assert {(c, k, f): v for c, k, fields in out for f, v in fields.items()} == _reference_deltas(evs, assets, 30.0)


def test_all_channel_figures_are_the_sums_of_the_channels(hub) -> None:
    """Ingestion writes per-channel statistics and popularity only; the catalog and the performance page add
    up the all-channel ("*") figures, and roll-up counters an older version stored are not counted twice."""
    from contenthub.library.demo_corpus import generate_assets
    from contenthub.library.models import Asset
    from contenthub.recommend.catalog import catalog, refresh_now
    from contenthub.recommend.performance import asset_performance
    from contenthub.timeutil import to_iso, utcnow

    now = to_iso(utcnow())
    docs = [
        Asset(
            **{
                **{k: v for k, v in a.items() if k in Asset.model_fields},
                "id": f"p{i}",
                "status": "approved",
                "created_at": now,
                "updated_at": now,
            }
        ).model_dump()
        for i, a in enumerate(generate_assets(3, seed=2))
    ]
    hub.store.put_assets(docs)
    evs = [
        {
            "id": f"e{k}",
            "type": t,
            "user_id": f"u{k % 4}",
            "asset_id": "p0",
            "channel": ch,
            **({"value": 10.0} if t == "convert" else {}),
        }
        for k, (t, ch) in enumerate(
            [
                ("delivered", "moments"),
                ("click", "moments"),
                ("delivered", "sms"),
                ("open", "sms"),
                ("convert", "sms"),
                ("click", "wecom_1v1"),
            ]
        )
    ]
    assert events.ingest(hub, evs).accepted == 6
    assert not [k for k, _, _ in hub.store.scan_counters("asset_stats") if k.endswith("|*")]
    assert [k for k, _, _ in hub.store.scan_counters("popularity")] and "*" not in {
        k for k, _, _ in hub.store.scan_counters("popularity")
    }
    hub.store.add_to_counters("asset_stats", [("p0|*", "n:click", 100.0)])  # as an older version wrote them
    hub.store.add_to_counters("popularity", [("*", "p0", 1e30)])
    refresh_now(hub)
    cat = catalog(hub)
    i = cat.index["p0"]
    assert cat.stats["*"].counts["click"][i] == 2 and cat.stats["*"].counts["delivered"][i] == 2
    assert cat.stats["sms"].counts["delivered"][i] == 1
    pop = cat.popularity
    assert pop["*"][i] == pytest.approx(pop["moments"][i] + pop["sms"][i] + pop["wecom_1v1"][i], rel=1e-12)
    rows = {r.channel: r for r in asset_performance(hub, "p0")}
    assert list(rows)[0] == "*" and set(rows) == {"*", "moments", "sms", "wecom_1v1"}
    assert rows["*"].counts == {
        "served": 0,
        "delivered": 2,
        "open": 1,
        "click": 2,
        "convert": 1,
        "mute": 0,
        "unsubscribe": 0,
    }
    assert rows["*"].revenue == 10.0 and rows["*"].click_rate == 1.0
    assert asset_performance(hub, "p1") == []
