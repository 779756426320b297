"""What the demo adds so every page has something on first open: this week's plan, two finished A/B
experiments and two journeys with weeks of funnel data.

Nothing here is a stored result: the plan comes from the planner; the experiments run through
``experiments.simulator`` (users ask the real recommender for content, their simulated behaviour goes back
as events, the report is computed from those events) — one with a true lift large enough to be found, one
with a true lift too small to show in its sample; the journeys run through ``journeys.simulate`` (a
simulated bot fetches due sends and reports opens and clicks over five weeks).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from contenthub.experiments import service as experiments
from contenthub.experiments.simulator import SimConfig, run_simulation
from contenthub.hub import Hub
from contenthub.journeys import service as journeys
from contenthub.journeys.simulate import CohortConfig, run_cohort
from contenthub.publish import service as publish
from contenthub.publish.planner import week_start_of
from contenthub.timeutil import utcnow

EXPERIMENTS = (
    SimConfig(
        key="demo-content-ranking",
        users=1200,
        days=6,
        lift=0.5,
        treatment_strategy="content",
        channel="app_push",
        assets=16,
        seed=11,
    ),
    SimConfig(
        key="demo-popular-ranking",
        users=1200,
        days=6,
        lift=0.03,
        treatment_strategy="popular",
        channel="app_push",
        assets=16,
        seed=12,
    ),
)
"""A clear win (true click lift +50%) and an inconclusive one (+3%: far below what 1,200 users can detect)."""
JOURNEYS = ("new-contact-care", "first-order")
"""The cohort enters the first on being added on WeCom; its clicks enter non-paying users into the second."""


def plan_this_week(hub: Hub, now: datetime) -> str:
    today = now.astimezone(ZoneInfo(hub.settings.timezone)).date()
    if publish.find_plan(hub, week_start_of(today)) is not None:
        return f"plan of the week of {week_start_of(today)} already present"
    plan = publish.generate(hub, today, None, ["all"], "demo", now=now)
    return f"planned the week of {plan.week_start}: {len(plan.slots)} slots"


def finished_experiments(hub: Hub, now: datetime, configs: tuple[SimConfig, ...] = EXPERIMENTS) -> list[str]:
    out = []
    for cfg in configs:
        if hub.store.get_doc(experiments.COLLECTION, cfg.key) is not None:
            out.append(f"experiment {cfg.key} already present")
            continue
        result = run_simulation(hub, cfg, now=now)
        experiments.stop_experiment(hub, cfg.key, now=now)
        p = f"{result.p_value:.3g}" if result.p_value is not None else "—"
        out.append(
            f"experiment {cfg.key}: {sum(result.units.values())} users, click-through lift "
            f"{(result.estimated_lift or 0):+.1%} (p = {p}), stopped"
        )
    return out


def journeys_with_funnels(hub: Hub, *, users: int = 300, days: int = 35) -> list[str]:
    if all(j in journeys.heads(hub) for j in JOURNEYS):
        return ["journeys already present"]
    for template in JOURNEYS[1:]:
        if template not in journeys.heads(hub):
            journeys.install_template(hub, template, "demo", status="active")
    result = run_cohort(
        hub,
        CohortConfig(
            users=users, journey=JOURNEYS[0], days=days, arrival_days=days * 0.6, tick_hours=4, assets=24, seed=7
        ),
    )
    f = result["funnel"]
    return [
        f"journeys {', '.join(JOURNEYS)}: {f['entered']} users entered {JOURNEYS[0]} over {days} days, "
        f"{result['events_ingested']} events"
    ]


def load_showcase(hub: Hub) -> list[str]:
    now = utcnow()
    out = journeys_with_funnels(hub)
    out += finished_experiments(hub, now)
    out.append(plan_this_week(hub, now))
    return out
