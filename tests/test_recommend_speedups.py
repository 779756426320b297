"""The recommender's per-process memos see writes, and its fast paths compute what the plain ones did.

- doccache: a write through this process's functions is seen by the next request; a write by another
  process (simulated: straight to the store) within ``doccache.TTL`` seconds.
- candidate_rows == flatnonzero(candidate_mask); freshness == the direct power; top_stable == the
  stable argsort; mmr == the array version it replaced; one event read == the two it replaced.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from contenthub import doccache
from contenthub.audience import caps, lifecycle, profiles
from contenthub.errors import InvalidError, NotFoundError
from contenthub.library import taxonomy
from contenthub.library.demo_corpus import generate_assets
from contenthub.library.models import Asset
from contenthub.recommend import audiences, events, ranking, service
from contenthub.recommend.catalog import catalog, refresh_now
from contenthub.recommend.strategies import DEFAULTS, Strategy, delete_strategy, get_strategy, put_strategy
from contenthub.store.query import EventQuery
from contenthub.timeutil import to_iso
from tests.helpers import put_assets_with_random_vectors

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(hub):
    """60 approved assets (some with validity windows), 20 users with mixed engagement."""
    rng = np.random.default_rng(7)
    docs = []
    for i, a in enumerate(generate_assets(60, seed=5)):
        created = to_iso(NOW - timedelta(days=float(rng.uniform(-3, 200))))  # a few dated in the future
        fields = {k: v for k, v in a.items() if k in Asset.model_fields}
        fields["channels"] = sorted(set(fields["channels"]) | {"wecom_1v1"})
        if i % 7 == 0:
            fields["valid_until"] = to_iso(NOW - timedelta(days=1))
        if i % 11 == 0:
            fields["valid_from"] = to_iso(NOW + timedelta(days=1))
        docs.append(
            Asset(
                **{**fields, "id": f"a{i:03d}", "status": "approved", "created_at": created, "updated_at": created}
            ).model_dump()
        )
    put_assets_with_random_vectors(hub, docs, 16, rng)
    r = random.Random(3)
    evs = []
    for u in range(20):
        for k in range(r.randint(0, 12)):
            a = r.choice(docs)
            ts = NOW - timedelta(days=r.uniform(0, 300))
            evs.append(
                {
                    "id": f"u{u}-{k}-d",
                    "type": "delivered",
                    "user_id": f"u{u}",
                    "asset_id": a["id"],
                    "channel": "wecom_1v1",
                    "ts": to_iso(ts),
                }
            )
            t = r.choice(["open", "click", "convert", "mute", "delete", None])
            if t:
                evs.append(
                    {
                        "id": f"u{u}-{k}-x",
                        "type": t,
                        "user_id": f"u{u}",
                        "asset_id": a["id"],
                        "channel": "wecom_1v1",
                        "ts": to_iso(ts + timedelta(minutes=3)),
                    }
                )
    evs.append(
        {
            "id": "unsub",
            "type": "unsubscribe",
            "user_id": "u3",
            "channel": "moments",
            "ts": to_iso(NOW - timedelta(days=250)),
        }
    )
    assert not events.ingest(hub, evs).rejected
    refresh_now(hub)
    return hub


def test_strategy_put_and_delete_are_seen_at_once(world) -> None:
    builtin = DEFAULTS["default"].weights["similarity"]
    assert get_strategy(world, "default").weights["similarity"] == builtin
    put_strategy(world, Strategy(id="default", weights={"popularity": 1.0}, exploration=False))
    assert get_strategy(world, "default").weights == {"popularity": 1.0}
    rec = service.next_for_user(world, "u1", "wecom_1v1", now=NOW)
    assert rec.picks and all(set(p.signals) == {"popularity"} for p in rec.picks)
    put_strategy(world, Strategy(id="mine", weights={"freshness": 1.0}))
    assert get_strategy(world, "mine").weights == {"freshness": 1.0}
    delete_strategy(world, "mine")
    with pytest.raises(InvalidError):
        get_strategy(world, "mine")
    delete_strategy(world, "default")  # back to the built-in
    assert get_strategy(world, "default").weights["similarity"] == builtin
    with pytest.raises(NotFoundError):
        delete_strategy(world, "mine")


def test_cap_and_lifecycle_rules_are_seen_at_once(world) -> None:
    assert caps.get_rule(world, "wecom_1v1").per_day == 1
    caps.put_rule(world, caps.CapRule(channel="wecom_1v1", per_day=5, per_month=caps.DAYS_IN_MONTH))
    assert caps.get_rule(world, "wecom_1v1").per_day == 5
    lifecycle.put_rules(world, lifecycle.LifecycleRules(new_days=3))
    assert lifecycle.get_rules(world).new_days == 3


def test_another_processes_write_shows_within_the_ttl(world, monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(doccache.time, "monotonic", lambda: clock[0])
    assert caps.get_rule(world, "moments").per_day is None
    assert get_strategy(world, "popular").weights == {"popularity": 1.0, "quality": 0.3}
    assert lifecycle.get_rules(world).new_days == 14
    # another process writes straight to the shared store: nothing touches this hub
    world.store.put_doc(caps.COLLECTION, "moments", {"channel": "moments", "per_day": 2})
    world.store.put_doc("strategies", "popular", {"id": "popular", "weights": {"popularity": 0.5}})
    world.store.put_doc(lifecycle.COLLECTION, lifecycle.DOC_ID, {"new_days": 9})
    clock[0] += doccache.TTL / 2
    assert caps.get_rule(world, "moments").per_day is None  # still memoised
    assert lifecycle.get_rules(world).new_days == 14
    clock[0] += doccache.TTL
    assert caps.get_rule(world, "moments").per_day == 2
    assert get_strategy(world, "popular").weights == {"popularity": 0.5}
    assert lifecycle.get_rules(world).new_days == 9


def test_taxonomy_added_elsewhere_is_accepted_at_once(world) -> None:
    with pytest.raises(InvalidError):
        service.next_for_user(world, "u1", "telegram", now=NOW)
    # the library routes write the vocabulary through the store only
    taxonomy.upsert_entry(world.store, "channels", taxonomy.TaxonomyEntry(id="telegram", zh="电报", en="Telegram"))
    rec = service.next_for_user(world, "u1", "telegram", now=NOW)
    assert rec.picks == [] and rec.channel == "telegram"
    with pytest.raises(InvalidError):
        service.next_for_user(world, "u1", "wecom_1v1", scene="nope", now=NOW)


@pytest.mark.parametrize("scene", [None, "education", "holiday", "no_such_scene"])
def test_candidate_rows_equal_the_mask(world, scene) -> None:
    cat = catalog(world)
    for now in (NOW, NOW - timedelta(days=400), NOW + timedelta(days=3)):
        for exclude in (set(), {"a001", "a002", "zzz"}, set(cat.ids[::3])):
            for channel in ("wecom_1v1", "moments", "sms", "unknown"):
                idx, pos = ranking.candidate_rows(cat, channel, scene, now, exclude)
                want = np.flatnonzero(ranking.candidate_mask(cat, channel, scene, now, exclude))
                assert idx.tolist() == want.tolist()
                assert cat.block(channel).rows[pos].tolist() == want.tolist()


def test_scores_with_block_positions_equal_the_plain_path(world) -> None:
    cat = catalog(world)
    strat = Strategy(
        id="all",
        weights={
            "similarity": 1.0,
            "affinity": 0.8,
            "collaborative": 1.0,
            "quality": 0.5,
            "popularity": 0.4,
            "freshness": 0.2,
            "lifecycle": 0.6,
        },
    )
    for u in range(20):
        prof = profiles.load_profile(world, user_id=f"u{u}", now=NOW)
        aud = audiences.audience_for(world, cat, prof, NOW)
        idx, pos = ranking.candidate_rows(cat, "wecom_1v1", None, NOW, aud.exclude)
        fast = ranking.score_candidates(cat, aud, strat, "wecom_1v1", idx, NOW, np.random.default_rng(u), positions=pos)
        plain = ranking.score_candidates(cat, aud, strat, "wecom_1v1", idx, NOW, np.random.default_rng(u))
        np.testing.assert_allclose(fast[0], plain[0], rtol=0, atol=1e-12)
        assert fast[1].keys() == plain[1].keys()
        assert fast[2].tolist() == plain[2].tolist()
        a, b = ranking.quality_posterior(cat, "wecom_1v1", idx)
        post = ranking.posterior(cat, "wecom_1v1")
        assert post is not None and np.array_equal(post[0][idx], a) and np.array_equal(post[1][idx], b)
        # the raw values of the channel block cut to the candidates equal those of the candidates' own columns
        on_block = ranking.raw_values(cat, aud, strat, "wecom_1v1", idx, (cat.block("wecom_1v1"), pos))
        direct = ranking.raw_values(cat, aud, strat, "wecom_1v1", idx, None)
        assert on_block.keys() == direct.keys()
        for name, values in on_block.items():
            np.testing.assert_allclose(values, direct[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_freshness_equals_the_direct_power(world) -> None:
    cat = catalog(world)
    idx = np.arange(len(cat))
    for now in (NOW, NOW + timedelta(minutes=59), NOW + timedelta(hours=5), NOW - timedelta(days=1)):
        for half_life in (30.0, 0.5, 365.0):
            age = np.maximum(0.0, (now.timestamp() - cat.created[idx]) / 86400.0)
            want = np.power(0.5, age / half_life)
            np.testing.assert_allclose(ranking.freshness(cat, idx, now, half_life), want, rtol=1e-12, atol=1e-300)


def test_top_stable_keeps_the_lowest_indices_among_ties() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        score = rng.integers(0, 6, size=int(rng.integers(1, 60))).astype(float)
        for k in (1, 3, 20, 100):
            want = np.argsort(-score, kind="stable")[:k]
            assert ranking.top_stable(score, k).tolist() == want.tolist()


def _mmr_reference(vectors, idx, score, n, lam):
    """The array version mmr replaced."""
    if n <= 1 or lam >= 1.0:
        return ranking.top_stable(score, n).tolist()
    pool = ranking.top_stable(score, max(n * 5, 20))
    vecs = vectors[idx[pool]]
    s = score[pool]
    s = (s - s.min()) / (s.max() - s.min() + 1e-12)
    chosen = []
    max_sim = np.full(pool.size, -np.inf)
    available = np.ones(pool.size, dtype=bool)
    for _ in range(min(n, pool.size)):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = np.where(available, lam * s - (1 - lam) * penalty, -np.inf)
        j = int(np.argmax(value))
        chosen.append(int(pool[j]))
        available[j] = False
        max_sim = np.maximum(max_sim, vecs @ vecs[j])
    return chosen


def test_mmr_equals_the_array_version(world) -> None:
    cat = catalog(world)
    rng = np.random.default_rng(2)
    for _ in range(200):
        idx = np.sort(rng.choice(len(cat), size=int(rng.integers(1, len(cat))), replace=False))
        score = np.round(rng.random(idx.size), 1)  # ties
        for n, lam in ((3, 0.75), (5, 0.3), (1, 0.75), (4, 1.0), (100, 0.5)):
            assert ranking.mmr(cat, idx, score, n, lam) == _mmr_reference(cat.vectors, idx, score, n, lam)


def test_profile_read_equals_the_two_event_queries_it_replaced(world, monkeypatch) -> None:
    since = NOW - timedelta(days=profiles.HISTORY_DAYS)
    for limit in (profiles.HISTORY_LIMIT, 5, 2):  # small limits exercise the second read
        monkeypatch.setattr(profiles, "HISTORY_LIMIT", limit)
        for u in range(20):
            who = (f"u{u}",)
            got = profiles.history(world.store.read_subjects(who, profiles.user_read())[who[0]], NOW)
            want = (
                world.store.query_events(EventQuery(user_ids=who, since=since, limit=limit)),
                world.store.query_events(EventQuery(user_ids=who, types=tuple(profiles.NEGATIVE), limit=500)),
            )
            assert got == want, u
