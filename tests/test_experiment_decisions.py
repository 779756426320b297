"""Reports that tell the analyst what to do: one experiment per situation (a clear win, a guardrail
regression, a sample ratio mismatch, an underpowered test, a futile one), CUPED, and bad input that
must give a report saying what is missing -- never NaN, an exception or a misleading interval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from contenthub.config import Settings
from contenthub.experiments import service
from contenthub.experiments.models import ExperimentCreate
from contenthub.experiments.report import Report, build_report
from contenthub.hub import Hub, open_hub
from contenthub.recommend import events
from contenthub.timeutil import to_iso, utcnow
from tests.conftest import Clients
from tests.test_experiments_api import CHANNEL, body, put_assets

DAYS = 3


@pytest.fixture
def dhub(tmp_path: Path) -> Iterator[Hub]:
    h = open_hub(Settings(data_dir=tmp_path / "data", session_secret="test-secret"))
    put_assets(h, ["a1"])
    yield h
    h.close()


def world(hub: Hub, arms: list[dict[str, Any]], key: str = "rank-test", **exp: Any) -> Report:
    """Start an experiment, expose ``arms[i]["n"]`` users to variant i three days ago, and give the first
    ``clicks`` of them a click, the next ``unsubs`` an unsubscribe, ``pre`` of them a click in the pre-period
    and every user ``deliveries`` deliveries. Exact counts: the tests are deterministic."""
    data = ExperimentCreate.model_validate(body(key, secondary_metrics=exp.pop("secondary_metrics", []), **exp))
    service.create_experiment(hub, data)
    service.start_experiment(hub, key, now=utcnow() - timedelta(days=DAYS, hours=1))
    t0 = utcnow() - timedelta(days=DAYS)
    docs, batch = {}, []
    for i, arm in enumerate(arms):
        name = data.variants[i].name
        for u in range(arm["n"]):
            uid = f"{key}-{i}-{u}"
            docs[f"{key}|{uid}"] = {
                "experiment": key,
                "unit_id": uid,
                "unit": "user",
                "variant": name,
                "variant_index": i,
                "first_exposed_at": to_iso(t0),
            }
            at = t0 + timedelta(hours=1 + u % 48)
            if u < arm.get("clicks", 0):
                batch.append(
                    {
                        "id": f"{uid}-c",
                        "type": "click",
                        "user_id": uid,
                        "asset_id": "a1",
                        "channel": CHANNEL,
                        "ts": to_iso(at),
                    }
                )
            elif u < arm.get("clicks", 0) + arm.get("unsubs", 0):
                batch.append(
                    {"id": f"{uid}-u", "type": "unsubscribe", "user_id": uid, "channel": CHANNEL, "ts": to_iso(at)}
                )
            if arm.get("pre") is not None and (
                u < arm["pre"] if arm.get("pre_first", True) else u >= arm["n"] - arm["pre"]
            ):
                batch.append(
                    {
                        "id": f"{uid}-p",
                        "type": "click",
                        "user_id": uid,
                        "asset_id": "a1",
                        "channel": CHANNEL,
                        "ts": to_iso(t0 - timedelta(days=2)),
                    }
                )
            for d in range(arm.get("deliveries", 0)):
                batch.append(
                    {
                        "id": f"{uid}-d{d}",
                        "type": "delivered",
                        "user_id": uid,
                        "asset_id": "a1",
                        "channel": CHANNEL,
                        "ts": to_iso(at),
                    }
                )
    hub.store.put_docs_atomic("exposures", docs)
    for start in range(0, len(batch), 5000):
        assert events.ingest(hub, batch[start : start + 5000]).rejected == []
    report = build_report(hub, key)
    json.dumps(report.model_dump(mode="json"), allow_nan=False)  # never NaN or infinity
    return report


def line(name: str, rep: Report) -> str:
    """The one line per situation that the closing note quotes."""
    d = rep.decision
    assert d is not None
    return f"{name}: {d.verdict}{' ' + d.variant if d.variant else ''} -- {d.rule}"


# ---- the four situations of the issue, plus futility ------------------------------------------------


def test_clear_win_ships(dhub: Hub) -> None:
    rep = world(
        dhub, [{"n": 1500, "clicks": 150, "unsubs": 30}, {"n": 1500, "clicks": 225, "unsubs": 30}], planned_units=3000
    )
    d = rep.decision
    assert d is not None and d.verdict == "ship" and d.variant == "B", d
    assert d.rule.startswith("Ship B: the primary metric is significantly better (+50% [")
    assert "the planned sample is reached" in d.rule and d.rule_zh.startswith("上线 B：主要指标显著更好")
    assert all(c.passed for c in d.checks) and {c.code for c in d.checks} >= {"srm", "plan", "primary", "guardrails"}
    assert d.chance_to_beat_control > 0.999 and d.expected_loss < 1e-4
    print(line("clear win", rep))


def test_guardrail_regression_rolls_back(dhub: Hub) -> None:
    rep = world(
        dhub, [{"n": 1500, "clicks": 150, "unsubs": 30}, {"n": 1500, "clicks": 165, "unsubs": 90}], planned_units=30_000
    )
    d = rep.decision
    assert d is not None and d.verdict == "roll_back" and d.variant == "B", d
    assert "mute/unsubscribe rate +200%" in d.rule and "回滚 B" in d.rule_zh
    assert any(c.code == "guardrails" and not c.passed for c in d.checks)
    print(line("guardrail regression", rep))


def test_sample_ratio_mismatch_says_fix_the_setup(dhub: Hub) -> None:
    rep = world(dhub, [{"n": 1000, "clicks": 100}, {"n": 800, "clicks": 140}], planned_units=1800)
    d = rep.decision
    assert d is not None and d.verdict == "fix_setup" and d.variant is None
    assert "SRM p < 0.0001" in d.rule and "先修复实验配置" in d.rule_zh
    print(line("SRM", rep))


def test_underpowered_test_keeps_running_and_says_how_long(dhub: Hub) -> None:
    """600 users of a test planned for 62,462 (5% baseline, 10% MDE): whatever the numbers say, keep running."""
    rep = world(dhub, [{"n": 300, "clicks": 15}, {"n": 300, "clicks": 27}], baseline=0.05, mde=0.1)
    assert rep.experiment.planned_units == 62_462
    d = rep.decision
    assert d is not None and d.verdict == "keep_running", d
    assert "more days at today's traffic" in d.rule
    assert rep.plan is not None and rep.plan.days_left == pytest.approx((62_462 - 600) / (600 / DAYS), rel=0.01)
    assert "At today's traffic (200 units/day), 310 more days." in rep.plan.message
    assert "还需 310 天" in rep.plan.message_zh
    print(line("underpowered", rep))


def test_significant_before_the_planned_sample_is_not_shipped_by_a_fixed_horizon_test(dhub: Hub) -> None:
    rep = world(dhub, [{"n": 1500, "clicks": 150}, {"n": 1500, "clicks": 225}], planned_units=10_000)
    d = rep.decision
    assert d is not None and d.verdict == "keep_running"
    assert "fixed-horizon test is valid only at its planned sample" in d.rule
    seq = world(
        dhub, [{"n": 1500, "clicks": 150}, {"n": 1500, "clicks": 225}], key="seq", sequential=True, planned_units=10_000
    )
    assert seq.decision is not None and seq.decision.verdict == "ship"  # sequential: valid on any day


def test_futile_test_stops(dhub: Hub) -> None:
    rep = world(dhub, [{"n": 1500, "clicks": 150}, {"n": 1500, "clicks": 152}], planned_units=3000)
    d = rep.decision
    assert d is not None and d.verdict == "stop_futility", d
    assert d.rule.startswith("Stop for futility and keep control: the planned sample is reached")
    print(line("futile", rep))


def test_exploratory_view_gives_no_decision(dhub: Hub) -> None:
    world(dhub, [{"n": 200, "clicks": 20}, {"n": 200, "clicks": 30}])
    rep = build_report(dhub, "rank-test", sequential=True)
    assert rep.exploratory and rep.decision is None and "exploratory" in (rep.decision_note or "")


# ---- CUPED -------------------------------------------------------------------------------------------


def test_cuped_narrows_the_interval_and_shows_the_reduction(dhub: Hub) -> None:
    """Users who clicked before the experiment click again: the pre-period explains much of the variance."""
    arms = [{"n": 1000, "clicks": 150, "pre": 180}, {"n": 1000, "clicks": 200, "pre": 200}]
    with_cuped = world(dhub, arms)
    without = world(dhub, arms, key="raw", cuped=False)
    ctr, raw = with_cuped.metric("ctr"), without.metric("ctr")
    assert ctr.cuped and ctr.variance_reduction is not None and ctr.variance_reduction > 0.3
    assert not raw.cuped and raw.variance_reduction is None
    assert ctr.rows[1].value == raw.rows[1].value  # what people see is the observed rate
    width = ctr.rows[1].abs_ci_high - ctr.rows[1].abs_ci_low
    assert width < 0.85 * (raw.rows[1].abs_ci_high - raw.rows[1].abs_ci_low)
    # no pre-period data at all: nothing to adjust with, and the report says plainly it did not
    bare = world(dhub, [{"n": 300, "clicks": 30}, {"n": 300, "clicks": 40}], key="bare")
    assert not bare.metric("ctr").cuped


def test_cuped_page_and_decision_card(dhub: Hub) -> None:
    world(dhub, [{"n": 1000, "clicks": 150, "pre": 180}, {"n": 1000, "clicks": 220, "pre": 200}], planned_units=2000)
    page = Clients(dhub).as_("viewer").get("/experiments/rank-test?lang=en").text
    assert 'id="decision"' in page and 'id="verdict">Ship B' in page and "variance reduced by" in page
    assert "Chance to beat control" in page
    zh = Clients(dhub).as_("viewer").get("/experiments/rank-test?lang=zh").text
    assert "上线 B" in zh and "方差降低" in zh


# ---- bad input --------------------------------------------------------------------------------------


def test_zero_units_in_an_arm(dhub: Hub) -> None:
    rep = world(dhub, [{"n": 300, "clicks": 30}, {"n": 0}])
    note = rep.metric("ctr").rows[1].note
    assert note is not None and note.startswith("B: no units yet")
    assert rep.metric("ctr").rows[1].rel_ci_low is None and rep.metric("ctr").rows[1].p_value is None
    assert rep.decision is not None and rep.decision.verdict == "fix_setup"  # 300 vs 0 on 50/50 is an SRM
    page = Clients(dhub).as_("viewer").get("/experiments/rank-test?lang=en").text
    assert "no units yet" in page and "nan" not in page.lower().replace("nanoid", "")


def test_zero_variance_metric(dhub: Hub) -> None:
    rep = world(dhub, [{"n": 300}, {"n": 300}])  # nobody clicked in either arm
    row = rep.metric("ctr").rows[1]
    assert row.note is not None and "zero variance in both arms" in row.note
    assert row.abs_ci_low is None and row.significant is None
    assert rep.decision is not None and rep.decision.verdict == "keep_running"
    assert "cannot be compared yet (zero variance" in rep.decision.rule
    assert "B: not enough data for click-through yet" in rep.summary["en"][-1]


def test_ratio_metric_with_a_zero_denominator_in_an_arm(dhub: Hub) -> None:
    rep = world(
        dhub,
        [{"n": 300, "clicks": 30, "deliveries": 2}, {"n": 300, "clicks": 30}],
        secondary_metrics=["clicks_per_delivery"],
    )
    row = rep.metric("clicks_per_delivery").rows[1]
    assert row.value is None and row.note is not None and "denominator sums to 0" in row.note
    assert row.rel_ci_low is None and row.abs_ci_low is None
    page = Clients(dhub).as_("viewer").get("/experiments/rank-test?lang=en").text
    assert "denominator sums to 0" in page


# ---- journeys and cadence rules show their own metrics ----------------------------------------------


def test_journey_experiment_shows_completion_and_step_funnels(dhub: Hub) -> None:
    from contenthub.journeys import service as journeys
    from contenthub.journeys.engine import STATES, state_key

    journeys.install_template(dhub, "new-contact-care", "t", journey_id="welcome")
    journeys.install_template(dhub, "first-order", "t", journey_id="welcome-short")
    key = "jexp"
    data = ExperimentCreate.model_validate(
        body(
            key,
            change="journey",
            secondary_metrics=[],
            variants=[
                {"name": "control", "weight": 0.5},
                {"name": "short", "weight": 0.5, "journeys": {"welcome": "welcome-short"}},
            ],
        )
    )
    service.create_experiment(dhub, data)
    service.start_experiment(dhub, key)
    t0 = utcnow() - timedelta(days=2)
    exposures, states = {}, {}
    long_steps = ["welcome", "care", "group_invite", "return_visit", "interest_push"]
    for i, (name, jid) in enumerate((("control", "welcome"), ("short", "welcome-short"))):
        for u in range(200):
            uid = f"j{i}-{u}"
            exposures[f"{key}|{uid}"] = {
                "experiment": key,
                "unit_id": uid,
                "unit": "user",
                "variant": name,
                "variant_index": i,
                "first_exposed_at": to_iso(t0),
            }
            done = u < (40 if i == 0 else 90)
            step = long_steps[u % 3] if jid == "welcome" else ["coupon", "reminder"][u % 2]
            states[state_key(jid, uid)] = {
                "key": state_key(jid, uid),
                "journey": jid,
                "user_id": uid,
                "version": 1,
                "run": 1,
                "status": "done" if done else "active",
                "step": step,
                "variant": f"{key}:{name}",
                "history": [
                    {"step": step, "at": to_iso(t0 + timedelta(hours=5)), "outcome": "done" if done else "passed"}
                ],
                "updated_at": to_iso(t0 + timedelta(hours=5)),
            }
    dhub.store.put_docs_atomic("exposures", exposures)
    dhub.store.put_docs_atomic(STATES, states)
    rep = build_report(dhub, key)
    completion = rep.metric("journey_completion")
    assert completion.role == "diagnostic"
    assert completion.rows[0].value == pytest.approx(0.2) and completion.rows[1].value == pytest.approx(0.45)
    assert completion.rows[1].significant and completion.rows[1].direction == "good"
    assert {m.metric for m in rep.metrics if m.role == "diagnostic"} == {
        "journey_completion",
        "sends_per_unit",
        "mute_rate",
    }
    control, short = rep.journey_funnels
    assert control.journey == "welcome" and short.journey == "welcome-short"
    assert [s.step for s in control.steps] == long_steps and [s.step for s in short.steps] == ["coupon", "reminder"]
    assert control.steps[0].reached == 200 and control.steps[-1].reached == 40  # only finishers reach the end
    assert short.completed == 90 and short.steps[1].share == pytest.approx((90 + 55) / 200)
    page = Clients(dhub).as_("viewer").get(f"/experiments/{key}?lang=en").text
    assert 'id="journey-funnels"' in page and "journey completion" in page and "diagnostic" in page
    assert "旅程完成率" in Clients(dhub).as_("viewer").get(f"/experiments/{key}?lang=zh").text


def test_cadence_experiment_shows_sends_and_mutes_per_group(dhub: Hub) -> None:
    rule = {"channel": "wecom_group", "max_per_week": 2, "mix": {"educational": [1, 2]}}
    key = "cexp"
    data = ExperimentCreate.model_validate(
        body(
            key,
            unit="group",
            change="cadence",
            secondary_metrics=[],
            variants=[{"name": "control", "weight": 0.5}, {"name": "calm", "weight": 0.5, "rules": [rule]}],
        )
    )
    service.create_experiment(dhub, data)
    service.start_experiment(dhub, key)
    t0 = utcnow() - timedelta(days=2)
    exposures, batch = {}, []
    for i, (name, sends, mutes) in enumerate((("control", 6, 30), ("calm", 2, 8))):
        for g in range(150):
            gid = f"g{i}-{g}"
            exposures[f"{key}|{gid}"] = {
                "experiment": key,
                "unit_id": gid,
                "unit": "group",
                "variant": name,
                "variant_index": i,
                "first_exposed_at": to_iso(t0),
            }
            for d in range(sends):
                batch.append(
                    {
                        "id": f"{gid}-d{d}",
                        "type": "delivered",
                        "group_id": gid,
                        "asset_id": "a1",
                        "channel": CHANNEL,
                        "ts": to_iso(t0 + timedelta(hours=1 + d)),
                    }
                )
            if g < mutes:
                batch.append(
                    {
                        "id": f"{gid}-m",
                        "type": "mute",
                        "group_id": gid,
                        "user_id": f"member-{gid}",
                        "channel": CHANNEL,
                        "ts": to_iso(t0 + timedelta(hours=9)),
                    }
                )
    dhub.store.put_docs_atomic("exposures", exposures)
    assert events.ingest(dhub, batch).rejected == []
    rep = build_report(dhub, key)
    sends, mute = rep.metric("sends_per_unit"), rep.metric("mute_rate")
    assert sends.role == mute.role == "diagnostic"
    assert sends.rows[0].value == 6 and sends.rows[1].value == 2
    assert sends.rows[1].note is not None and "zero variance" in sends.rows[1].note  # every group got exactly 2
    assert mute.rows[0].value == pytest.approx(0.2) and mute.rows[1].direction == "good"
    per_send = rep.metric("mutes_per_delivery")
    assert per_send.rows[0].value == pytest.approx(30 / 900) and per_send.rows[1].value == pytest.approx(8 / 300)
    # diagnostics stay out of the correction family and the decision
    assert rep.decision is not None and all("mute" not in c.message for c in rep.decision.checks)
