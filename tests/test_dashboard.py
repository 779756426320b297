"""Operations dashboard: numbers checked against the raw events, empty and bad input, CSV = JSON, pages."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contenthub.audience import lifecycle, segments, users
from contenthub.audience.engagement import ENGAGED
from contenthub.audience.models import UserIn
from contenthub.dashboard import fatigue, ltv, retention, rollup, service, weeks
from contenthub.hub import Hub
from contenthub.publish import service as publish_service
from contenthub.recommend import events
from contenthub.store.query import EventQuery
from contenthub.timeutil import from_iso, to_iso, utcnow
from tests.helpers import asset

N_USERS = 90
WEEKS = 14


def _assets(hub: Hub) -> None:
    now = to_iso(utcnow())
    hub.store.put_assets(
        [
            {
                **asset(
                    f"素材 {i}",
                    channels=["wecom_1v1", "mp_subscription"],
                    scenes=["education" if i % 2 else "repurchase"],
                    content_type="educational" if i % 3 else "promotional",
                ),
                "id": f"a{i}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(12)
        ]
    )


def _simulate(hub: Hub, seed: int = 5) -> None:
    """Users arriving over 14 weeks; sends per week vary by user; mutes rise with sends; purchases."""
    rng = random.Random(seed)
    now = utcnow()
    batch: list[dict] = []
    seq = 0
    for u in range(N_USERS):
        uid = f"u{u:03d}"
        users.upsert_user(hub, UserIn(id=uid, source_channel=rng.choice(["wecom_1v1", "douyin"])))
        start = rng.randint(1, WEEKS * 7 - 3)
        per_week = rng.choice([1, 2, 4, 6])
        life = rng.randint(7, 80)
        buyer = rng.random() < 0.6
        for day in range(start, 0, -1):
            if rng.random() > per_week / 7:
                continue
            at = now - timedelta(days=day, hours=rng.random())
            seq += 1
            base = {"user_id": uid, "asset_id": f"a{rng.randrange(12)}", "channel": "wecom_1v1"}
            batch.append({**base, "id": f"e{seq}d", "type": "delivered", "ts": to_iso(at)})
            if start - day < life and rng.random() < 0.6:
                batch.append({**base, "id": f"e{seq}o", "type": "open", "ts": to_iso(at + timedelta(minutes=5))})
                if buyer and rng.random() < 0.3:
                    batch.append(
                        {
                            **base,
                            "id": f"e{seq}v",
                            "type": "convert",
                            "value": rng.choice([50, 120, 300]),
                            "ts": to_iso(at + timedelta(minutes=20)),
                        }
                    )
            elif rng.random() < 0.02 * per_week:
                batch.append({**base, "id": f"e{seq}m", "type": "mute", "ts": to_iso(at + timedelta(hours=1))})
    for i in range(0, len(batch), 2000):
        result = events.ingest(hub, batch[i : i + 2000])
        assert not result.rejected


@pytest.fixture
def world(hub: Hub) -> Hub:
    _assets(hub)
    _simulate(hub)
    rollup.refresh(hub)
    return hub


def _all_events(hub: Hub) -> list[dict]:
    return hub.store.query_events(EventQuery(limit=1_000_000, newest_first=False))


SHANGHAI = ZoneInfo("Asia/Shanghai")


def _week(ts: str) -> int:
    """The week of a stamp in the hub's default zone (Asia/Shanghai), computed independently of the rollup."""
    return weeks.week_of_day(from_iso(ts).astimezone(SHANGHAI).date())


def _now_week() -> int:
    return weeks.week_of_day(utcnow().astimezone(SHANGHAI).date())


def test_retention_triangle_matches_the_events(world: Hub) -> None:
    first: dict[str, int] = {}
    active: defaultdict[str, set[int]] = defaultdict(set)
    for e in _all_events(world):
        w = _week(e["ts"])
        first[e["user_id"]] = min(first.get(e["user_id"], w), w)
        if e["type"] in ENGAGED:
            active[e["user_id"]].add(w)
    view = service.retention_view(world, "week", 12)
    assert view.missing is None and view.cohorts
    now_week = _now_week()
    for cohort in view.cohorts:
        w0 = weeks.week_of_day(date.fromisoformat(cohort.key))
        members = [u for u, w in first.items() if w == w0]
        assert cohort.size == len(members)
        for k, share in enumerate(cohort.shares):
            if w0 + k > now_week:
                assert share is None
            else:
                expected = sum(1 for u in members if w0 + k in active[u]) / len(members)
                assert share == pytest.approx(expected, abs=1e-4)


def test_retention_by_source_covers_every_user(world: Hub) -> None:
    view = service.retention_view(world, "source", 12)
    assert {c.key for c in view.cohorts} <= {"wecom_1v1", "douyin"}
    assert sum(c.size for c in view.cohorts) == len(rollup.get(world).user_ids)
    assert all(c.eligible[0] == c.size for c in view.cohorts)


def test_lifecycle_flows_use_the_lifecycle_rule(world: Hub) -> None:
    flows = service.lifecycle_view(world, 12)
    assert len(flows.weeks) == 12
    seen_by_week = []
    r = rollup.get(world)
    for w in flows.weeks:
        week = weeks.week_of_day(date.fromisoformat(w.week))
        seen_by_week.append(int((r.first_week <= week).sum()))
        assert sum(w.counts.values()) == seen_by_week[-1]
    # a stricter rule moves users from active to silent
    before = flows.weeks[-1].counts["silent"]
    lifecycle.put_rules(world, lifecycle.LifecycleRules(silent_days=7, active_days=7))
    after = service.lifecycle_view(world, 12).weeks[-1].counts["silent"]
    assert after > before


def test_stage_of_is_the_rule_classify_applies() -> None:
    rules = lifecycle.LifecycleRules()
    now = utcnow()
    evs = [{"type": "open", "ts": to_iso(now - timedelta(days=40))}]
    got = lifecycle.classify(rules, to_iso(now - timedelta(days=60)), evs, now)
    assert (
        got["stage"]
        == lifecycle.stage_of(rules, days_since=40, age_days=60, unsubscribed=False, engaged_days=1, has_orders=False)
        == "silent"
    )


def test_channel_health_matches_event_counts(world: Hub) -> None:
    view = service.channels_view(world, 12)
    rows = {(r.channel, r.week): r for r in view.rows}
    counts: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    revenue: defaultdict[tuple[str, str], float] = defaultdict(float)
    for e in _all_events(world):
        monday = str(weeks.week_start(_week(e["ts"])))
        counts[e["channel"], monday, e["type"]] += 1
        revenue[e["channel"], monday] += e.get("value") or 0.0
    for (channel, week), row in rows.items():
        assert row.deliveries == counts[channel, week, "delivered"]
        assert row.opens == counts[channel, week, "open"]
        assert row.mutes == counts[channel, week, "mute"]
        assert row.revenue == pytest.approx(revenue[channel, week], abs=0.01)
        if row.deliveries:
            assert row.open_rate == pytest.approx(row.opens / row.deliveries, abs=1e-4)
        else:
            assert row.open_rate is None
    assert "mp_subscription" in view.missing  # no sends there: said so, not charted
    caps = {c.channel: c for c in view.caps}
    assert caps["mp_subscription"].per_day == 1 and caps["mp_service"].per_month == 4


def test_fatigue_bins_match_the_events(world: Hub) -> None:
    per: defaultdict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    now_week = _now_week()
    for e in _all_events(world):
        w = _week(e["ts"])
        if w == now_week:
            continue
        slot = {"delivered": 0, "open": 1, "mute": 2}.get(e["type"])
        if slot is not None:
            per[e["user_id"], w][slot] += 1
    view = service.fatigue_view(world, "wecom_1v1")
    for b in view.bins:
        n = int(b.sends_per_week.rstrip("+"))
        cells = [c for c in per.values() if c[0] and (min(c[0], fatigue.TOP_BIN) == n)]
        assert b.user_weeks == len(cells)
        assert b.sends == sum(c[0] for c in cells)
        assert b.mute_rate == pytest.approx(sum(1 for c in cells if c[2]) / len(cells), abs=1e-4)
        assert b.mute_low <= b.mute_rate <= b.mute_high
        assert b.open_low <= b.open_rate <= b.open_high


def test_ltv_model_fits_and_checks_itself_on_held_out_weeks(world: Hub) -> None:
    m = service.ltv_model_view(world)
    assert m.missing is None, m.missing
    assert m.holdout_weeks == len(m.holdout) == ltv.HOLDOUT_WEEKS
    assert m.orders_error is not None and m.revenue_error is not None
    observed = sum(h.observed_orders for h in m.holdout)
    assert m.orders_error == pytest.approx((sum(h.predicted_orders for h in m.holdout) - observed) / observed, abs=1e-3)
    assert sum(m.tiers.values()) == m.users


def test_predicted_value_reaches_users_and_segments(world: Hub) -> None:
    result = service.refresh(world)
    assert result["attributes_written"] > 0
    doc = users.find_user(world, "u001")
    assert doc is not None
    value = service.user_value(world, "u001")
    assert doc["attributes"]["predicted_tier"] == value.predicted_tier
    assert doc["attributes"]["predicted_value"] == pytest.approx(value.predicted_value, rel=0.05, abs=1.0)


def test_predicted_tier_selects_a_segment_the_recommender_serves(world: Hub, clients) -> None:  # type: ignore[no-untyped-def]
    """Predicted value tier → user attribute → segment (attr.predicted_tier) → next content for that segment."""
    service.refresh(world)
    tier = service.user_value(world, "u001").predicted_tier
    segment = {"name": f"predicted {tier}", "all": [{"field": "attr.predicted_tier", "op": "eq", "value": tier}]}
    assert clients.as_("editor").put("/v1/segments/by-value", json=segment).status_code == 200
    members = set(segments.members(world, segments.get_segment(world, "by-value")))
    expected = {d["id"] for d in users.iter_users(world) if (d.get("attributes") or {}).get("predicted_tier") == tier}
    assert "u001" in members and members == expected
    lines = clients.as_("bot").get("/v1/recommendations/segments/by-value?channel=wecom_1v1&n=1").text.splitlines()
    served = [json.loads(line) for line in lines]
    assert {r["target"] for r in served} == members and any(r["picks"] for r in served)


def test_observed_ltv_sums_revenue(world: Hub) -> None:
    view = service.ltv_observed_view(world, "source", 12)
    r = rollup.get(world)
    total = float(r.revenue.sum())
    assert total > 0 and view.missing is None
    for c in view.curves:
        values = [v for v in c.cumulative if v is not None]
        assert values == sorted(values)  # cumulative never falls


def test_empty_hub_says_what_is_missing(clients) -> None:  # type: ignore[no-untyped-def]
    c = clients.as_("viewer")
    for path in (
        "retention",
        "retention?by=tier",
        "lifecycle",
        "ltv",
        "ltv/model",
        "fatigue?channel=wecom_1v1",
        "assets",
    ):
        body = c.get(f"/v1/dashboard/{path}")
        assert body.status_code == 200, body.text
        assert body.json()["missing"], path
    health = c.get("/v1/dashboard/channels").json()
    assert health["rows"] == [] and health["missing"]["wecom_1v1"]
    for page in ("retention", "channels", "fatigue", "ltv"):
        html = c.get(f"/dashboard/{page}")
        assert html.status_code == 200
        assert "chart-missing" in html.text and "NaN" not in html.text and 'class="chart"' not in html.text


def test_bad_input_gets_an_actionable_4xx(clients) -> None:  # type: ignore[no-untyped-def]
    c = clients.as_("viewer")
    r = c.get("/v1/dashboard/fatigue?channel=telegram")
    assert r.status_code == 422 and "wecom_1v1" in r.json()["error"]["message"]
    assert c.get("/v1/dashboard/retention?by=planet").status_code == 422
    assert c.get("/v1/dashboard/retention?weeks=0").status_code == 422
    assert c.get("/v1/dashboard/channels?weeks=500").status_code == 422
    assert c.get("/v1/dashboard/users/nobody/value").status_code == 404
    assert clients.as_("bot").get("/v1/dashboard/retention").status_code == 403
    assert clients.as_("viewer").post("/v1/dashboard/refresh").status_code == 403
    assert clients.anon.get("/v1/dashboard/retention").status_code == 401


def test_csv_holds_the_json_numbers(world: Hub, clients) -> None:  # type: ignore[no-untyped-def]
    c = clients.as_("viewer")
    data = c.get("/v1/dashboard/fatigue?channel=wecom_1v1").json()
    rows = list(csv.DictReader(io.StringIO(c.get("/v1/dashboard/fatigue?channel=wecom_1v1&format=csv").text)))
    assert [r["sends_per_week"] for r in rows] == [b["sends_per_week"] for b in data["bins"]]
    assert [float(r["mute_rate"]) for r in rows] == [b["mute_rate"] for b in data["bins"]]
    tri = c.get("/v1/dashboard/retention").json()
    tri_csv = list(csv.reader(io.StringIO(c.get("/v1/dashboard/retention?format=csv").text)))
    assert [row[0] for row in tri_csv[1:]] == [x["key"] for x in tri["cohorts"]]


def test_pages_carry_chart_specs_and_plotly_is_served_locally(world: Hub, clients) -> None:  # type: ignore[no-untyped-def]
    c = clients.as_("viewer")
    for page in ("retention?by=source&lang=en", "channels", "fatigue?channel=wecom_1v1", "ltv"):
        html = c.get(f"/dashboard/{page}").text
        assert 'data-figure="' in html and "NaN" not in html
        assert '<script src="/static/vendor/plotly.min.js"' in html and "<script>" not in html
    js = c.get("/static/vendor/plotly.min.js")
    assert js.status_code == 200 and "plotly" in js.text[:2000].lower()
    assert c.get("/static/vendor/package.json").status_code == 404  # only plotly.min.js is served from there
    assert c.get("/static/app.css").status_code == 200
    assert "Retention curves" in c.get("/dashboard/retention?lang=en").text
    assert "留存曲线" in c.get("/dashboard/retention?lang=zh").text


def test_calendar_links_to_fatigue_when_a_rule_allows_more_sends_than_pay(world: Hub, clients) -> None:  # type: ignore[no-untyped-def]
    rise = fatigue.fatigue(rollup.get(world), "wecom_1v1").mutes_rise_at
    assert rise is not None, "the simulation makes mutes rise with sends"
    c = clients.as_("editor")
    publish_service.put_rule(world, "wecom_1v1", "all", {"channel": "wecom_1v1", "max_per_week": rise - 1})
    assert "/dashboard/fatigue?channel=wecom_1v1" not in c.get("/calendar").text
    publish_service.put_rule(world, "wecom_1v1", "all", {"channel": "wecom_1v1", "max_per_week": rise + 1})
    assert "/dashboard/fatigue?channel=wecom_1v1" in c.get("/calendar").text


def test_resent_events_change_no_number(world: Hub) -> None:
    """Re-sending stored events changes no view: ingestion stores an id once, and the rollup reads what is stored."""
    views = (
        lambda: service.retention_view(world, "week", 12),
        lambda: service.channels_view(world, 12),
        lambda: service.fatigue_view(world, "wecom_1v1"),
        lambda: service.ltv_observed_view(world, "week", 12),
    )
    before = [v().model_dump() for v in views]
    evs = [e for e in _all_events(world) if e["user_id"] in ("u001", "u002", "u003")]
    result = events.ingest(
        world, [{k: e[k] for k in ("id", "type", "user_id", "asset_id", "channel", "ts", "value")} for e in evs]
    )
    assert result.accepted == 0 and result.duplicates == len(evs) > 0
    rollup.refresh(world)
    assert [v().model_dump() for v in views] == before


def _local(day: date, hour: int, minute: int, tz: str) -> str:
    return to_iso(datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC))


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York", "UTC"])
def test_weeks_follow_the_hubs_time_zone(hub: Hub, tz: str) -> None:
    """Events minutes either side of local midnight between Sunday and Monday land in the local weeks, for
    cohorts, channel weeks and fatigue bins alike (Shanghai's Monday 07:30 is Sunday 23:30 UTC; New York's
    Sunday 23:30 is Monday 03:30 or 04:30 UTC)."""
    hub.settings.timezone = tz
    _assets(hub)
    zone = ZoneInfo(tz)
    this_week = weeks.week_of_day(utcnow().astimezone(zone).date())
    monday = weeks.week_start(this_week - 2)  # a Monday two complete weeks back
    sunday = monday - timedelta(days=1)
    base = {"asset_id": "a1", "channel": "wecom_1v1"}
    evs = [  # late: one delivery late on Sunday, one early on Monday; early: both early on Monday
        {**base, "id": "late-d1", "type": "delivered", "user_id": "late", "ts": _local(sunday, 23, 50, tz)},
        {**base, "id": "late-d2", "type": "delivered", "user_id": "late", "ts": _local(monday, 0, 10, tz)},
        {**base, "id": "late-o2", "type": "open", "user_id": "late", "ts": _local(monday, 0, 20, tz)},
        {**base, "id": "early-d1", "type": "delivered", "user_id": "early", "ts": _local(monday, 0, 5, tz)},
        {**base, "id": "early-d2", "type": "delivered", "user_id": "early", "ts": _local(monday, 7, 30, tz)},
    ]
    assert not events.ingest(hub, evs).rejected
    r = rollup.refresh(hub)
    assert r.now_week == this_week
    first = dict(zip(r.user_ids, r.first_week.tolist(), strict=True))
    assert first == {"late": this_week - 3, "early": this_week - 2}
    cohorts = {c.key: c for c in service.retention_view(hub, "week", 12).cohorts}
    assert cohorts[str(sunday - timedelta(days=6))].size == 1 and cohorts[str(monday)].size == 1
    assert cohorts[str(monday)].shares[0] == 0.0  # "early" only received deliveries
    assert cohorts[str(sunday - timedelta(days=6))].shares[:2] == [0.0, 1.0]  # "late" opened in its week 1
    rows = {row.week: row for row in service.channels_view(hub, 12, "wecom_1v1").rows}
    assert rows[str(monday)].deliveries == 3 and rows[str(monday)].opens == 1
    assert rows[str(sunday - timedelta(days=6))].deliveries == 1
    bins = {b.sends_per_week: b.user_weeks for b in service.fatigue_view(hub, "wecom_1v1").bins}
    assert bins == {"1": 2, "2": 1}  # late: 1 send in each of two weeks; early: 2 sends in one week


def test_flows_count_arrivals_and_win_backs(world: Hub) -> None:
    flows = retention.flows(world, rollup.get(world), 12)
    arrivals = sum(w.flows.get("(first seen)>new", 0) for w in flows.weeks[1:])
    assert arrivals > 0
    assert all(v >= 0 for w in flows.weeks for v in w.counts.values())


def test_retention_metrics_for_experiments(hub: Hub) -> None:
    """retention_d7 counts units engaging 7–13 days after their first exposure, checked against the events."""
    from contenthub.experiments import metrics, report
    from contenthub.experiments import service as exp_service
    from contenthub.experiments.simulator import SimConfig, run_simulation

    sim = run_simulation(
        hub,
        SimConfig(
            key="ret",
            users=60,
            days=12,
            sends=9,
            p_open=0.5,
            seed=2,
            secondary_metrics=("retention_d7", "retention_d30"),
        ),
    )
    exp = exp_service.get_experiment(hub, "ret")
    units = metrics.analysis_units(hub, exp, exp_service.iter_exposures(hub, "ret"))
    table = metrics.build_table(hub, exp, units, utcnow())
    stats = metrics.variant_stats(table, metrics.METRICS["retention_d7"], len(exp.variants))
    retained: set[str] = set()
    for e in _all_events(hub):
        first = units.units.get(e["user_id"] or "")
        if first and e["type"] in ("open", "click", "convert"):
            days = (from_iso(e["ts"]) - from_iso(first[1])).total_seconds() / 86400
            if 7 <= days < 14:
                retained.add(e["user_id"])
    assert sum(s.n for s in stats) == len(units.units) == sim.units["control"] + sim.units["treatment"]
    assert round(sum(s.sum for s in stats)) == len(retained) > 0
    rep = report.build_report(hub, "ret")
    assert rep.metric("retention_d7").rows and rep.metric("retention_d30").rows


def test_a_hub_without_purchases_says_so(hub: Hub, clients) -> None:  # type: ignore[no-untyped-def]
    """Weeks of opens but no convert event: cohorts and fatigue show, revenue charts say what is missing."""
    _assets(hub)
    now = utcnow()
    evs = [
        {
            "id": f"n{u}-{d}-{t}",
            "type": t,
            "user_id": f"nb{u}",
            "asset_id": "a1",
            "channel": "wecom_1v1",
            "ts": to_iso(now - timedelta(days=d, minutes=5 if t == "open" else 0)),
        }
        for u in range(30)
        for d in range(1, 70, 3)
        for t in ("delivered", "open")
    ]
    assert not events.ingest(hub, evs).rejected
    rollup.refresh(hub)
    c = clients.as_("viewer")
    model = c.get("/v1/dashboard/ltv/model").json()
    assert "Too few purchases" in model["missing"] and model["users"] == 30
    assert "No conversions with a value" in c.get("/v1/dashboard/ltv").json()["missing"]
    assert c.get("/v1/dashboard/retention").json()["missing"] is None
    page = c.get("/dashboard/ltv").text
    assert "Too few purchases" in page and 'data-chart-missing="ltv-holdout"' in page and "NaN" not in page
    tiers = c.get("/v1/dashboard/retention?by=tier").json()
    assert [x["key"] for x in tiers["cohorts"]] == ["unknown"]


def test_while_the_first_build_runs_views_answer_at_once(hub: Hub, clients, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No rollup yet and its build still running: a page says so (503) instead of holding the request."""
    _assets(hub)
    _simulate(hub)
    monkeypatch.setattr(rollup, "WAIT_S", 0.05)
    lock = rollup.building_lock(hub)
    assert lock.acquire()  # as if a build were under way
    try:
        c = clients.as_("viewer")
        page = c.get("/dashboard/retention")
        assert page.status_code == 503 and "being prepared" in page.text and 'class="chart"' not in page.text
        api = c.get("/v1/dashboard/retention")
        assert api.status_code == 503 and api.json()["error"]["code"] == "preparing"
    finally:
        lock.release()
    monkeypatch.setattr(rollup, "WAIT_S", 60.0)  # a loaded box may take more than 50 ms to build
    assert c.get("/v1/dashboard/retention").json()["cohorts"]  # the build runs once the lock is free


def _figures(html: str) -> dict[str, dict]:
    """Chart id → the Plotly spec a page carries (unescaped from its data attribute)."""
    return {
        m[0]: json.loads(html_lib.unescape(m[1]))
        for m in re.findall(r'data-chart="([^"]+)" data-figure="([^"]*)"', html)
    }


def test_every_chart_has_its_csv_and_shows_the_api_numbers(world: Hub, clients) -> None:  # type: ignore[no-untyped-def]
    """Each chart section links a CSV export that answers, and the figures hold the numbers the JSON API returns."""
    c = clients.as_("viewer")
    service.refresh(world)
    pages = {p: c.get(f"/dashboard/{p}").text for p in ("retention", "channels", "fatigue?channel=wecom_1v1", "ltv")}
    for page, html in pages.items():
        sections = re.findall(r'<section class="dash-chart" id="([^"]+)">(.*?)</section>', html, re.DOTALL)
        assert sections, page
        for cid, body in sections:
            if cid == "caps":
                continue
            links = re.findall(r'<a class="csv" href="([^"]+)"', body)
            assert len(links) == 1, (page, cid)
            got = c.get(links[0].replace("&amp;", "&"))
            assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv"), (page, cid)
    retention_json = c.get("/v1/dashboard/retention").json()
    tri = _figures(pages["retention"])["retention-triangle"]["data"][0]
    assert tri["z"] == [x["shares"] for x in retention_json["cohorts"]]
    curves = _figures(pages["retention"])["retention-curves"]["data"]
    assert [t["y"] for t in curves] == [x["shares"] for x in retention_json["cohorts"]]
    fat = c.get("/v1/dashboard/fatigue?channel=wecom_1v1").json()
    open_trace, mute_trace, weeks_trace = _figures(pages["fatigue?channel=wecom_1v1"])["fatigue-curve"]["data"]
    assert open_trace["y"] == [b["open_rate"] for b in fat["bins"]]
    assert mute_trace["y"] == [b["mute_rate"] for b in fat["bins"]]
    assert weeks_trace["y"] == [b["user_weeks"] for b in fat["bins"]]
    health = c.get("/v1/dashboard/channels").json()
    deliveries = _figures(pages["channels"])["channel-deliveries"]["data"]
    assert {t["name"]: t["y"] for t in deliveries} == {
        ch: [r["deliveries"] for r in health["rows"] if r["channel"] == ch]
        for ch in {r["channel"] for r in health["rows"]}
    }
    ltv_json = c.get("/v1/dashboard/ltv").json()
    ltv_figs = _figures(pages["ltv"])
    assert [t["y"] for t in ltv_figs["ltv-observed"]["data"]] == [x["cumulative"] for x in ltv_json["curves"]]
    model = c.get("/v1/dashboard/ltv/model").json()
    observed, predicted = ltv_figs["ltv-holdout"]["data"][:2]
    assert observed["y"] == [h["observed_revenue"] for h in model["holdout"]]
    assert predicted["y"] == [h["predicted_revenue"] for h in model["holdout"]]
