"""A/B experiments over HTTP and through the serving path: CRUD and its bad input, layers, exposure
logging, metrics from events, health checks, report JSON/CSV/page, and the end-to-end simulator."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contenthub.audience import users
from contenthub.config import Settings
from contenthub.experiments import service
from contenthub.experiments.models import ExperimentCreate
from contenthub.experiments.report import build_report
from contenthub.experiments.simulator import SimConfig, run_simulation
from contenthub.hub import Hub, open_hub
from contenthub.library.models import Asset
from contenthub.recommend import events
from contenthub.recommend.service import next_for_user
from contenthub.timeutil import to_iso, utcnow
from contenthub.variants import runtime
from tests.conftest import Clients

CHANNEL = "app_push"


@pytest.fixture
def xhub(tmp_path: Path) -> Iterator[Hub]:
    """A hub without the embedding model: experiments never embed, so these tests skip loading it."""
    h = open_hub(Settings(data_dir=tmp_path / "data", session_secret="test-secret"))
    yield h
    h.close()


@pytest.fixture
def xclients(xhub: Hub) -> Clients:
    return Clients(xhub)


def put_assets(hub: Hub, ids: list[str], channel: str = CHANNEL) -> None:
    stamp = to_iso(utcnow() - timedelta(days=60))
    hub.store.put_assets(
        [
            Asset(
                id=a,
                title=f"素材 {a}",
                kind="article",
                content_type="educational",
                scenes=["education"],
                channels=[channel],
                status="approved",
                created_at=stamp,
                updated_at=stamp,
            ).model_dump(mode="json")
            for a in ids
        ]
    )
    hub.touch("assets")


def body(key: str = "rank-test", **over: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": "Popular vs default",
        "hypothesis": "Popular ranking raises click-through.",
        "unit": "user",
        "change": "strategy",
        "variants": [
            {"name": "control", "weight": 0.5, "strategy": "default"},
            {"name": "B", "weight": 0.5, "strategy": "popular"},
        ],
        "primary_metric": "ctr",
        "secondary_metrics": ["clicks_per_delivery", "revenue_per_unit"],
        "guardrail_metrics": ["unsubscribe_rate"],
        **over,
    }


def ev(i: str, etype: str, user: str, at: datetime, asset_id: str | None = "a1", **kw: Any) -> dict[str, Any]:
    return {"id": i, "type": etype, "user_id": user, "asset_id": asset_id, "channel": CHANNEL, "ts": to_iso(at), **kw}


# ---- CRUD and bad input ------------------------------------------------------------------------


def test_crud_roles_and_lifecycle(xclients: Clients) -> None:
    editor, viewer, bot = xclients.as_("editor"), xclients.as_("viewer"), xclients.as_("bot")
    r = editor.post("/v1/experiments", json=body())
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "draft" and created["seed"] == "rank-test" and created["created_by"] == "test-editor"
    assert editor.post("/v1/experiments", json=body()).status_code == 409
    assert bot.post("/v1/experiments", json=body("other")).status_code == 403
    assert viewer.patch("/v1/experiments/rank-test", json={"name": "x"}).status_code == 403

    assert [e["key"] for e in viewer.get("/v1/experiments").json()] == ["rank-test"]
    assert viewer.get("/v1/experiments/rank-test").json()["hypothesis"].startswith("Popular")
    assert viewer.get("/v1/experiments/nope").status_code == 404

    r = editor.patch(
        "/v1/experiments/rank-test",
        json={"variants": [{"name": "control", "weight": 0.7}, {"name": "B", "weight": 0.3, "strategy": "content"}]},
    )
    assert r.status_code == 200, r.text
    assert [v["weight"] for v in r.json()["variants"]] == [0.7, 0.3]

    assert editor.post("/v1/experiments/rank-test/start").json()["status"] == "running"
    assert viewer.get("/v1/experiments?status=running").json()[0]["key"] == "rank-test"
    r = editor.patch("/v1/experiments/rank-test", json={"seed": "new-seed"})
    assert r.status_code == 409 and "seed" in r.json()["error"]["message"]
    r = editor.patch("/v1/experiments/rank-test", json={"coverage": 0.5})
    assert r.status_code == 409 and r.json()["error"]["field"] == "coverage"
    assert editor.patch("/v1/experiments/rank-test", json={"hypothesis": "h2"}).json()["hypothesis"] == "h2"
    assert editor.delete("/v1/experiments/rank-test").status_code == 409
    assert editor.post("/v1/experiments/rank-test/start").status_code == 409

    stopped = editor.post("/v1/experiments/rank-test/stop").json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"]
    assert editor.post("/v1/experiments/rank-test/stop").status_code == 409
    assert editor.delete("/v1/experiments/rank-test").status_code == 204
    assert viewer.get("/v1/experiments/rank-test").status_code == 404


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        (
            {"variants": [{"name": "control", "weight": 0.5}, {"name": "B", "weight": 0.6, "strategy": "popular"}]},
            "variants",
            "sum to 1",
        ),
        (
            {
                "variants": [
                    {"name": "control", "weight": 0.5},
                    {"name": "control", "weight": 0.5, "strategy": "popular"},
                ]
            },
            "variants",
            "unique",
        ),
        ({"variants": [{"name": "control", "weight": 1.0, "strategy": "popular"}]}, "variants", "at least 2"),
        (
            {
                "variants": [
                    {"name": "control", "weight": 0.5},
                    {"name": "B", "weight": 0.5, "substitutions": {"a": "b"}},
                ]
            },
            "variants",
            "substitutions",
        ),
        (
            {
                "change": "cadence",
                "variants": [
                    {"name": "c", "weight": 0.5},
                    {"name": "B", "weight": 0.5, "rules": [{"channel": "wecom_group"}]},
                ],
            },
            "unit",
            "group",
        ),
        ({"secondary_metrics": ["ctr"]}, "metrics", "repeated: ctr"),
        ({"layer": "home", "layer_start": 0.6, "layer_end": 0.4}, "layer_start", "start < end"),
        ({"primary_metric": "happiness"}, "primary_metric", ""),
        ({"key": "Bad Key!"}, "key", ""),
    ],
)
def test_bad_experiments_are_422_with_the_reason(xclients: Clients, over: dict, field: str, words: str) -> None:
    r = xclients.as_("editor").post("/v1/experiments", json=body(**over))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert words in err["message"], err
    assert xclients.hub.store.count_docs("experiments") == 0


def test_unknown_strategy_or_asset_is_422_naming_the_variant(xclients: Clients) -> None:
    editor = xclients.as_("editor")
    r = editor.post(
        "/v1/experiments",
        json=body(variants=[{"name": "control", "weight": 0.5}, {"name": "B", "weight": 0.5, "strategy": "nope"}]),
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "variants[1].strategy"
    assert "popular" in r.json()["error"]["allowed"]
    r = editor.post(
        "/v1/experiments",
        json=body(
            change="asset",
            variants=[{"name": "control", "weight": 0.5}, {"name": "B", "weight": 0.5, "substitutions": {"x1": "x2"}}],
        ),
    )
    assert r.status_code == 422 and "'x1'" in r.json()["error"]["message"]


def test_overlapping_layer_is_409_naming_the_running_experiment(xclients: Clients) -> None:
    editor = xclients.as_("editor")
    for key, start, end in [("first", 0.0, 0.5), ("overlaps", 0.4, 1.0), ("beside", 0.5, 1.0)]:
        assert (
            editor.post("/v1/experiments", json=body(key, layer="home", layer_start=start, layer_end=end)).status_code
            == 201
        )
    assert editor.post("/v1/experiments/first/start").status_code == 200
    r = editor.post("/v1/experiments/overlaps/start")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["experiment"] == "first" and "'first'" in err["message"] and "home" in err["message"]
    assert editor.post("/v1/experiments/beside/start").status_code == 200  # [0.5, 1) touches, does not overlap
    # A unit is served by at most one experiment of the layer.
    hub = xclients.hub
    exps = {e["key"]: e for e in runtime.running(hub)}
    both = [
        u
        for u in (f"u{i}" for i in range(2000))
        if runtime.assignment(exps["first"], u) is not None and runtime.assignment(exps["beside"], u) is not None
    ]
    assert both == []


# ---- runtime: exposure and the other change kinds ----------------------------------------------


def _start(hub: Hub, **over: Any) -> None:
    data = ExperimentCreate.model_validate(body(**over))
    service.create_experiment(hub, data)
    service.start_experiment(hub, data.key)


def test_exposure_is_logged_once_per_unit_only_when_something_is_served(xhub: Hub) -> None:
    put_assets(xhub, [f"a{i}" for i in range(6)])
    _start(xhub)
    now = utcnow() - timedelta(hours=5)
    labels = set()
    for k in range(3):
        rec = next_for_user(xhub, "u1", CHANNEL, n=1, now=now + timedelta(hours=k), seed=k)
        labels.add(rec.variant)
    docs = xhub.store.list_docs("exposures", where={"experiment": "rank-test"})
    assert len(docs) == 1 and len(labels) == 1
    assert labels == {f"rank-test:{docs[0]['variant']}"}
    assert docs[0]["first_exposed_at"] == to_iso(now)
    # A fresh process (empty cache) still keeps the first exposure time.
    xhub.cache.clear()
    next_for_user(xhub, "u1", CHANNEL, n=1, now=now + timedelta(hours=4))
    assert xhub.store.get_doc("exposures", "rank-test|u1")["first_exposed_at"] == to_iso(now)
    # Nothing served (unknown scene filter leaves no candidate) → no exposure.
    rec = next_for_user(xhub, "u2", CHANNEL, n=1, scene="holiday", now=now)
    assert rec.picks == [] and xhub.store.get_doc("exposures", "rank-test|u2") is None


def test_asset_substitution_swaps_picks_for_the_treatment_and_exposes_both_arms(xhub: Hub) -> None:
    put_assets(xhub, ["copy-a"])
    put_assets(xhub, ["copy-b"], channel="sms")  # never picked on app_push by itself
    _start(
        xhub,
        key="copy-test",
        change="asset",
        secondary_metrics=[],
        variants=[{"name": "A", "weight": 0.5}, {"name": "B", "weight": 0.5, "substitutions": {"copy-a": "copy-b"}}],
    )
    served: dict[str, set[str]] = {"A": set(), "B": set()}
    for i in range(40):
        rec = next_for_user(xhub, f"u{i}", CHANNEL, n=1)
        variant = xhub.store.get_doc("exposures", f"copy-test|u{i}")["variant"]
        served[variant].add(rec.picks[0].asset_id)
        if variant == "B":
            assert rec.picks[0].title == "素材 copy-b"
            assert any(r.kind == "experiment" for r in rec.picks[0].reasons)
    assert served == {"A": {"copy-a"}, "B": {"copy-b"}}
    assert runtime.asset_substitution(xhub, "user", "u0", "other-asset") == "other-asset"


def test_cadence_and_journey_overrides(xhub: Hub) -> None:
    rule = {"channel": "wecom_group", "max_per_week": 2, "mix": {"educational": [1, 2]}}
    _start(
        xhub,
        key="cadence-test",
        unit="group",
        change="cadence",
        secondary_metrics=[],
        variants=[{"name": "control", "weight": 0.5}, {"name": "calm", "weight": 0.5, "rules": [rule]}],
    )
    _start(
        xhub,
        key="journey-test",
        change="journey",
        secondary_metrics=[],
        variants=[
            {"name": "control", "weight": 0.5},
            {"name": "short", "weight": 0.5, "journeys": {"welcome": "welcome-short"}},
        ],
    )
    assert runtime.cadence_override(xhub, "all") is None
    assert runtime.cadence_override(xhub, "segment:vip") is None
    seen = {}
    for i in range(30):
        ov = runtime.cadence_override(xhub, f"group:g{i}")
        assert ov is not None and ov.unit_id == f"g{i}" and ov.unit_kind == "group"
        seen[ov.variant] = ov.rules
    assert seen["control"] is None and seen["calm"][0]["max_per_week"] == 2
    journeys = {runtime.journey_variant(xhub, f"u{i}", "welcome").journey for i in range(30)}
    assert journeys == {"welcome", "welcome-short"}
    assert runtime.journey_variant(xhub, "u1", "other-journey") is None
    # The strategy path is untouched by experiments of other kinds.
    assert runtime.strategy_override(xhub, "user", "u1", requested="default") is None


# ---- metrics and health --------------------------------------------------------------------------


def test_metrics_count_each_unit_from_its_first_exposure(xhub: Hub) -> None:
    put_assets(xhub, ["a1"])
    _start(xhub, secondary_metrics=["clicks_per_delivery", "revenue_per_unit", "open_rate"], cuped=False)
    exp = runtime.running(xhub)[0]
    t0 = utcnow() - timedelta(days=2)
    arms: dict[int, list[str]] = {0: [], 1: []}
    i = 0
    while min(len(v) for v in arms.values()) < 3:
        uid = f"m{i}"
        arms[runtime.assignment(exp, uid)].append(uid)  # type: ignore[index]
        i += 1
    control, treat = arms[0][:3], arms[1][:3]
    for uid in control + treat:
        ov = runtime.strategy_override(xhub, "user", uid, requested="default")
        runtime.log_exposure(xhub, ov, uid, t0)
    batch = [ev("pre", "click", control[0], t0 - timedelta(hours=1))]  # before exposure: ignored
    batch += [ev("stranger", "click", "not-exposed", t0 + timedelta(hours=1))]
    for uid in control + treat:
        batch += [
            ev(f"{uid}-d1", "delivered", uid, t0 + timedelta(minutes=1)),
            ev(f"{uid}-d2", "delivered", uid, t0 + timedelta(days=1)),
        ]
    batch += [
        ev("c0-o", "open", control[1], t0 + timedelta(minutes=2)),
        ev("c0-c", "click", control[1], t0 + timedelta(minutes=3)),
    ]
    for k, uid in enumerate(treat[:2]):
        batch += [
            ev(f"{uid}-o", "open", uid, t0 + timedelta(minutes=2)),
            ev(f"{uid}-c1", "click", uid, t0 + timedelta(minutes=3)),
            ev(f"{uid}-c2", "click", uid, t0 + timedelta(days=1, minutes=3)),
        ]
        batch.append(ev(f"{uid}-v", "convert", uid, t0 + timedelta(minutes=9), value=100.0 * (k + 1)))
    batch.append(ev("unsub", "unsubscribe", treat[2], t0 + timedelta(minutes=5), asset_id=None))
    assert events.ingest(xhub, batch).rejected == []

    rep = build_report(xhub, "rank-test")
    assert rep.has_exposures and rep.units == {"control": 3, "B": 3}
    rows = {m.metric: m.rows for m in rep.metrics}
    assert rows["ctr"][0].numerator == 1 and rows["ctr"][0].value == pytest.approx(1 / 3)
    assert rows["ctr"][1].numerator == 2 and rows["ctr"][1].value == pytest.approx(2 / 3)
    assert rows["clicks_per_delivery"][0].value == pytest.approx(1 / 6)
    assert rows["clicks_per_delivery"][1].value == pytest.approx(4 / 6)
    assert rows["clicks_per_delivery"][1].denominator == 6
    assert rows["revenue_per_unit"][1].value == pytest.approx(100.0) and rows["revenue_per_unit"][0].value == 0
    assert rows["unsubscribe_rate"][1].value == pytest.approx(1 / 3)
    assert rows["ctr"][1].abs_diff == pytest.approx(1 / 3) and rows["ctr"][1].p_value is not None
    assert [f.code for f in rep.health] == ["too_little_data"]
    # The cumulative series ends at the report's numbers and never goes down for 0/1 metrics.
    ctr_points = next(s for s in rep.timeseries if s.metric == "ctr").points
    assert ctr_points[-1].values["B"] == pytest.approx(2 / 3)
    assert [p.values["control"] for p in ctr_points] == sorted(p.values["control"] for p in ctr_points)


def test_srm_and_multiple_exposures_are_flagged(xhub: Hub) -> None:
    _start(xhub)
    stamp = to_iso(utcnow() - timedelta(hours=3))
    docs = {}
    for i in range(1800):
        variant, index = ("control", 0) if i < 1000 else ("B", 1)
        docs[f"rank-test|s{i}"] = {
            "experiment": "rank-test",
            "unit_id": f"s{i}",
            "unit": "user",
            "variant": variant,
            "variant_index": index,
            "first_exposed_at": stamp,
        }
    xhub.store.put_docs_atomic("exposures", docs)
    # s0 later meets variant B too (e.g. the weights were edited in the store): flagged and excluded.
    ov = runtime.Override(experiment="rank-test", variant="B", variant_index=1, strategy="popular", unit_kind="user")
    runtime.log_exposure(xhub, ov, "s0", utcnow())
    assert xhub.store.get_doc("exposures", "rank-test|s0")["variants"] == ["control", "B"]

    rep = build_report(xhub, "rank-test")
    codes = [f.code for f in rep.health]
    assert codes[0] == "srm" and "multiple_exposures" in codes
    assert rep.srm is not None and rep.srm.warn and rep.srm.p_value < 0.001
    assert rep.units == {"control": 999, "B": 800} and rep.excluded_units == 1
    assert rep.summary["en"][0].startswith("Sample ratio mismatch")
    assert rep.summary["zh"][0].startswith("样本比例失衡")


def test_merged_users_in_different_arms_are_excluded(xhub: Hub) -> None:
    _start(xhub)
    exp = runtime.running(xhub)[0]
    a = next(f"p{i}" for i in range(100) if runtime.assignment(exp, f"p{i}") == 0)
    b = next(f"p{i}" for i in range(100) if runtime.assignment(exp, f"p{i}") == 1)
    for uid in (a, b):
        users.ensure_user(xhub, uid)
        runtime.log_exposure(xhub, runtime.strategy_override(xhub, "user", uid, requested="default"), uid, utcnow())
    users.merge_users(xhub, keep=a, absorb=b)
    rep = build_report(xhub, "rank-test")
    assert rep.excluded_units == 1 and sum(rep.units.values()) == 0


# ---- report: no exposures, JSON, CSV, page -------------------------------------------------------


def test_no_exposures_gives_a_page_and_json_saying_so(xclients: Clients) -> None:
    editor = xclients.as_("editor")
    editor.post("/v1/experiments", json=body())
    r = editor.get("/v1/experiments/rank-test/report")
    assert r.status_code == 200
    assert r.json()["has_exposures"] is False and r.json()["metrics"] == []
    csv_text = editor.get("/v1/experiments/rank-test/report.csv").text
    assert csv_text.splitlines() == [csv_text.splitlines()[0]] and csv_text.startswith("metric,role,variant")
    page = editor.get("/experiments/rank-test?lang=en")
    assert page.status_code == 200
    assert 'id="no-exposures"' in page.text and "No exposures yet" in page.text
    assert "还没有曝光" in editor.get("/experiments/rank-test?lang=zh").text
    assert editor.get("/experiments/nope").status_code == 404
    assert "rank-test" in editor.get("/experiments").text


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, Any]]:
    """One simulated experiment (2,000 users, +50% true click lift) shared by the report tests."""
    hub = open_hub(Settings(data_dir=tmp_path_factory.mktemp("sim") / "data", session_secret="test-secret"))
    result = run_simulation(hub, SimConfig(key="sim", users=2000, days=4, sends=1, lift=0.5, seed=11))
    yield hub, result
    hub.close()


def test_simulator_detects_the_known_effect(simulated: tuple[Hub, Any]) -> None:
    _, result = simulated
    assert result.detected, result.to_dict()
    assert result.ci_covers_truth, result.to_dict()
    assert result.true_lift["ctr"] == pytest.approx(0.5)
    assert result.srm_p_value > 0.001
    assert sum(result.units.values()) == 2000
    assert result.report.summary["en"][-1].startswith("treatment raised click-through by")


def ctr_value(rep: dict[str, Any], variant: str) -> float:
    return next(r["value"] for r in rep["metrics"][0]["rows"] if r["variant"] == variant)


def test_report_json_csv_and_page(simulated: tuple[Hub, Any]) -> None:
    hub, _ = simulated
    clients = Clients(hub)
    viewer = clients.as_("viewer")
    rep = viewer.get("/v1/experiments/sim/report").json()
    assert rep["has_exposures"] and rep["exposures"] == 2000
    assert [m["metric"] for m in rep["metrics"]] == [
        "ctr",
        "clicks_per_delivery",
        "conversion_rate",
        "revenue_per_unit",
        "unsubscribe_rate",
    ]
    ctr = rep["metrics"][0]["rows"][1]
    for field in (
        "abs_diff",
        "abs_ci_low",
        "abs_ci_high",
        "rel_diff",
        "rel_ci_low",
        "rel_ci_high",
        "p_value",
        "chance_to_beat_control",
        "expected_loss",
    ):
        assert ctr[field] is not None, field
    assert ctr["rel_ci_low"] < ctr["rel_diff"] < ctr["rel_ci_high"] and ctr["chance_to_beat_control"] > 0.95
    points = rep["timeseries"][0]["points"]  # one per local day from the first exposure, cumulative
    assert 4 <= len(points) <= 6 and sum(points[-1]["units"].values()) == 2000
    assert points[-1]["values"]["treatment"] == pytest.approx(ctr_value(rep, "treatment"))

    seq = viewer.get("/v1/experiments/sim/report?sequential=true&correction=holm").json()
    seq_ctr = seq["metrics"][0]["rows"][1]
    assert seq["sequential"] and seq_ctr["rel_ci_high"] - seq_ctr["rel_ci_low"] > ctr["rel_ci_high"] - ctr["rel_ci_low"]
    adjusted = [m["rows"][1] for m in seq["metrics"]]
    assert all(r["p_adjusted"] >= r["p_value"] for r in adjusted)
    assert viewer.get("/v1/experiments/sim/report?correction=maybe").status_code == 422

    r = viewer.get("/v1/experiments/sim/report.csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 10 and rows[1]["variant"] == "treatment" and rows[1]["significant"] == "True"
    assert float(rows[1]["p_value"]) == pytest.approx(ctr["p_value"])

    page = viewer.get("/experiments/sim?lang=en")
    assert page.status_code == 200
    text = page.text
    assert "treatment raised click-through by" in text and "Health checks pass" in text
    assert text.count("<svg") == 2 and 'data-metric="unsubscribe_rate"' in text
    assert "guardrail" in text and "Chance to beat control" in text
    assert clients.anon.get("/experiments/sim", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("query", ["", "?correction=holm", "?correction=bh", "?sequential=true&correction=holm"])
def test_every_interval_agrees_with_the_conclusion_under_any_correction(simulated: tuple[Hub, Any], query: str) -> None:
    """The chart plots the rows' relative intervals: under Holm or BH they are redrawn at the adjusted level, so
    a row is significant exactly when both of its intervals exclude 0."""
    hub, _ = simulated
    rep = Clients(hub).as_("viewer").get(f"/v1/experiments/sim/report{query}").json()
    rows = [r for m in rep["metrics"] for r in m["rows"][1:] if r["p_value"] is not None]
    assert rows
    for r in rows:
        assert (r["abs_ci_low"] > 0 or r["abs_ci_high"] < 0) == r["significant"], r
        if r["rel_ci_low"] is not None:
            assert (r["rel_ci_low"] > 0 or r["rel_ci_high"] < 0) == r["significant"], r
        assert (r["p_adjusted"] < 0.05) == r["significant"]
        if "correction" in query:
            assert r["interval_level"] >= 0.95


def test_summary_never_contradicts_itself_when_the_delta_method_would() -> None:
    """At ~400 units per arm the delta-method relative CI crosses 0 (about [-4%, +105%]) while the absolute
    difference is significant; Fieller's interval, from the same test, is clear of 0 and the sentence says so
    in percent and in percentage points."""
    from contenthub.experiments.stats import MeanStats, compare, plain_language

    comp = compare(MeanStats.binomial(407, 44), MeanStats.binomial(393, 64), "binomial", True)
    assert comp.significant and comp.rel_ci is not None and comp.rel_ci[0] > 0
    assert comp.rel_diff - 1.96 * comp.rel_std_error < 0  # what the delta-method interval would have shown
    sentence = plain_language("click-through", "B", comp)
    assert sentence == "B raised click-through by 51% (95% CI [+5.7%, +121%]), +5.5 pp in absolute terms"
    assert (
        plain_language("点击率", "B", comp, "zh")
        == "B 使点击率提升了 51%（95% 置信区间 [+5.7%, +121%]），绝对值 +5.5 个百分点"
    )


def test_cli_simulate_then_report(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from contenthub.experiments.cli import sim_app

    runner = CliRunner()
    data = tmp_path / "data"
    out = runner.invoke(
        sim_app,
        ["simulate", "--users", "200", "--days", "2", "--sends", "1", "--key", "cli-sim", "--data-dir", str(data)],
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert sum(result["units"].values()) == 200 and result["true_lift"]["clicks_per_delivery"] == 0.1
    out = runner.invoke(sim_app, ["report", "cli-sim", "--data-dir", str(data), "--csv"])
    assert out.exit_code == 0 and out.output.startswith("metric,role,variant") and len(out.output.splitlines()) == 11
    out = runner.invoke(sim_app, ["report", "nope", "--data-dir", str(data)])
    assert out.exit_code == 1 and "No experiment 'nope'" in out.output


def test_planner_applies_cadence_variants_and_logs_exposure(xhub: Hub) -> None:
    from datetime import date

    from contenthub.audience.groups import upsert_group
    from contenthub.audience.models import GroupIn
    from contenthub.publish import service as publish

    put_assets(xhub, [f"a{i}" for i in range(30)], channel="wecom_group")
    for i in range(6):
        upsert_group(xhub, GroupIn(id=f"g{i}", channel="wecom_group"))
    rule = {"channel": "wecom_group", "max_per_week": 1, "mix": {"educational": [0, 1]}}
    _start(
        xhub,
        key="calm-groups",
        unit="group",
        change="cadence",
        secondary_metrics=[],
        variants=[{"name": "control", "weight": 0.5}, {"name": "calm", "weight": 0.5, "rules": [rule]}],
    )
    week = date.today() + timedelta(days=7)
    plan = publish.generate(xhub, week, ["wecom_group"], [f"group:g{i}" for i in range(6)], "test")
    by_group: dict[str, int] = {}
    for slot in plan.slots:
        by_group[slot.audience.key] = by_group.get(slot.audience.key, 0) + 1
    variants = {f"group:g{i}": runtime.cadence_override(xhub, f"group:g{i}").variant for i in range(6)}
    assert set(variants.values()) == {"control", "calm"}, "both arms are present among six groups"
    for key, variant in variants.items():
        if variant == "calm":
            assert by_group.get(key, 0) <= 1, "the calm arm's rule set caps the week at one post"
        else:
            assert by_group.get(key, 0) > 1, "the control arm keeps the default cadence"
    exposed = {d["unit_id"] for d in xhub.store.list_docs("exposures", where={"experiment": "calm-groups"})}
    assert exposed == {k.split(":")[1] for k in variants if by_group.get(k, 0) > 0}
