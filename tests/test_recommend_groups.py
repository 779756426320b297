"""Groups are answered from a kept profile: kept up to date as members engage, join and leave; picks fit the
group's interests and purpose; no member is loaded per request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from contenthub.audience import erasure, group_profiles, groups, profiles, users
from contenthub.audience.engagement import PROFILE
from contenthub.audience.models import GroupIn, MembershipChange
from contenthub.library.models import Asset
from contenthub.recommend import events, service
from contenthub.recommend.catalog import refresh_now
from contenthub.recommend.strategies import Strategy, put_strategy
from contenthub.timeutil import to_iso

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DIM = 32


def _asset(aid: str, title: str, tags: list[str], scenes: list[str], content_type: str) -> dict:
    created = to_iso(NOW - timedelta(days=20))
    return Asset(
        id=aid,
        title=title,
        kind="article",
        content_type=content_type,
        scenes=scenes,
        channels=["wecom_group", "wecom_1v1"],
        tags=tags,
        status="approved",
        created_at=created,
        updated_at=created,
    ).model_dump()


@pytest.fixture
def pets_and_eyes(hub):
    """20 cat assets and 20 eye-massager assets, each family's vectors around its own direction."""
    rng = np.random.default_rng(5)
    docs, vecs = [], {}
    centre = {"cat": rng.standard_normal(DIM), "eye": rng.standard_normal(DIM)}
    for i in range(20):
        docs.append(
            _asset(
                f"cat{i:02d}", f"猫咪喂养指南第{i}期：猫粮与猫砂怎么选", ["猫咪", "宠物"], ["education"], "educational"
            )
        )
        docs.append(
            _asset(f"eye{i:02d}", f"眼部按摩仪第{i}款：缓解眼疲劳", ["护眼", "按摩仪"], ["seeding"], "promotional")
        )
    for d in docs:
        v = centre[d["id"][:3]] + 0.4 * rng.standard_normal(DIM)
        vecs[d["id"]] = (v / np.linalg.norm(v)).astype(np.float32)
    hub.store.put_assets(docs)
    hub.store.put_vectors("test-random", vecs)
    hub.touch("assets")
    refresh_now(hub)
    return hub


def _clicks(prefix: str, uid: str, asset_ids: list[str], start: datetime, channel: str = "wecom_1v1") -> list[dict]:
    out = []
    for k, aid in enumerate(asset_ids):
        ts = to_iso(start + timedelta(hours=k))
        out.append(
            {
                "id": f"{prefix}-{uid}-{k}-d",
                "type": "delivered",
                "user_id": uid,
                "asset_id": aid,
                "channel": channel,
                "ts": ts,
            }
        )
        out.append(
            {
                "id": f"{prefix}-{uid}-{k}-c",
                "type": "click",
                "user_id": uid,
                "asset_id": aid,
                "channel": channel,
                "ts": ts,
            }
        )
    return out


def _member_sum(hub, member_ids: list[str]) -> dict[str, float]:
    total: dict[str, float] = {}
    for uid in member_ids:
        for f, v in group_profiles._share(hub, uid).items():
            total[f] = total.get(f, 0.0) + v
    return total


def _assert_counters_close(got: dict[str, float], want: dict[str, float]) -> None:
    for f in set(got) | set(want):
        assert got.get(f, 0.0) == pytest.approx(want.get(f, 0.0), rel=1e-6, abs=1e-6), f


def _assert_kept_is_stored(hub, group_id: str) -> None:
    """What ``kept_profile`` answers (memoised per process until the group's update count moves) is what
    the store holds now."""
    kept = group_profiles.kept_profile(hub, group_id)
    stored = hub.store.get_counters(PROFILE, group_profiles.members_key(group_id))
    assert kept.counters == {f: v for f, v in stored.items() if not f.startswith(("a:", "m:"))}
    assert dict(kept.assets) == {f[2:]: v for f, v in stored.items() if f.startswith("a:") and v > 0}
    assert [v for _a, v in kept.assets] == sorted((v for _a, v in kept.assets), reverse=True)


def test_kept_profile_follows_engagement_joins_and_leaves(pets_and_eyes) -> None:
    hub = pets_and_eyes
    groups.upsert_group(hub, GroupIn(id="cats", name="猫咪交流群", purpose="community"))
    _assert_kept_is_stored(hub, "cats")
    # u1 engaged before joining, u2 only after, u3 joins and leaves, u4 never joins
    assert not events.ingest(hub, _clicks("before", "u1", ["cat00", "cat01"], NOW - timedelta(days=9))).rejected
    groups.change_members(hub, "cats", MembershipChange(join=["u1", "u2", "u3"], at=NOW - timedelta(days=8)))
    batch = (
        _clicks("after", "u2", ["cat02", "cat03", "eye00"], NOW - timedelta(days=5))
        + _clicks("after", "u3", ["eye01", "eye02"], NOW - timedelta(days=5))
        + _clicks("after", "u4", ["eye03"], NOW - timedelta(days=5))
    )
    assert not events.ingest(hub, batch).rejected
    assert events.ingest(hub, batch).duplicates == len(batch)  # a re-send adds nothing to the kept profile
    key = group_profiles.members_key("cats")
    _assert_counters_close(hub.store.get_counters(PROFILE, key), _member_sum(hub, ["u1", "u2", "u3"]))
    _assert_kept_is_stored(hub, "cats")
    groups.change_members(hub, "cats", MembershipChange(leave=["u3"], at=NOW - timedelta(days=4)))
    _assert_counters_close(hub.store.get_counters(PROFILE, key), _member_sum(hub, ["u1", "u2"]))
    assert group_profiles.kept_profile(hub, "cats").members == 2
    _assert_kept_is_stored(hub, "cats")
    assert group_profiles.groups_of_users(hub, ["u1", "u3", "u4"]) == {"u1": ["cats"]}
    erasure.erase_user(hub, "u2")  # an erased member's share leaves the kept profile with them
    _assert_counters_close(hub.store.get_counters(PROFILE, key), _member_sum(hub, ["u1"]))
    _assert_kept_is_stored(hub, "cats")
    assert not events.ingest(hub, _clicks("later", "u1", ["eye04"], NOW - timedelta(days=1))).rejected
    _assert_kept_is_stored(hub, "cats")
    assert "eye04" in dict(group_profiles.kept_profile(hub, "cats").assets)


def test_cat_owners_group_is_not_sent_eye_massagers(pets_and_eyes) -> None:
    hub = pets_and_eyes
    groups.upsert_group(hub, GroupIn(id="cats", name="猫咪交流群", purpose="community"))
    members = [f"m{i:03d}" for i in range(40)]
    groups.change_members(hub, "cats", MembershipChange(join=members, at=NOW - timedelta(days=30)))
    evs = []
    rng = np.random.default_rng(1)
    for uid in members:  # cat owners: they click cat content; eye content delivered to them goes unopened
        evs += _clicks(
            "cat", uid, [f"cat{int(k):02d}" for k in rng.choice(20, 3, replace=False)], NOW - timedelta(days=10)
        )
        eye = f"eye{int(rng.integers(20)):02d}"
        evs.append(
            {
                "id": f"eye-{uid}",
                "type": "delivered",
                "user_id": uid,
                "asset_id": eye,
                "channel": "wecom_1v1",
                "ts": to_iso(NOW - timedelta(days=9)),
            }
        )
    # elsewhere (another audience) eye massagers are the hit: popularity alone would send them
    for i in range(60):
        evs += _clicks(
            "pop",
            f"x{i:03d}",
            [f"eye{i % 20:02d}", f"eye{(i + 7) % 20:02d}"],
            NOW - timedelta(days=3),
            channel="wecom_group",
        )
    assert not events.ingest(hub, evs).rejected
    refresh_now(hub)
    for seed in range(8):
        rec = service.next_for_group(hub, "cats", n=3, now=NOW, seed=seed)
        assert rec.picks, rec.reason
        assert all(p.asset_id.startswith("cat") for p in rec.picks), [p.asset_id for p in rec.picks]
    # a group of eye-care fans gets the eye massagers from the same catalog
    groups.upsert_group(hub, GroupIn(id="eyes", name="护眼群", purpose="conversion"))
    groups.change_members(
        hub, "eyes", MembershipChange(join=[f"x{i:03d}" for i in range(30)], at=NOW - timedelta(days=30))
    )
    rec = service.next_for_group(hub, "eyes", n=3, now=NOW, seed=0)
    assert all(p.asset_id.startswith("eye") for p in rec.picks), [p.asset_id for p in rec.picks]


def test_group_purpose_decides_between_equal_interests(pets_and_eyes) -> None:
    """No engagement yet: the lifecycle fit is the purpose's scenes (community: education; conversion:
    seeding)."""
    hub = pets_and_eyes
    put_strategy(hub, Strategy(id="fit", weights={"lifecycle": 1.0, "freshness": 0.01}, exploration=False))
    groups.upsert_group(hub, GroupIn(id="talk", purpose="community"))
    groups.upsert_group(hub, GroupIn(id="sell", purpose="conversion"))
    talk = service.next_for_group(hub, "talk", n=3, now=NOW, strategy="fit")
    sell = service.next_for_group(hub, "sell", n=3, now=NOW, strategy="fit")
    assert all(p.asset_id.startswith("cat") for p in talk.picks)  # education
    assert all(p.asset_id.startswith("eye") for p in sell.picks)  # seeding
    assert sell.picks[0].signals["lifecycle"] == pytest.approx(0.8)  # a scene of the purpose


def test_large_group_is_answered_without_loading_members(pets_and_eyes, monkeypatch) -> None:
    hub = pets_and_eyes
    groups.upsert_group(hub, GroupIn(id="big", purpose="community"))
    members = [f"b{i:04d}" for i in range(500)]
    evs = []
    for i, uid in enumerate(members[:100]):
        evs += _clicks("big", uid, [f"cat{i % 20:02d}"], NOW - timedelta(days=2))
    assert not events.ingest(hub, evs).rejected
    groups.change_members(hub, "big", MembershipChange(join=members, at=NOW - timedelta(days=1)))
    loaded: list[str] = []
    real = profiles.load_profile

    def counting(hub_, **kw):
        loaded.append(kw.get("user_id") or f"group:{kw.get('group_id')}")
        return real(hub_, **kw)

    monkeypatch.setattr(service, "load_profile", counting)
    monkeypatch.setattr(users, "find_user", lambda *a, **k: pytest.fail("a member was loaded"))
    rec = service.next_for_group(hub, "big", n=3, now=NOW, seed=1)
    assert loaded == ["group:big"]
    assert rec.picks and all(p.asset_id.startswith("cat") for p in rec.picks)
