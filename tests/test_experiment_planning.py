"""Planning: sample size, duration and detectable effect (pure functions), the calculator endpoint
and page, and an analysis plan that is fixed once an experiment starts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from contenthub.config import Settings
from contenthub.experiments import service
from contenthub.experiments.models import Experiment
from contenthub.experiments.stats import sequential_test
from contenthub.experiments.stats.planning import (
    days_left,
    detectable_effect,
    plan_sample,
)
from contenthub.experiments.stats.sufficient import MeanStats
from contenthub.hub import Hub, open_hub
from tests.conftest import Clients
from tests.test_experiments_api import body


@pytest.fixture
def phub(tmp_path: Path) -> Iterator[Hub]:
    h = open_hub(Settings(data_dir=tmp_path / "data", session_secret="test-secret"))
    yield h
    h.close()


@pytest.fixture
def pclients(phub: Hub) -> Clients:
    return Clients(phub)


# ---- pure functions --------------------------------------------------------------------------------


def test_textbook_sample_size_for_a_rate() -> None:
    """5% → 5.5% at α = 0.05 two-sided and 80% power needs about 31,200 per arm (unpooled normal formula:
    (1.96 + 0.8416)² · (0.05·0.95 + 0.055·0.945) / 0.005² = 31,231)."""
    plan = plan_sample(0.05, 0.1, units_per_day=2000)
    assert plan.units_per_variant == (31_231, 31_231) and plan.total_units == 62_462
    assert plan.days == pytest.approx(31.231)
    assert plan_sample(0.05, 0.2).total_units < plan.total_units / 3.5  # a doubled MDE needs ~1/4


def test_planned_sample_has_the_planned_power_by_simulation() -> None:
    """At the planned sample, 4,000 simulated experiments with the true effect at the MDE detect it ~80% of the
    time (Welch test), and ~5% when there is no effect."""
    rng = np.random.default_rng(3)
    plan = plan_sample(0.05, 0.1)
    n = plan.units_per_variant[0]
    c = rng.binomial(n, 0.05, 4000)
    t = rng.binomial(n, 0.055, 4000)
    z = (t - c) / n / np.sqrt((c / n) * (1 - c / n) / n + (t / n) * (1 - t / n) / n)
    assert np.mean(np.abs(z) > 1.96) == pytest.approx(0.80, abs=0.025)
    t0 = rng.binomial(n, 0.05, 4000)
    z0 = (t0 - c) / n / np.sqrt((c / n) * (1 - c / n) / n + (t0 / n) * (1 - t0 / n) / n)
    assert np.mean(np.abs(z0) > 1.96) == pytest.approx(0.05, abs=0.015)


def test_sequential_plan_needs_more_and_delivers_its_power() -> None:
    fixed, seq = plan_sample(0.05, 0.1), plan_sample(0.05, 0.1, sequential=True)
    assert seq.method == "sequential" and seq.total_units > fixed.total_units
    rng = np.random.default_rng(4)
    n = seq.units_per_variant[0]
    hits = sum(
        sequential_test(
            MeanStats.binomial(n, int(rng.binomial(n, 0.05))), MeanStats.binomial(n, int(rng.binomial(n, 0.055)))
        ).p_value
        < 0.05
        for _ in range(600)
    )
    assert hits / 600 >= 0.76


def test_arms_split_alpha_and_weights_shift_units() -> None:
    three = plan_sample(0.05, 0.1, weights=(1 / 3, 1 / 3, 1 / 3))
    assert three.alpha_per_comparison == pytest.approx(0.025) and len(three.units_per_variant) == 3
    assert three.units_per_variant[0] > 31_231  # a stricter α per comparison needs more per arm
    skewed = plan_sample(0.05, 0.1, weights=(0.8, 0.2))
    assert skewed.total_units > plan_sample(0.05, 0.1).total_units
    assert skewed.units_per_variant[1] < skewed.units_per_variant[0]


def test_mean_metric_plan_and_detectable_effect_inverts_the_plan() -> None:
    plan = plan_sample(20.0, 0.05, sd=60.0)
    expected = math.ceil((1.959964 + 0.841621) ** 2 * (2 * 60.0**2 / 0.5) / 1.0**2)
    assert plan.total_units == pytest.approx(expected, rel=1e-4)
    mde = detectable_effect(20.0, plan.total_units, sd=60.0)
    assert mde == pytest.approx(0.05, rel=1e-3)
    assert detectable_effect(0.05, 10) > 5  # ten units only see a rate grow many times over
    assert detectable_effect(0.5, 3) is None and detectable_effect(0.5, 8) is None  # not even 50% → 99.9%
    assert days_left(1000, 400, 50.0) == 12.0 and days_left(1000, 1200, 50.0) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"baseline": 1.5, "mde": 0.1}, "baseline must be a rate"),
        ({"baseline": 0.6, "mde": 1.0}, "not a rate below 1"),
        ({"baseline": 0.05, "mde": 0.0}, "mde"),
        ({"baseline": 0.05, "mde": 0.1, "power": 0.3}, "power"),
        ({"baseline": 0.05, "mde": 0.1, "weights": (0.5, 0.6)}, "weights"),
        ({"baseline": 10.0, "mde": 0.1, "sd": -1.0}, "sd"),
    ],
)
def test_plans_that_cannot_be_made_say_why(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        plan_sample(**kwargs)


# ---- HTTP ------------------------------------------------------------------------------------------


def test_plan_endpoint_and_page(pclients: Clients) -> None:
    viewer = pclients.as_("viewer")
    r = viewer.post("/v1/experiments/plan", json={"baseline": 0.05, "mde": 0.1, "arms": 2, "units_per_day": 2000})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["units_per_variant"] == [31231, 31231] and math.ceil(out["days"]) == 32
    assert out["message"].endswith("at 2,000 units/day that is 32 days.")
    assert "需要 32 天" in out["message_zh"]
    bad = viewer.post("/v1/experiments/plan", json={"baseline": 1.5})
    assert bad.status_code == 422 and "baseline" in bad.text
    assert viewer.post("/v1/experiments/plan", json={"baseline": 0.05, "power": 2}).status_code == 422
    page = viewer.get("/experiments?lang=en&baseline=0.05&mde=0.1&arms=3&units_per_day=1000").text
    assert 'id="plan-result"' in page and "days" in page
    assert 'id="plan-error"' in viewer.get("/experiments?lang=en&baseline=2").text


def test_plan_is_computed_at_creation_and_fixed_once_started(pclients: Clients) -> None:
    editor = pclients.as_("editor")
    r = editor.post("/v1/experiments", json=body(baseline=0.05, mde=0.1, units_per_day=2000))
    assert r.status_code == 201, r.text
    assert r.json()["planned_units"] == 62_462 and r.json()["cuped"] is True
    # in a draft the plan follows its inputs
    r = editor.patch("/v1/experiments/rank-test", json={"sequential": True})
    assert r.status_code == 200 and r.json()["planned_units"] > 62_462
    r = editor.patch("/v1/experiments/rank-test", json={"sequential": False, "planned_units": 50_000})
    assert r.json()["planned_units"] == 50_000
    bad = editor.post(
        "/v1/experiments", json=body("rev", primary_metric="revenue_per_unit", baseline=20.0, secondary_metrics=["ctr"])
    )
    assert bad.status_code == 422 and "baseline_sd" in bad.text
    editor.post("/v1/experiments/rank-test/start")
    for change in (
        {"sequential": True},
        {"correction": "holm"},
        {"alpha": 0.1},
        {"primary_metric": "open_rate"},
        {"planned_units": 10},
        {"cuped": False},
    ):
        r = editor.patch("/v1/experiments/rank-test", json=change)
        assert r.status_code == 409, change
        assert "analysis plan" in r.json()["error"]["message"] and "what if" in r.json()["error"]["message"]
    assert editor.patch("/v1/experiments/rank-test", json={"hypothesis": "still editable"}).status_code == 200


def test_what_if_view_is_exploratory_and_labelled(pclients: Clients) -> None:
    editor = pclients.as_("editor")
    editor.post("/v1/experiments", json=body())
    assert editor.get("/v1/experiments/rank-test/report").json()["exploratory"] is False
    what_if = editor.get("/v1/experiments/rank-test/report?sequential=true").json()
    assert what_if["exploratory"] is True and what_if["sequential"] is True
    assert what_if["experiment"]["sequential"] is False  # the plan itself did not change
    page = editor.get("/experiments/rank-test?lang=en&correction=holm").text
    assert 'id="exploratory"' in page and "Exploratory view" in page and "gives no decision" in page
    assert "探索性视图" in editor.get("/experiments/rank-test?lang=zh&sequential=true").text
    plain = editor.get("/experiments/rank-test?lang=en").text
    assert 'id="exploratory"' not in plain and "What if (exploratory, no decision)" in plain


def test_experiments_stored_before_the_plan_existed_stay_readable(phub: Hub) -> None:
    legacy = {k: v for k, v in body().items()}
    legacy.update(
        {
            "seed": "rank-test",
            "status": "stopped",
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "sequential": True,
            "alpha": 0.05,
            "correction": "bh",
        }
    )
    phub.store.put_doc("experiments", "rank-test", legacy)
    exp = service.get_experiment(phub, "rank-test")
    assert isinstance(exp, Experiment) and exp.cuped is False and exp.planned_units is None
    assert exp.method == "sequential"


@pytest.mark.parametrize(
    "payload",
    [
        {"baseline": 1e-308, "mde": 0.1, "sd": 1e308},
        {"baseline": 0.05, "mde": 1e-300},
        {"baseline": 0.05, "units_per_day": 1e-320},
        {"baseline": 0.05, "mde": 1e-9, "sequential": True},
        {"baseline": 0.05, "weights": [0.5, 0.6]},
        {"baseline": 0.05, "arms": 3, "weights": [0.5, 0.5]},
    ],
)
def test_extreme_plans_are_422_with_a_reason_never_500(pclients: Clients, payload: dict) -> None:
    r = pclients.as_("viewer").post("/v1/experiments/plan", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"]
    editor = pclients.as_("editor")
    create = {k: v for k, v in payload.items() if k in ("baseline", "mde", "units_per_day")}
    if create.get("baseline", 0) >= 1e-300 and "mde" in create:
        r = editor.post("/v1/experiments", json=body("extreme", **create))
        assert r.status_code == 422, r.text
