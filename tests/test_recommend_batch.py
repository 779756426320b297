"""The vectorised batch ranker picks what next_for_user picks (exploration off, assets unchanged), and
honours the same exclusions, caps and unsubscribes."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from contenthub.audience import groups
from contenthub.audience.lifecycle import STAGES, LifecycleRules, stage_of, stages_of
from contenthub.audience.models import GroupIn, MembershipChange
from contenthub.audience.profiles import load_profile
from contenthub.library.demo_corpus import generate_assets
from contenthub.library.models import Asset
from contenthub.recommend import batch, events, service
from contenthub.recommend.audiences import audience_for
from contenthub.recommend.catalog import SIMILARITY_MEMO_MAX_ROWS, catalog, refresh_now
from contenthub.recommend.evaluation.logged import is_logged_round
from contenthub.recommend.ranking import drawn_weights, explores, exploring_share
from contenthub.recommend.strategies import DEFAULTS, Strategy, put_strategy
from contenthub.store.query import EventQuery
from contenthub.timeutil import to_iso
from tests.helpers import put_assets_with_random_vectors

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CHANNELS = ("wecom_1v1", "moments", "wecom_group")


@pytest.fixture
def world(hub):
    """80 approved assets with random vectors, 40 users with ~100 days of mixed engagement."""
    rng = np.random.default_rng(4)
    docs = []
    for i, a in enumerate(generate_assets(80, seed=3)):
        created = to_iso(NOW - timedelta(days=float(rng.uniform(0, 200))))
        fields = {k: v for k, v in a.items() if k in Asset.model_fields}
        fields["channels"] = sorted(set(fields["channels"]) | {CHANNELS[i % 3]})
        docs.append(
            Asset(
                **{**fields, "id": f"a{i:03d}", "status": "approved", "created_at": created, "updated_at": created}
            ).model_dump()
        )
    put_assets_with_random_vectors(hub, docs, 32, rng)
    catalog(hub)  # the library's topics are found (and stored for ingestion) before the events arrive
    r = random.Random(8)
    evs = []
    for u in range(40):
        uid = f"u{u:02d}"
        liked = r.sample(docs, 12)
        for k in range(r.randint(0, 14)):
            a = r.choice(liked)
            ch = r.choice([c for c in a["channels"] if c in CHANNELS] or a["channels"])
            ts = NOW - timedelta(days=r.uniform(0, 100))
            evs.append(
                {
                    "id": f"{uid}-{k}-d",
                    "type": "delivered",
                    "user_id": uid,
                    "asset_id": a["id"],
                    "channel": ch,
                    "ts": to_iso(ts),
                }
            )
            t = r.choice(["open", "click", "click", "convert", "mute", None])
            if t:
                evs.append(
                    {
                        "id": f"{uid}-{k}-x",
                        "type": t,
                        "user_id": uid,
                        "asset_id": a["id"],
                        "channel": ch,
                        "ts": to_iso(ts + timedelta(minutes=5)),
                        **({"value": 88.0} if t == "convert" else {}),
                    }
                )
    # a user delivered to today on wecom_1v1 (capped: 1 per day), one unsubscribed from it
    evs.append(
        {
            "id": "cap-1",
            "type": "delivered",
            "user_id": "u01",
            "asset_id": "a000",
            "channel": "wecom_1v1",
            "ts": to_iso(NOW - timedelta(minutes=30)),
        }
    )
    evs.append(
        {
            "id": "unsub-1",
            "type": "unsubscribe",
            "user_id": "u02",
            "channel": "wecom_1v1",
            "ts": to_iso(NOW - timedelta(days=3)),
        }
    )
    res = events.ingest(hub, evs)
    assert not res.rejected
    refresh_now(hub)
    return hub


STRATEGIES = [
    Strategy(
        id="all-signals",
        weights={
            "similarity": 1.0,
            "affinity": 0.8,
            "collaborative": 1.0,
            "quality": 0.5,
            "popularity": 0.4,
            "freshness": 0.2,
            "lifecycle": 0.6,
        },
        exploration=False,
    ),
    Strategy(id="content", weights={"similarity": 1.0, "affinity": 1.0, "lifecycle": 0.3}, exploration=False),
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.id)
@pytest.mark.parametrize("channel", CHANNELS)
def test_batch_picks_equal_next_for_user(world, strategy, channel) -> None:
    put_strategy(world, strategy)
    user_ids = [f"u{u:02d}" for u in range(40)] + ["nobody"]
    (res,) = list(batch.next_for_users(world, user_ids, channel, strategy=strategy.id, now=NOW))
    got = res.asset_ids(catalog(world))
    same = 0
    for k, uid in enumerate(user_ids):
        rec = service.next_for_user(world, uid, channel, n=1, strategy=strategy.id, now=NOW)
        assert bool(res.capped[k]) == rec.capped, uid
        if not rec.picks:
            assert got[k] == [], uid
            continue
        assert got[k], uid
        # same asset, or a tie on the blended score (production rounds scores to 4 decimals)
        assert got[k][0] == rec.picks[0].asset_id or abs(res.scores[k, 0] - rec.picks[0].score) < 2e-4, uid
        assert res.scores[k, 0] == pytest.approx(rec.picks[0].score, abs=2e-4), uid
        same += got[k][0] == rec.picks[0].asset_id
    assert same >= 30


def test_batch_respects_caps_unsubscribes_and_exclusions(world) -> None:
    put_strategy(world, STRATEGIES[0])
    user_ids = [f"u{u:02d}" for u in range(40)]
    (res,) = list(batch.next_for_users(world, user_ids, "wecom_1v1", strategy="all-signals", now=NOW, n=5))
    picks = res.asset_ids(catalog(world))
    assert res.capped[1] and res.capped[2] and picks[1] == [] and picks[2] == []
    window = to_iso(NOW - timedelta(days=30))
    checked = 0
    for k, uid in enumerate(user_ids):
        evs = world.store.query_events(EventQuery(user_ids=(uid,), limit=1000))
        excluded = {e["asset_id"] for e in evs if e["type"] in ("mute", "delete")}
        excluded |= {
            e["asset_id"] for e in evs if e["type"] == "delivered" and e["channel"] == "wecom_1v1" and e["ts"] >= window
        }
        checked += len(excluded)
        assert not excluded & set(picks[k]), uid
        assert len(set(picks[k])) == len(picks[k]) == (0 if res.capped[k] else 5)
    assert checked > 20, "the data must exercise the exclusions"


def test_batch_same_picks_whatever_the_read_path_chunks_blocks_and_threads(world, monkeypatch) -> None:
    """One scan of the event log or look-ups by user, any chunk/block size, any number of threads, a
    user asked for twice: the same picks and scores (to float32 rounding: BLAS sums differently for
    other shapes)."""
    put_strategy(world, STRATEGIES[0])
    user_ids = [f"u{u:02d}" for u in range(40)] + ["nobody", "u03"]

    def run(**kw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        res = list(batch.next_for_users(world, user_ids, "moments", strategy="all-signals", now=NOW, n=3, **kw))
        return tuple(np.concatenate([getattr(r, f) for r in res]) for f in ("rows", "scores", "capped"))

    def same(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
        np.testing.assert_array_equal(got[2], want[2])

    scanned = run()
    assert (scanned[0][:, 0] >= 0).sum() > 30
    assert (scanned[0][3] == scanned[0][-1]).all()
    same(run(chunk=16, block=8), scanned)
    same(run(chunk=7, block=3, workers=1), scanned)
    monkeypatch.setattr(batch, "SCAN_SHARE", 1e9)  # look events up by user instead
    same(run(chunk=16, block=8), scanned)


def test_batch_with_exploration_is_seeded_and_picks_for_every_uncapped_user(world) -> None:
    user_ids = [f"u{u:02d}" for u in range(40)]

    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        (res,) = list(batch.next_for_users(world, user_ids, "wecom_1v1", n=2, now=NOW, seed=seed, block=4))
        return res.rows, res.capped

    rows, capped = run(7)
    again, _ = run(7)
    np.testing.assert_array_equal(rows, again)
    assert ((rows >= 0).all(axis=1) == ~capped).all()


def test_batch_on_a_channel_without_assets_picks_nothing(world) -> None:
    (res,) = list(batch.next_for_users(world, ["u00", "u01", "nobody"], "no_such_channel", now=NOW, n=2))
    assert (res.rows == -1).all() and np.isneginf(res.scores).all()
    assert list(batch.next_for_users(world, [], "wecom_1v1", now=NOW)) == []


def test_batch_follows_merged_ids_on_both_read_paths(world, monkeypatch) -> None:
    """An absorbed id gets what its surviving user gets (events moved, created_at the earlier one), on
    the scan and on look-ups by user; unknown ids get no history."""
    from contenthub.audience import users

    put_strategy(world, STRATEGIES[0])
    users.merge_users(world, keep="u04", absorb="u05")
    user_ids = ["u05", "u04", "nobody", "u06"] + [f"u{u:02d}" for u in range(10, 40)]

    def run() -> tuple[np.ndarray, np.ndarray, list[str]]:
        (res,) = list(batch.next_for_users(world, user_ids, "moments", strategy="all-signals", now=NOW, n=2))
        return res.rows, res.scores, res.stages

    scanned = run()
    np.testing.assert_array_equal(scanned[0][0], scanned[0][1])
    np.testing.assert_allclose(scanned[1][0], scanned[1][1], rtol=1e-6)
    assert scanned[2][0] == scanned[2][1]
    rec = service.next_for_user(world, "u05", "moments", n=1, strategy="all-signals", now=NOW)
    assert (
        catalog(world).ids[scanned[0][0, 0]] == rec.picks[0].asset_id
        or abs(scanned[1][0, 0] - rec.picks[0].score) < 2e-4
    )
    monkeypatch.setattr(batch, "SCAN_SHARE", 1e9)  # look events up by user instead
    looked_up = run()
    np.testing.assert_array_equal(looked_up[0], scanned[0])
    np.testing.assert_allclose(looked_up[1], scanned[1], rtol=1e-6)
    assert looked_up[2] == scanned[2]


def test_batch_scan_reads_a_merge_target_that_was_not_requested(world, monkeypatch) -> None:
    """The scan unpacks events against the requested ids; an absorbed id asked for without its surviving
    user still gets the survivor's events (the scan's slower path), as on look-ups by user."""
    from contenthub.audience import users

    put_strategy(world, STRATEGIES[0])
    users.merge_users(world, keep="u04", absorb="u05")
    user_ids = ["u05", "nobody"] + [f"u{u:02d}" for u in range(10, 40)]  # u04 itself is not asked for

    def run() -> tuple[np.ndarray, np.ndarray, list[str]]:
        (res,) = list(batch.next_for_users(world, user_ids, "moments", strategy="all-signals", now=NOW, n=3))
        return res.rows, res.scores, res.stages

    scanned = run()
    monkeypatch.setattr(batch, "SCAN_SHARE", 1e9)  # look events up by user instead
    looked_up = run()
    np.testing.assert_array_equal(looked_up[0], scanned[0])
    np.testing.assert_allclose(looked_up[1], scanned[1], rtol=1e-6)
    assert looked_up[2] == scanned[2]
    (alone,) = list(batch.next_for_users(world, ["u04"], "moments", strategy="all-signals", now=NOW, n=3))
    np.testing.assert_array_equal(alone.rows[0], scanned[0][0])


@pytest.mark.parametrize("n_keys", [1, 5, 70_000, 3_000_000])
def test_group_by_key_is_a_stable_argsort(n_keys: int) -> None:
    key = np.random.default_rng(n_keys).integers(0, n_keys, 5000)
    np.testing.assert_array_equal(batch._group_by_key(key, n_keys), np.argsort(key, kind="stable"))


def test_batch_breaks_ties_in_catalog_order_across_its_column_groups() -> None:
    """The scorer puts modelled candidates first; a tie between the groups still goes to the lowest
    catalog row, as ranking.top_stable does for one request."""
    scorer = batch._Scorer.__new__(batch._Scorer)
    scorer.n_model = 2
    idx = np.array([5, 9, 1, 7])  # columns: modelled rows 5, 9; then rows 1, 7
    scorer.rank = np.argsort(np.argsort(idx))
    score = np.array(
        [
            [0.9, 0.2, 0.9, 0.1],  # tie across groups: row 1 (column 2) wins
            [0.3, 0.8, 0.1, 0.8],  # tie across groups: row 7 (column 3) beats row 9
            [0.5, 0.5, 0.1, 0.2],  # tie inside a group: the first column (row 5)
            [-np.inf] * 4,
        ],
        dtype=np.float32,
    )
    best = np.argmax(score, axis=1)
    scorer._first_in_catalog_order(score, best)
    assert best.tolist() == [2, 3, 0, 0]


def test_scanned_columns_match_the_events_read_by_user(world) -> None:
    """The store gives the batch ranker numpy columns (no reader outside store/ knows a storage format):
    the parts of one scan hold the same events as the reads by user, types coded against the reader's list
    (−1 for one it lacks)."""
    types = tuple(t for t in batch.TYPES if t != "delivered")  # one type the reader does not know
    store = world.store

    def rows(parts: list) -> list[tuple]:
        return sorted(
            (u, a, t, c, round(ts, 3), r, rec)
            for p in parts
            for u, a, t, c, ts, r, rec in zip(
                p["user_id"],
                p["asset_id"],
                p["type"].tolist(),
                p["on_channel"].tolist(),
                p["ts"].tolist(),
                p["reserved"].tolist(),
                p["recommendation_id"],
                strict=True,
            )
        )

    scanned = rows([store.event_columns("moments", types, part=p) for p in store.event_scan_parts()])
    by_user = rows([store.event_columns("moments", types, user_ids=[f"u{u:02d}" for u in range(40)])])
    assert scanned == by_user and len(scanned) > 100 and any(r[2] == -1 for r in scanned)


def test_batch_counts_reserved_sends_against_caps_like_next_for_user(world) -> None:
    """One cap rule (caps.counted_sends): a send reserved with reserve=true counts before its delivery
    arrives, on both paths; once delivered it counts once."""
    put_strategy(world, STRATEGIES[0])
    uid = "u05"
    assert not service.next_for_user(world, uid, "wecom_1v1", n=1, strategy="all-signals", now=NOW).capped
    rec = service.next_for_user(world, uid, "wecom_1v1", n=1, strategy="all-signals", now=NOW, reserve=True)
    assert rec.reserved
    assert service.next_for_user(world, uid, "wecom_1v1", n=1, strategy="all-signals", now=NOW).capped
    (res,) = list(batch.next_for_users(world, [uid, "u06"], "wecom_1v1", strategy="all-signals", now=NOW))
    assert res.capped.tolist() == [True, False]
    # the reservation confirmed by its delivery: still one send (capped at 1 a day), not two
    pick = rec.picks[0]
    events.ingest(
        world,
        [
            {
                "id": "conf-1",
                "type": "delivered",
                "user_id": uid,
                "asset_id": pick.asset_id,
                "channel": "wecom_1v1",
                "recommendation_id": pick.recommendation_id,
                "ts": to_iso(NOW + timedelta(minutes=1)),
            }
        ],
    )
    later = NOW + timedelta(minutes=2)
    assert service.next_for_user(world, uid, "wecom_1v1", n=1, strategy="all-signals", now=later).capped
    (res,) = list(batch.next_for_users(world, [uid], "wecom_1v1", strategy="all-signals", now=later))
    assert res.capped.tolist() == [True]


PLAIN = [
    Strategy(
        id="plain",
        weights={
            "similarity": 1.0,
            "affinity": 0.8,
            "collaborative": 1.0,
            "quality": 0.5,
            "popularity": 0.4,
            "freshness": 0.2,
            "lifecycle": 0.6,
        },
        exploration=False,
        diversity=1.0,
    ),
    # the default strategy's signals and weights (topic and content-type rates included), exploration off
    Strategy(id="plain", weights=dict(DEFAULTS["default"].weights), exploration=False, diversity=1.0),
]


def _rule_cases(hub, channel: str, strategy: str) -> dict[str, str]:
    """Put the users through each rule both paths must apply alike: a send reserved with reserve=true and
    not yet delivered (capped on wecom_1v1, one a day), the would-be first pick delivered three days ago
    (inside the re-delivery window), an asset muted, an asset deleted, the channel muted (no asset: closed
    like an unsubscribe), members of a group with engagement inside it, and a user whose vector mixes more
    assets than the per-user similarity memo serves (that request takes the dense-vector case of
    ``raw_signals.raw_values``, the batch its sparse rows)."""
    reserved = service.next_for_user(hub, "u05", channel, n=1, strategy=strategy, now=NOW, reserve=True)
    assert reserved.reserved
    top = service.next_for_user(hub, "u06", channel, n=1, strategy=strategy, now=NOW).picks[0].asset_id
    muted = service.next_for_user(hub, "u07", channel, n=1, strategy=strategy, now=NOW).picks[0].asset_id
    deleted = service.next_for_user(hub, "u12", channel, n=1, strategy=strategy, now=NOW).picks[0].asset_id
    groups.upsert_group(hub, GroupIn(id="g1", name="群", channel="wecom_group", purpose="community"))
    groups.change_members(hub, "g1", MembershipChange(join=["u08", "u09"], at=NOW - timedelta(days=20)))
    assert not events.ingest(
        hub,
        [
            {
                "id": "redeliver-1",
                "type": "delivered",
                "user_id": "u06",
                "asset_id": top,
                "channel": channel,
                "ts": to_iso(NOW - timedelta(days=3)),
            },
            {
                "id": "mute-1",
                "type": "mute",
                "user_id": "u07",
                "asset_id": muted,
                "channel": channel,
                "ts": to_iso(NOW - timedelta(days=1)),
            },
            *(
                {
                    "id": f"in-group-{u}",
                    "type": "click",
                    "user_id": u,
                    "group_id": "g1",
                    "asset_id": "a010",
                    "channel": "wecom_group",
                    "ts": to_iso(NOW - timedelta(days=2)),
                }
                for u in ("u08", "u09")
            ),
            {
                "id": "delete-1",
                "type": "delete",
                "user_id": "u12",
                "asset_id": deleted,
                "channel": channel,
                "ts": to_iso(NOW - timedelta(days=1)),
            },
            {
                "id": "mute-ch",
                "type": "mute",
                "user_id": "u11",
                "channel": channel,
                "ts": to_iso(NOW - timedelta(days=2)),
            },
            *(
                {
                    "id": f"wide-{k}",
                    "type": "click",
                    "user_id": "u10",
                    "asset_id": f"a{k * 3:03d}",
                    "channel": "moments",
                    "ts": to_iso(NOW - timedelta(days=10, minutes=k)),
                }
                for k in range(SIMILARITY_MEMO_MAX_ROWS + 6)
            ),
        ],
    ).rejected
    return {"u06": top, "u07": muted, "u12": deleted}


@pytest.mark.parametrize("strategy", PLAIN, ids=["all-signals", "default-weights"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_same_users_get_identical_picks_on_both_paths_without_exploration(world, channel, strategy) -> None:
    """Exploration off (``exploration: false`` on the strategy) and no diversity re-ranking: the per-user
    path and the batch path give every user the same three picks in the same order, the same stage and
    the same cap decision — including a cap reached by a reservation, a re-delivery inside the window, a
    mute and users engaging inside a group."""
    put_strategy(world, strategy)
    excluded = _rule_cases(world, channel, "plain")
    user_ids = [f"u{u:02d}" for u in range(40)] + ["nobody"]
    (res,) = list(batch.next_for_users(world, user_ids, channel, strategy="plain", now=NOW, n=3))
    got = res.asset_ids(catalog(world))
    signals: set[str] = set()
    stages: set[str] = set()
    for k, uid in enumerate(user_ids):
        rec = service.next_for_user(world, uid, channel, n=3, strategy="plain", now=NOW)
        assert got[k] == [p.asset_id for p in rec.picks], uid
        assert bool(res.capped[k]) == rec.capped and res.stages[k] == rec.stage, uid
        signals.update(*(p.signals for p in rec.picks))
        stages.add(res.stages[k])
    for uid, asset in excluded.items():
        assert asset not in got[user_ids.index(uid)] and got[user_ids.index(uid)], uid
    assert res.capped[user_ids.index("u05")] == (channel == "wecom_1v1")  # one a day there
    assert res.capped[user_ids.index("u11")]  # the channel muted
    wide = audience_for(world, catalog(world), load_profile(world, user_id="u10", now=NOW), NOW)
    assert len(wide.vector_rows) > SIMILARITY_MEMO_MAX_ROWS
    assert len(stages) >= 3
    assert signals >= {w for w in strategy.weights if w not in ("topic", "type")}
    if "topic" in strategy.weights:  # the data exercise the rate signals
        assert {"topic", "type"} <= signals


def test_batch_stages_apply_the_per_user_stage_rule() -> None:
    """lifecycle.stages_of (the batch's) and stage_of (one user's) are one rule: equal on a grid of cases."""
    rules = LifecycleRules()
    cases = list(itertools.product([None, 0.5, 14, 20, 31, 95], [0, 14, 15, 100], [False, True], [0, 6], [False, True]))
    got = stages_of(
        rules,
        days_since=np.array([np.nan if c[0] is None else c[0] for c in cases]),
        age_days=np.array([float(c[1]) for c in cases]),
        unsubscribed=np.array([c[2] for c in cases]),
        engaged_days=np.array([c[3] for c in cases]),
        has_orders=np.array([c[4] for c in cases]),
    )
    want = [
        stage_of(rules, days_since=c[0], age_days=c[1], unsubscribed=c[2], engaged_days=c[3], has_orders=c[4])
        for c in cases
    ]
    assert [STAGES[i] for i in got] == want and set(want) == set(STAGES)


EXPLORING = Strategy(
    id="exploring",
    weights=dict(DEFAULTS["default"].weights),
    exploration=True,
    exploration_share=0.2,
    diversity=1.0,
    uncertainty={"quality": 0.3, "topic": 0.2, "freshness": 0.1},
)


def test_batch_explores_by_the_per_user_rule_and_ranks_the_others_by_the_means(world) -> None:
    """Exploration on: the batch explores for about ``exploration_share`` of the users with evidence of their
    own (a binomial bound), for every user without, never for a capped user — the per-user path's rule
    (``ranking.exploring_share``, ``ranking.explores``) — and a user it does not explore for gets the pick
    the per-user path makes with exploration off."""
    put_strategy(world, EXPLORING)
    put_strategy(world, Strategy(**{**EXPLORING.model_dump(), "id": "means", "exploration": False}))
    base = [f"u{u:02d}" for u in range(40)] + ["nobody"]
    cat = catalog(world)
    evidence = {
        uid: audience_for(world, cat, load_profile(world, user_id=uid, now=NOW), NOW).has_evidence() for uid in base
    }
    assert 5 <= sum(evidence.values()) < len(base), "the data must hold users with and without evidence"
    user_ids = base * 30  # every occurrence decides on its own
    res = list(batch.next_for_users(world, user_ids, "moments", strategy="exploring", now=NOW, n=3, seed=11))
    explored = np.concatenate([r.explored for r in res])
    capped = np.concatenate([r.capped for r in res])
    rows = np.concatenate([r.rows for r in res])
    has = np.array([evidence[u] for u in user_ids])
    assert not (explored & capped).any()
    assert explored[~has & ~capped].all()
    with_evidence = has & ~capped
    k, trials, p = int(explored[with_evidence].sum()), int(with_evidence.sum()), EXPLORING.exploration_share
    assert abs(k - p * trials) <= 4.5 * np.sqrt(trials * p * (1 - p)), (k, trials)
    means = {
        uid: [
            cat.index[p.asset_id]
            for p in service.next_for_user(world, uid, "moments", n=3, strategy="means", now=NOW).picks
        ]
        for uid in base
    }
    checked = 0
    for i in np.flatnonzero(with_evidence & ~explored).tolist():
        assert rows[i][rows[i] >= 0].tolist() == means[user_ids[i]], user_ids[i]
        checked += 1
    assert checked > 100
    # the exploring users' picks vary with the draws, the others' do not
    again = np.concatenate(
        [r.rows for r in batch.next_for_users(world, user_ids, "moments", strategy="exploring", now=NOW, n=3, seed=12)]
    )
    assert (again[explored] != rows[explored]).any()


def test_exploration_rule_is_one_function_for_a_request_and_a_block() -> None:
    """``exploring_share``, ``explores`` and ``drawn_weights`` over a block of users give each user what one
    request would get: the one-request case consumes the same random numbers as a block of one."""
    strat = EXPLORING
    share = exploring_share(strat, np.array([True, False, True]))
    assert share.tolist() == [0.2, 1.0, 0.2]
    assert float(exploring_share(strat, False)) == 1.0 and float(exploring_share(strat, True)) == 0.2
    assert exploring_share(Strategy(id="off", weights={"quality": 1.0}, exploration=False), True) == 0.0
    for seed in range(20):
        one = bool(explores(np.asarray(0.2), np.random.default_rng(seed)))
        assert explores(np.array([0.2]), np.random.default_rng(seed)).tolist() == [one]
        w_one = drawn_weights(strat, np.random.default_rng(seed), True)
        w_block = drawn_weights(strat, np.random.default_rng(seed), np.array([True, False]))
        assert {k: float(v[0]) for k, v in w_block.items()} == w_one
        assert all(float(v[1]) == strat.weight(k) for k, v in w_block.items())
    # a user with evidence explores about a fifth of the time; a cold one always
    flags = explores(
        exploring_share(strat, np.r_[np.ones(2000, dtype=bool), np.zeros(50, dtype=bool)]), np.random.default_rng(3)
    )
    assert abs(flags[:2000].mean() - 0.2) < 0.04 and flags[2000:].all()
    assert drawn_weights(strat, np.random.default_rng(0), False) == {k: float(v) for k, v in strat.weights.items()}


def test_batch_weighs_each_exploring_user_with_its_drawn_weights(world, monkeypatch) -> None:
    """The weights ``drawn_weights`` gives an exploring user are the weights the batch scores that user with,
    on every signal: with the draws of rates and quality replaced by their means and the drawn weights by
    another strategy's, every user gets that strategy's pick and score from the per-user path."""
    names = (
        "topic",
        "type",
        "appeal",
        "similarity",
        "affinity",
        "collaborative",
        "quality",
        "popularity",
        "freshness",
        "lifecycle",
    )
    weights = dict(zip(names, (1.0, 0.8, 0.6, 1.0, 0.8, 1.0, 0.5, 0.4, 0.2, 0.6), strict=True))
    other = dict(zip(names, (0.3, 1.2, 0.1, 0.2, 1.5, 0.4, 1.1, 0.05, 0.9, 0.2), strict=True))
    put_strategy(
        world,
        Strategy(
            id="drawn",
            weights=weights,
            exploration=True,
            exploration_share=1.0,
            diversity=1.0,
            uncertainty={"quality": 0.5},
        ),
    )
    put_strategy(world, Strategy(id="other", weights=other, exploration=False, diversity=1.0))
    real_quality = batch.quality_values
    monkeypatch.setattr(batch, "quality_values", lambda *a, explore=None, **kw: real_quality(*a, explore=False, **kw))
    monkeypatch.setattr(batch, "rate_draw", lambda a, b, explore, rng: a / (a + b))
    monkeypatch.setattr(
        batch, "drawn_weights", lambda strat, rng, explore: {k: np.full(explore.shape, other[k]) for k in names}
    )
    user_ids = [f"u{u:02d}" for u in range(40)] + ["nobody"]
    for channel in CHANNELS:
        (res,) = list(batch.next_for_users(world, user_ids, channel, strategy="drawn", now=NOW, n=3, seed=5))
        assert res.explored[~res.capped].all()
        got = res.asset_ids(catalog(world))
        for k, uid in enumerate(user_ids):
            rec = service.next_for_user(world, uid, channel, n=3, strategy="other", now=NOW)
            assert got[k] == [p.asset_id for p in rec.picks], (channel, uid)
            if rec.picks:
                assert res.scores[k, 0] == pytest.approx(rec.picks[0].score, abs=2e-4), (channel, uid)


def test_batch_reserve_logs_each_pick_with_its_propensity_like_a_request(world) -> None:
    """``pick_lines(reserve=True)`` reserves each user's first pick it wins and writes the served record a
    reserved request writes, with the pick's propensity under the request's exploration mixture: 1.0 with
    exploration off (the policy is deterministic); with exploration on, in (0, 1], at least 1 − share for a
    user the batch ranked by the means (the mixture's deterministic part picks it), and each served record
    is a round offline evaluation reads (``is_logged_round``)."""
    put_strategy(world, EXPLORING)
    put_strategy(world, PLAIN[1])
    user_ids = [f"u{u:02d}" for u in range(40)]
    for strategy, channel in (("plain", "moments"), ("exploring", "wecom_group")):
        lines = list(batch.pick_lines(world, user_ids, channel, n=3, strategy=strategy, now=NOW, seed=3, reserve=True))
        reserved = [line for line in lines if line.get("reserved")]
        assert len(reserved) >= 20, strategy
        served = {
            e["recommendation_id"]: e
            for e in world.store.query_events(EventQuery(types=("served",), channels=(channel,), limit=1000))
        }
        for line in reserved:
            (pick,) = line["picks"]
            e = served[pick["recommendation_id"]]
            assert e["user_id"] == line["target"] and e["asset_id"] == pick["asset_id"]
            assert e["attributes"]["propensity"] == pick["propensity"] and is_logged_round(e)
            assert e["attributes"]["strategy"] == strategy
            if strategy == "plain":
                assert pick["propensity"] == 1.0
            else:
                assert 0 < pick["propensity"] <= 1.0
        # a second reservation of the same users: the asset is taken for each (re-delivery window) or the cap
        again = list(batch.pick_lines(world, user_ids, channel, n=3, strategy=strategy, now=NOW, seed=3, reserve=True))
        taken = {(line["target"], line["picks"][0]["asset_id"]) for line in reserved}
        assert not taken & {(line["target"], p["asset_id"]) for line in again for p in line["picks"]}
    cat = catalog(world)
    share = EXPLORING.exploration_share
    res = list(batch.next_for_users(world, user_ids, "moments", strategy="exploring", now=NOW, n=3, seed=7))[0]
    checked = 0
    for i, uid in enumerate(res.user_ids):
        aud = audience_for(world, cat, load_profile(world, user_id=uid, now=NOW), NOW)
        if res.capped[i] or res.explored[i] or not aud.has_evidence() or res.rows[i][0] < 0:
            continue
        picks = [(int(res.rows[i][0]), float(res.scores[i][0]), f"r_test{i}")]
        (rec,) = service.reserve_batch_block(
            world, cat, "moments", None, EXPLORING, [service.BatchAsk(uid, picks, False)], NOW, np.random.default_rng(i)
        )
        assert rec.reserved and rec.picks[0].propensity >= 1 - share - 1e-4, uid
        checked += 1
    assert checked >= 5
