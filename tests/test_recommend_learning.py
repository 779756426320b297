"""The recommender learns: topics from the library itself, users' tastes from their events, weights from
the brand's own history — measured on a small Chinese library whose topics and formats are known."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from contenthub.audience.profiles import load_profile
from contenthub.embeddings import Embedder
from contenthub.hub import Hub
from contenthub.library.service import asset_text
from contenthub.recommend import events, learning, service, topics
from contenthub.recommend.audiences import audience_for
from contenthub.recommend.catalog import catalog, refresh_now
from contenthub.recommend.evaluation import ope
from contenthub.recommend.evaluation.logged import evaluate_strategies
from contenthub.recommend.strategies import (
    DEFAULTS,
    Strategy,
    get_strategy,
    put_strategy,
)
from contenthub.store.query import EventQuery
from contenthub.timeutil import to_iso, utcnow
from tests.zh_library import zh_library

_VECTORS: dict[str, np.ndarray] = {}  # text → vector, shared by the tests of this module (the model is slow)


def _load(hub: Hub, embedder: Embedder, lib: list[dict[str, Any]]) -> None:
    now = to_iso(utcnow())
    docs = [
        {
            **{k: v for k, v in a.items() if not k.startswith("_")},
            "kind": "article",
            "status": "approved",
            "scenes": [],
            "created_at": now,
            "updated_at": now,
            "created_by": "t",
            "updated_by": "t",
        }
        for a in lib
    ]
    hub.store.put_assets(docs)
    texts = [asset_text(d) for d in docs]
    todo = [t for t in dict.fromkeys(texts) if t not in _VECTORS]
    if todo:
        _VECTORS.update(zip(todo, embedder.encode_passages(todo, batch_size=64), strict=True))
    hub.store.put_vectors(embedder.model_id, {d["id"]: _VECTORS[t] for d, t in zip(docs, texts, strict=True)})
    hub.touch("assets")


@pytest.fixture
def zh_hub(hub: Hub, embedder: Embedder) -> tuple[Hub, list[dict[str, Any]]]:
    lib = zh_library()
    _load(hub, embedder, lib)
    return hub, lib


def _neighbour_agreement(vectors: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nn = np.argsort(-sims, axis=1)[:, :k]
    return float((labels[nn] == labels[:, None]).mean())


def test_neighbours_share_the_topic_far_more_often_than_the_format(zh_hub) -> None:
    hub, lib = zh_hub
    cat = catalog(hub)
    truth = {a["id"]: a for a in lib}
    topic = np.array([truth[i]["_topic"] for i in cat.ids])
    fmt = np.array([truth[i]["_format"] for i in cat.ids])
    by_topic, by_format = _neighbour_agreement(cat.vectors, topic), _neighbour_agreement(cat.vectors, fmt)
    assert by_topic >= 0.85 and by_topic >= by_format + 0.4, (by_topic, by_format)
    raw = np.stack([hub.store.get_vectors([i])[1][0] for i in cat.ids])
    assert _neighbour_agreement(raw, topic) < by_topic, "the transform is what separates topics"


def test_topics_are_discovered_named_and_kept_as_implicit_tags(zh_hub) -> None:
    hub, lib = zh_hub
    cat = catalog(hub)
    truth = {a["id"]: a["_topic"] for a in lib}
    assert 4 <= len(cat.topic_names) <= 9, cat.topic_names
    found = topics.stored(hub)
    assert set(found) == set(cat.ids), "every asset with a vector has a topic, stored for ingestion"
    # each discovered topic is mostly one true topic, and is named by that topic's words
    for name in cat.topic_names:
        members = [truth[a] for a, t in found.items() if t == name]
        _top, count = Counter(members).most_common(1)[0]
        assert count / len(members) >= 0.8, (name, Counter(members))
    # an untagged asset still carries its topic as a feature beside the editors' tags
    untagged = next(a for a in lib if not a["tags"])
    row = cat.index[untagged["id"]]
    feats = {f for f, j in cat.feature_index.items() if cat.features[row, j]}
    assert f"o:{found[untagged['id']]}" in feats


def test_topics_follow_the_library_when_it_grows(zh_hub, embedder) -> None:
    hub, lib = zh_hub
    before = catalog(hub)
    extra = [{**a, "id": a["id"] + "-new", "tags": []} for a in lib[:6]]
    _load(hub, embedder, extra)
    after = catalog(hub)
    assert after is not before and len(after) == len(before) + 6
    assert all(f"{a['id']}" in topics.stored(hub) for a in extra), "new assets get a topic on rebuild"


# --- users' tastes from their events ---------------------------------------------------------------

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


def _ev(i: str, etype: str, user: str, asset_id: str, ts: datetime) -> dict[str, Any]:
    return {"id": i, "type": etype, "user_id": user, "asset_id": asset_id, "channel": "moments", "ts": to_iso(ts)}


def test_clicks_on_one_topic_move_the_next_picks_there_and_the_reasons_say_so(zh_hub) -> None:
    hub, lib = zh_hub
    catalog(hub)
    found = topics.stored(hub)
    coffee = [a["id"] for a in lib if a["_topic"] == "咖啡"]
    share_before = np.mean(
        [
            found[p.asset_id] == found[coffee[0]]
            for s in range(20)
            for p in service.next_for_user(hub, "fan", "moments", n=1, now=NOW, seed=s).picks
        ]
    )
    evs = []
    for k, aid in enumerate(coffee[:3]):
        t = NOW - timedelta(hours=3 - k)
        evs += [_ev(f"d{k}", "delivered", "fan", aid, t), _ev(f"c{k}", "click", "fan", aid, t + timedelta(minutes=1))]
    # two other topics delivered and ignored: they count against
    for k, aid in enumerate([a["id"] for a in lib if a["_topic"] in ("护眼", "宠物")][:4]):
        evs.append(_ev(f"x{k}", "delivered", "fan", aid, NOW - timedelta(hours=5)))
    assert not events.ingest(hub, evs).rejected
    picks = [service.next_for_user(hub, "fan", "moments", n=1, now=NOW, seed=s).picks[0] for s in range(20)]
    share_after = np.mean([found[p.asset_id] == found[coffee[0]] for p in picks])
    assert share_after >= 0.7 and share_after > share_before + 0.4, (share_before, share_after)
    on_topic = next(p for p in picks if found[p.asset_id] == found[coffee[0]])
    topic_reason = next(r for r in on_topic.reasons if r.kind == "topic")
    assert found[coffee[0]] in topic_reason.detail and "3.0 of 3.0" in topic_reason.detail
    assert all(0 < p.propensity <= 1 for p in picks)


def test_a_delivery_without_engagement_counts_against_its_topic(zh_hub) -> None:
    hub, lib = zh_hub
    cat = catalog(hub)
    eye = [a["id"] for a in lib if a["_topic"] == "护眼"]
    evs = [_ev(f"d{k}", "delivered", "cold", aid, NOW - timedelta(hours=k + 1)) for k, aid in enumerate(eye[:4])]
    events.ingest(hub, evs)
    profile = load_profile(hub, user_id="cold", now=NOW)
    aud = audience_for(hub, cat, profile, NOW)
    a, b = aud.topic_ab
    slot = cat.topic_names.index(topics.stored(hub)[eye[0]])
    mean = a / (a + b)
    assert mean[slot] < mean[-1], "four ignored deliveries put the topic below an untried one"


def test_a_mute_counts_against_its_topic_more_than_an_ignored_delivery(zh_hub) -> None:
    hub, lib = zh_hub
    cat = catalog(hub)
    eye = [a["id"] for a in lib if a["_topic"] == "护眼"]
    slot = cat.topic_names.index(topics.stored(hub)[eye[0]])
    means = []
    for user, extra in (("ignored", []), ("muted", [_ev("m1", "mute", "muted", eye[0], NOW - timedelta(minutes=30))])):
        evs = [
            _ev(f"{user}-d{k}", "delivered", user, aid, NOW - timedelta(hours=k + 1)) for k, aid in enumerate(eye[:2])
        ]
        assert not events.ingest(hub, evs + extra).rejected
        a, b = audience_for(hub, cat, load_profile(hub, user_id=user, now=NOW), NOW).topic_ab
        means.append(float(a[slot] / (a[slot] + b[slot])))
    assert means[1] < means[0], means


def test_most_requests_rank_by_the_posterior_means_and_log_the_mixture_propensity(zh_hub) -> None:
    hub, lib = zh_hub
    catalog(hub)
    coffee = [a["id"] for a in lib if a["_topic"] == "咖啡"]
    evs = []
    for k, aid in enumerate(coffee[:3]):
        t = NOW - timedelta(hours=3 - k)
        evs += [_ev(f"d{k}", "delivered", "mix", aid, t), _ev(f"c{k}", "click", "mix", aid, t + timedelta(minutes=1))]
    assert not events.ingest(hub, evs).rejected
    share = DEFAULTS["default"].exploration_share
    assert 0 < share < 1
    picks = [service.next_for_user(hub, "mix", "moments", n=1, now=NOW, seed=s).picks[0] for s in range(40)]
    modal = Counter(p.asset_id for p in picks).most_common(1)[0]
    assert modal[1] >= 0.6 * len(picks), "the posterior means decide most requests"
    for p in picks:
        if p.asset_id == modal[0]:
            assert p.propensity >= 1 - share, p.propensity  # chosen whenever the request does not explore
            assert not any(r.kind == "exploration" for r in p.reasons)
        else:  # only an exploring request picks it: at most the exploring share
            assert 0 < p.propensity <= share + 1e-9, p.propensity
            assert p.reasons[0].kind == "exploration"
    always = Strategy(id="always", weights=DEFAULTS["default"].weights, exploration_share=1.0)
    put_strategy(hub, always)
    drawn = {
        service.next_for_user(hub, "mix", "moments", n=1, now=NOW, seed=s, strategy="always").picks[0].asset_id
        for s in range(40)
    }
    assert len(drawn) > len({p.asset_id for p in picks}) or len(drawn) > 2, "every request draws: more variety"


def test_reasons_true_of_every_candidate_are_not_shown(zh_hub) -> None:
    hub, _ = zh_hub
    rec = service.next_for_user(hub, "newbie", "moments", n=5, now=NOW, seed=1)
    kinds = [r.kind for p in rec.picks for r in p.reasons]
    assert "fresh" not in kinds and "lifecycle" not in kinds, kinds


def test_every_pick_logs_its_propensity_in_the_served_record(zh_hub) -> None:
    hub, _ = zh_hub
    rec = service.next_for_user(hub, "u-log", "moments", n=1, now=NOW, seed=3, reserve=True)
    pick = rec.picks[0]
    assert 0 < pick.propensity <= 1
    served = hub.store.query_events(EventQuery(user_ids=("u-log",), types=("served",)))
    assert served[0]["attributes"]["propensity"] == pick.propensity
    plain = service.next_for_user(hub, "u-log2", "moments", n=2, now=NOW, strategy="content")
    assert [p.propensity for p in plain.picks] == [1.0, 1.0], "no exploration: chosen for sure"


# --- the learning job ------------------------------------------------------------------------------


def test_learning_on_a_hub_without_events_keeps_the_prior_and_says_so(hub) -> None:
    report = learning.learn(hub)
    assert not report.activated and "no engagement" in report.reason
    assert get_strategy(hub, "default").weights == DEFAULTS["default"].weights


def _topic_world(
    hub: Hub, lib: list[dict[str, Any]], users: int = 60, days: int = 12, seed: int = 5, deliveries: bool = True
) -> None:
    """Users who click only their own topic, served at random for ``days`` days. ``deliveries``: the bot
    reports what the hub picked (else only the clicks arrive, as ratings would)."""
    rng = random.Random(seed)
    names = sorted({a["_topic"] for a in lib})
    evs = []
    for u in range(users):
        liked = names[u % len(names)]
        for d in range(days):
            a = rng.choice(lib)
            t = NOW - timedelta(days=days - d)
            if deliveries:  # as a bot reports the hub's picks: with their recommendation ids
                evs.append({**_ev(f"{u}-{d}-d", "delivered", f"w{u}", a["id"], t), "recommendation_id": f"r_{u}x{d}"})
            if a["_topic"] == liked and rng.random() < 0.8:
                evs.append(_ev(f"{u}-{d}-c", "click", f"w{u}", a["id"], t + timedelta(minutes=2)))
    assert not events.ingest(hub, evs).rejected
    refresh_now(hub)


@pytest.mark.parametrize("deliveries", [True, False], ids=["per-delivery", "choice"])
def test_learning_fits_weights_that_win_on_held_out_engagement(zh_hub, deliveries) -> None:
    hub, lib = zh_hub
    catalog(hub)
    # without deliveries only the clicks arrive: four times the users and twice the days for as many samples
    _topic_world(hub, lib, deliveries=deliveries, **({} if deliveries else {"users": 120, "days": 24}))
    put_strategy(hub, Strategy(id="default", weights={"popularity": 1.0, "freshness": 1.0, "topic": 0.01}))
    report = learning.learn(hub)
    assert report.activated, report.to_dict()
    assert report.learned["objective"] == ("engagement per delivery" if deliveries else "choice among candidates")
    learned = get_strategy(hub, "default")
    assert learned.weights["topic"] > learned.weights["popularity"], learned.weights
    assert learned.uncertainty and all(np.isfinite(list(learned.uncertainty.values())))
    assert report.learned["holdout_quality"] > report.previous["holdout_quality"]
    assert learned.learned["activations"] == 1  # the weights changed once
    if deliveries:
        assert report.learned["fit"].startswith("pairs within users") and report.learned["training_pairs"] > 0
        assert report.learned["holdout_pairs"] > 0
        # users who like one topic each: they differ, so their own deliveries get a say
        assert learned.rate_prior["topic"] < 20, learned.rate_prior


@pytest.mark.parametrize("deliveries", [True, False], ids=["per-delivery", "choice"])
def test_learning_keeps_weights_that_it_cannot_beat(zh_hub, monkeypatch, deliveries) -> None:
    hub, lib = zh_hub
    catalog(hub)
    _topic_world(hub, lib, deliveries=deliveries)
    before = get_strategy(hub, "default")
    name = "fit_pairs" if deliveries else "fit"
    monkeypatch.setattr(
        learning, name, lambda x, y, prior, l2=learning.L2, **kw: (np.full_like(prior, np.nan), np.zeros_like(prior))
    )
    report = learning.learn(hub)
    assert not report.activated and "non-finite" in report.reason
    assert get_strategy(hub, "default").weights == before.weights
    monkeypatch.setattr(
        learning, name, lambda x, y, prior, l2=learning.L2, **kw: (np.eye(prior.size)[-1], np.zeros_like(prior))
    )
    report = learning.learn(hub)  # lifecycle only: ranks held-out clicks worse than the prior
    assert not report.activated and "no better" in report.reason, report.reason
    assert get_strategy(hub, "default").weights == before.weights


@pytest.mark.parametrize("deliveries", [True, False], ids=["per-delivery", "choice"])
def test_weights_in_use_that_lose_to_the_built_in_ones_are_replaced(zh_hub, monkeypatch, deliveries) -> None:
    hub, lib = zh_hub
    catalog(hub)
    _topic_world(hub, lib, deliveries=deliveries)
    # a stored fit that ranks by the lifecycle fit alone (what a lucky early window can activate)
    put_strategy(hub, Strategy(id="default", weights={"lifecycle": 1.0}, uncertainty={"lifecycle": 0.5}))
    name = "fit_pairs" if deliveries else "fit"
    monkeypatch.setattr(  # the new fit is no better than the weights in use: it is not activated
        learning, name, lambda x, y, prior, l2=learning.L2, **kw: (np.eye(prior.size)[-1], np.zeros_like(prior))
    )
    report = learning.learn(hub)
    assert not report.activated and report.reverted, report.to_dict()
    assert "built-in weights are restored" in report.reason, report.reason
    restored = get_strategy(hub, "default")
    assert restored.weights == DEFAULTS["default"].weights and not restored.uncertainty
    assert restored.learned == {"activations": 0, "restored_built_in_at_events": report.events}
    report = learning.learn(hub)  # the built-in weights are in use now: nothing to restore
    assert not report.reverted and get_strategy(hub, "default").weights == DEFAULTS["default"].weights


def test_learning_runs_after_enough_new_events(zh_hub) -> None:
    hub, lib = zh_hub
    hub.settings.learn_every_events = 200
    catalog(hub)
    _topic_world(hub, lib, users=30, days=8)
    deadline = time.monotonic() + 300  # a hang guard only: the run is on a background thread of a loaded machine
    while learning.last_report(hub) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert learning.last_report(hub) is not None, "the ingestion hook started a learning run"


# --- off-policy evaluation -------------------------------------------------------------------------


def test_our_estimators_equal_open_bandit_pipelines() -> None:
    obp_ope = pytest.importorskip("obp.ope")
    rng = np.random.default_rng(0)
    n, actions = 500, 6
    pscore_all = rng.dirichlet(np.ones(actions), size=n)
    action = np.array([rng.choice(actions, p=p) for p in pscore_all])
    pscore = pscore_all[np.arange(n), action]
    reward = rng.binomial(1, 0.2 + 0.1 * (action % 3)).astype(float)
    target_action = rng.integers(0, actions, size=n)
    dist = np.zeros((n, actions, 1))
    dist[np.arange(n), target_action, 0] = 1.0
    q = rng.uniform(0.1, 0.5, size=(n, actions, 1))
    target = dist[np.arange(n), action, 0]
    kw = {"reward": reward, "action": action, "action_dist": dist, "pscore": pscore}
    assert ope.ips(reward, pscore, target) == pytest.approx(
        obp_ope.InverseProbabilityWeighting().estimate_policy_value(**kw)
    )
    assert ope.snips(reward, pscore, target) == pytest.approx(
        obp_ope.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**kw)
    )
    q_logged = q[np.arange(n), action, 0]
    q_target = q[np.arange(n), target_action, 0]
    assert ope.doubly_robust(reward, pscore, target, q_logged, q_target) == pytest.approx(
        obp_ope.DoublyRobust().estimate_policy_value(**kw, estimated_rewards_by_reg_model=q)
    )


def test_stored_strategies_are_evaluated_offline_on_logged_picks(zh_hub) -> None:
    hub, _lib = zh_hub
    catalog(hub)
    rng = random.Random(2)
    evs = []
    for u in range(12):
        for d in range(4):
            t = NOW - timedelta(days=6 - d)
            rec = service.next_for_user(hub, f"l{u}", "moments", n=1, now=t, seed=u * 10 + d)
            p = rec.picks[0]
            evs.append(
                {**_ev(f"{u}-{d}", "delivered", f"l{u}", p.asset_id, t), "attributes": {"propensity": p.propensity}}
            )
            if rng.random() < 0.3:
                evs.append(_ev(f"{u}-{d}-c", "click", f"l{u}", p.asset_id, t + timedelta(minutes=3)))
            events.ingest(hub, evs[-2:])
    table = evaluate_strategies(hub, ["default", "popular"])
    assert table["rounds"] == 48
    rows = {r["strategy"]: r for r in table["strategies"]}
    assert set(rows) == {"default", "popular"}
    for r in rows.values():
        assert r["snips"] is None or 0.0 <= r["snips"] <= 1.0
        assert r["ips"] is not None and r["dr"] is not None
