"""The demo fills every page (issue 22, item 8): this week's plan, two finished experiments whose results come
from simulated events (one clear win, one inconclusive), two journeys with funnel data."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from contenthub import demo_showcase
from contenthub.experiments.report import build_report
from contenthub.journeys import funnel
from contenthub.library.demo_corpus import generate_assets
from contenthub.library.models import Asset
from contenthub.publish import service as publish
from contenthub.timeutil import to_iso, utcnow
from tests.helpers import put_assets_with_random_vectors
from tests.test_pages import login


def test_showcase_experiments_one_clear_win_one_inconclusive(clients) -> None:
    hub = clients.hub
    now = utcnow()
    lines = demo_showcase.finished_experiments(hub, now)
    assert len(lines) == 2
    win, flat = (build_report(hub, cfg.key, now=now) for cfg in demo_showcase.EXPERIMENTS)
    assert win.experiment.status == flat.experiment.status == "stopped"
    w, f = win.metric("ctr").rows[1], flat.metric("ctr").rows[1]
    assert w.significant and w.direction == "good" and w.rel_diff > 0.2, (w.rel_diff, w.p_value)
    assert not f.significant and f.p_value > 0.05, (f.rel_diff, f.p_value)
    assert demo_showcase.finished_experiments(hub, now)[0].endswith("already present")  # idempotent
    page = login(clients, "viewer").get("/experiments")
    assert "demo-content-ranking" in page.text and "demo-popular-ranking" in page.text


def test_showcase_journeys_and_plan(clients) -> None:
    hub = clients.hub
    demo_showcase.journeys_with_funnels(hub, users=60, days=14)
    first = funnel.build(hub, demo_showcase.JOURNEYS[0])
    assert first.entered == 60 and first.steps[0].sent > 0 and first.steps[1].entered > 0
    second = funnel.build(hub, demo_showcase.JOURNEYS[1])
    assert second.entered > 0, "clicks of non-paying users enter the first-order journey"
    now = utcnow()
    line = demo_showcase.plan_this_week(hub, now)
    assert line.startswith("planned the week of")
    assert publish.list_plans(hub)
    assert demo_showcase.plan_this_week(hub, now).endswith("already present")


def test_showcase_journeys_send_the_library_content_when_there_is_enough(clients) -> None:
    """On a library with enough approved content for the channel (the demo's), the cohort sends that content:
    no 旅程素材 placeholders are added to crowd editors' searches."""
    hub = clients.hub
    rng = np.random.default_rng(3)
    stamp = to_iso(utcnow() - timedelta(days=60))
    docs = []
    for i, a in enumerate(generate_assets(40, seed=5)):
        fields = {k: v for k, v in a.items() if k in Asset.model_fields}
        fields.update(id=f"lib-{i:03d}", status="approved", channels=["wecom_1v1"], created_at=stamp, updated_at=stamp)
        docs.append(Asset(**fields).model_dump())
    put_assets_with_random_vectors(hub, docs, 32, rng)
    demo_showcase.journeys_with_funnels(hub, users=40, days=14)
    assert hub.store.get_asset("sim-j-000") is None
    first = funnel.build(hub, demo_showcase.JOURNEYS[0])
    assert first.entered == 40 and first.steps[0].sent > 0
