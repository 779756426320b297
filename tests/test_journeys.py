"""Journeys: definitions and their bad input, versioned edits with users in flight, the scheduler, due
sends over HTTP confirmed by events, triggers, experiments, caps shared with the planner, pages, and a
small simulated cohort through the default new-contact journey."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contenthub.audience import caps, groups, users
from contenthub.audience.models import GroupIn, Identity, MembershipChange
from contenthub.config import Settings
from contenthub.hub import Hub, open_hub
from contenthub.journeys import conditions, engine, funnel, outbox, service, triggers
from contenthub.journeys.models import JourneyIn, Wait
from contenthub.journeys.simulate import CohortConfig, run_cohort
from contenthub.journeys.waits import due_after
from contenthub.library.models import Asset
from contenthub.recommend import events
from contenthub.store.query import EventQuery
from contenthub.timeutil import to_iso, utcnow
from tests.conftest import Clients

TZ = ZoneInfo("Asia/Shanghai")


def _open(tmp_path: Path, backend: str) -> Hub:
    settings = Settings(data_dir=tmp_path / "data", session_secret="test-secret", journeys_loop_seconds=0)
    if backend == "elasticsearch":
        from tests.es_support import es_url, unique_prefix

        settings = Settings(**{**settings.model_dump(), "store_url": es_url(), "es_index_prefix": unique_prefix()})
    return open_hub(settings)


def _close(h: Hub) -> None:
    if h.store.backend == "elasticsearch":
        h.store.drop()  # type: ignore[attr-defined]
    h.close()


BACKENDS = ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.es)]
on_both_backends = pytest.mark.parametrize("jhub", BACKENDS, indirect=True)


@pytest.fixture
def jhub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """A hub without the embedding model: journeys never embed, and tests stay fast. SQLite unless the
    test runs on both backends (or CONTENTHUB_JOURNEYS_BACKEND=elasticsearch runs the whole file there)."""
    h = _open(tmp_path, getattr(request, "param", os.environ.get("CONTENTHUB_JOURNEYS_BACKEND", "sqlite")))
    yield h
    _close(h)


@pytest.fixture
def jclients(jhub: Hub) -> Clients:
    return Clients(jhub)


def add_assets(
    hub: Hub,
    n: int = 24,
    channels: tuple[str, ...] = ("wecom_1v1", "mp_service"),
    scenes: tuple[str, ...] = ("onboarding", "education", "first_order", "reactivation"),
) -> None:
    stamp = to_iso(utcnow() - timedelta(days=120))
    hub.store.put_assets(
        [
            Asset(
                id=f"a{i:03d}",
                title=f"素材 {i}",
                kind="article",
                content_type=("promotional", "educational")[i % 2],
                scenes=[scenes[i % len(scenes)]],
                channels=list(channels),
                tags=[f"t{i % 4}"],
                status="approved",
                created_at=stamp,
                updated_at=stamp,
            ).model_dump(mode="json")
            for i in range(n)
        ]
    )
    hub.touch("assets")


def journey(steps: list[dict], **extra: object) -> dict:
    return {"name": "Test journey", "status": "active", "trigger": {"kind": "manual"}, "steps": steps, **extra}


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    """Local (Shanghai) time on a day of a fixed past week, as UTC."""
    base = (utcnow() - timedelta(days=40)).astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return (base + timedelta(days=day, hours=hour, minutes=minute)).astimezone(UTC)


def deliver(hub: Hub, sends: list, when: datetime, *, opened: bool = False) -> None:
    rows = []
    for s in sends:
        base = {
            "user_id": s.user_id,
            "asset_id": s.asset_id,
            "channel": s.channel,
            "recommendation_id": s.recommendation_id,
        }
        rows.append({**base, "id": f"d-{s.recommendation_id}", "type": "delivered", "ts": to_iso(when)})
        if opened:
            rows.append({**base, "id": f"o-{s.recommendation_id}", "type": "open", "ts": to_iso(when)})
    assert not events.ingest(hub, rows).rejected


# ---- bad input --------------------------------------------------------------------------------------------------


def test_cycle_that_never_waits_is_rejected_but_a_waiting_loop_is_fine(jclients: Clients) -> None:
    editor = jclients.as_("editor")
    loop = [
        {"id": "a", "channel": "wecom_1v1"},
        {"id": "b", "branches": [{"when": {"kind": "converted", "negate": True}, "goto": "a"}]},
    ]
    r = editor.post("/v1/journeys", json=journey(loop))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == "steps" and "cycle" in err["message"] and "a → b → a" in err["message"]
    loop[0]["wait"] = {"days": 7}
    assert editor.post("/v1/journeys", json=journey(loop)).status_code == 201
    r = editor.post(
        "/v1/journeys", json=journey([{"id": "a", "branches": [{"when": {"kind": "muted"}, "goto": "zz"}]}])
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "steps.0.branches.0.goto"


def test_unknown_channel_scene_and_wait_over_a_year_are_422(jclients: Clients) -> None:
    editor = jclients.as_("editor")
    r = editor.post("/v1/journeys", json=journey([{"id": "a", "channel": "myspace"}]))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "steps.0.channel" and "wecom_1v1" in r.json()["error"]["allowed"]
    r = editor.post("/v1/journeys", json=journey([{"id": "a", "channel": "wecom_1v1", "scene": "birthday"}]))
    assert r.status_code == 422 and r.json()["error"]["field"] == "steps.0.scene"
    r = editor.post("/v1/journeys", json=journey([{"id": "a", "wait": {"days": 400}, "channel": "sms"}]))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "steps.0.wait" and "longer than a year" in r.json()["error"]["message"]
    r = editor.post("/v1/journeys", json=journey([{"id": "a", "wait": {"days": 300, "hours": 24 * 70}}]))
    assert r.status_code == 422  # 370 days, however it is written
    assert (
        editor.post("/v1/journeys", json=journey([{"id": "a", "wait": {"days": 365}, "channel": "sms"}])).status_code
        == 201
    )
    bot = jclients.as_("bot")
    assert bot.post("/v1/journeys", json=journey([{"id": "a"}])).status_code == 403
    assert bot.get("/v1/journeys/due", params={"channel": "myspace"}).status_code == 422


# ---- versions and the scheduler ---------------------------------------------------------------------------------


@on_both_backends
def test_editing_a_journey_keeps_users_in_flight_on_their_version(jhub: Hub, jclients: Clients) -> None:
    editor = jclients.as_("editor")
    v1 = journey(
        [
            {"id": "hello", "channel": "wecom_1v1"},
            {"id": "tip", "wait": {"days": 1}, "channel": "wecom_1v1", "scene": "education"},
            {"id": "offer", "wait": {"days": 2}, "channel": "mp_service"},
        ],
        id="care",
    )
    assert editor.post("/v1/journeys", json=v1).json()["version"] == 1
    users.ensure_user(jhub, "early")
    t0 = at(0, 9)
    assert engine.enroll(jhub, service.get(jhub, "care"), "early", now=t0)[0]
    engine.run_until_idle(jhub, t0)
    st = engine.get_state(jhub, "care", "early")
    assert (st["step"], st["version"]) == ("tip", 1)

    v2 = journey(
        [
            {"id": "tip", "wait": {"days": 5}, "channel": "sms"},
            {"id": "survey", "wait": {"hours": 2}, "channel": "sms"},
        ],
        id="care",
    )
    r = editor.put("/v1/journeys/care", json=v2, params={"expected_version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    assert editor.put("/v1/journeys/care", json=v2, params={"expected_version": 1}).status_code == 409

    engine.run_until_idle(jhub, t0 + timedelta(days=1, minutes=1))
    st = engine.get_state(jhub, "care", "early")
    assert (st["step"], st["version"]) == ("offer", 1)  # v1's 'tip' after v1's 1-day wait, then v1's next step
    queued = jhub.store.list_docs(outbox.OUTBOX_PREFIX + "wecom_1v1")
    assert sorted((s["step"], s["version"]) for s in queued) == [("hello", 1), ("tip", 1)]
    assert outbox.pending(jhub, "sms") == 0
    engine.run_until_idle(jhub, t0 + timedelta(days=3, minutes=2))
    assert engine.get_state(jhub, "care", "early")["status"] == "done"

    users.ensure_user(jhub, "late")
    engine.enroll(jhub, service.get(jhub, "care"), "late", now=t0 + timedelta(days=3))
    late = editor.get("/v1/journeys/care/users/late").json()
    assert late["version"] == 2 and late["step"] == "tip"
    assert late["due_at"] == to_iso(t0 + timedelta(days=8))
    f = editor.get("/v1/journeys/care/funnel").json()
    assert [s["step"] for s in f["steps"]] == ["tip", "survey", "hello", "offer"]
    assert f["entered"] == 2 and f["completed"] == 1
    assert {s["step"]: s["waiting"] for s in f["steps"]} == {"tip": 1, "survey": 0, "hello": 0, "offer": 0}
    assert [s["entered"] for s in editor.get("/v1/journeys/care/funnel", params={"version": 1}).json()["steps"]] == [
        1,
        1,
        1,
    ]


def test_exit_branch_skip_and_reentry(jhub: Hub) -> None:
    add_assets(jhub)
    j = service.save(
        jhub,
        JourneyIn.model_validate(
            journey(
                [
                    {"id": "one", "channel": "wecom_1v1"},
                    {
                        "id": "route",
                        "wait": {"days": 1},
                        "branches": [{"when": {"kind": "opened_previous"}, "goto": "exit"}],
                    },
                    {"id": "two", "condition": {"kind": "in_group", "negate": True}, "channel": "wecom_1v1"},
                    {"id": "three", "wait": {"days": 1}, "channel": "wecom_1v1"},
                ],
                exit=[{"kind": "converted"}],
                reentry={"mode": "every", "days": 10},
            )
        ),
        "t",
    )
    for u in ("opener", "grouped", "buyer"):
        users.ensure_user(jhub, u)
    groups.upsert_group(jhub, GroupIn(id="g", channel="wecom_group"))
    groups.change_members(jhub, "g", MembershipChange(join=["grouped"], at=at(0, 1)))
    conditions.invalidate_groups(jhub)
    t0 = at(0, 10)
    assert engine.enroll_many(jhub, j, ["opener", "grouped", "buyer"], now=t0) == {}
    assert engine.enroll(jhub, j, "buyer", now=t0) == (False, "already in the journey")
    engine.run_until_idle(jhub, t0)
    sends = outbox.fetch_due(jhub, "wecom_1v1", limit=10, now=t0)
    assert sorted(s.user_id for s in sends) == ["buyer", "grouped", "opener"]
    deliver(jhub, [s for s in sends if s.user_id == "opener"], t0 + timedelta(minutes=5), opened=True)
    deliver(jhub, [s for s in sends if s.user_id != "opener"], t0 + timedelta(minutes=5))
    buy = next(s for s in sends if s.user_id == "buyer")
    events.ingest(
        jhub,
        [
            {
                "id": "buy1",
                "type": "convert",
                "user_id": "buyer",
                "asset_id": buy.asset_id,
                "channel": "miniprogram",
                "value": 99,
                "ts": to_iso(t0 + timedelta(hours=2)),
            }
        ],
    )
    engine.run_until_idle(jhub, t0 + timedelta(days=1, minutes=1))
    states = {u: engine.get_state(jhub, j.id, u) for u in ("opener", "grouped", "buyer")}
    assert states["opener"]["exit_reason"] == "branch at route → exit"
    assert states["buyer"]["exit_reason"] == "exit: converted"
    assert states["grouped"]["step"] == "three"  # 'two' skipped: already in a group
    f = funnel.build(jhub, j.id)
    one, route, two = f.steps[0], f.steps[1], f.steps[2]
    assert (one.sent, one.opened, one.converted) == (3, 1, 1)  # the convert had no rec id: last-touch credit
    assert (route.entered, route.exited, route.branched) == (3, 2, 1)
    assert (two.entered, two.skipped) == (1, 1)
    assert engine.enroll(jhub, j, "buyer", now=t0 + timedelta(days=2)) == (
        False,
        "entered less than 10 days ago (re-entry: every 10 days)",
    )
    assert engine.enroll(jhub, j, "buyer", now=t0 + timedelta(days=11))[0]
    assert engine.get_state(jhub, j.id, "buyer")["run"] == 2


def test_waits_windows_and_weekdays() -> None:
    tz = "Asia/Shanghai"
    evening = datetime(2025, 3, 5, 21, 30, tzinfo=TZ)  # a Wednesday
    assert due_after(Wait(window_start="10:00", window_end="20:00"), evening, tz) == datetime(
        2025, 3, 6, 10, 0, tzinfo=TZ
    )
    assert due_after(Wait(days=1, window_start="10:00", window_end="20:00"), evening, tz) == datetime(
        2025, 3, 7, 10, 0, tzinfo=TZ
    )
    assert due_after(Wait(window_start="20:00", window_end="02:00"), evening, tz) == evening  # crosses midnight
    assert due_after(Wait(weekday=2, window_start="09:00", window_end="12:00"), evening, tz) == datetime(
        2025, 3, 12, 9, 0, tzinfo=TZ
    )  # 'next Wednesday' is never today
    assert due_after(Wait(hours=3), evening, tz) == evening + timedelta(hours=3)


@on_both_backends
def test_advance_is_idempotent_and_stale_hints_are_dropped(jhub: Hub) -> None:
    j = service.save(
        jhub,
        JourneyIn.model_validate(
            journey([{"id": "a", "channel": "sms"}, {"id": "b", "wait": {"hours": 1}, "channel": "sms"}])
        ),
        "t",
    )
    ids = [f"u{i}" for i in range(30)]
    t0 = at(1)
    engine.enroll_many(jhub, j, ids, now=t0)
    res = engine.advance_due(jhub, t0, limit=7)
    assert res.processed == 7 and res.sends_queued == 7
    total = engine.run_until_idle(jhub, t0)
    assert total.processed == 23 and engine.run_until_idle(jhub, t0).processed == 0
    # a crash after the new hints were written but before the states: replay queues nothing twice
    st = engine.get_state(jhub, j.id, "u0")
    from contenthub.journeys import dueindex

    dueindex.put_hints(
        jhub, [(dueindex.bucket(t0), {"id": "stale", "key": st["key"], "run": 1, "due_at": to_iso(t0)})], t0
    )
    assert engine.run_until_idle(jhub, t0).stale_hints == 1
    assert outbox.pending(jhub, "sms") == 30
    done = engine.run_until_idle(jhub, t0 + timedelta(hours=1, minutes=1))
    assert done.finished == 30 and outbox.pending(jhub, "sms") == 60
    assert dueindex.marked(jhub, dueindex.bucket(t0)[:10]) == []  # drained long ago: mark removed
    later = dueindex.bucket(t0 + timedelta(hours=1))
    assert dueindex.marked(jhub, later[:10]) == [later]  # drained, but writers may still add: kept a while
    engine.advance_due(jhub, t0 + timedelta(hours=2))
    assert dueindex.marked(jhub, later[:10]) == [] and jhub.store.count_docs(dueindex.DUE_PREFIX + later) == 0


# ---- due sends over HTTP ----------------------------------------------------------------------------------------


@on_both_backends
def test_bots_fetch_due_sends_and_confirm_with_delivered_events(jhub: Hub, jclients: Clients) -> None:
    add_assets(jhub)
    editor, bot = jclients.as_("editor"), jclients.as_("bot")
    r = editor.post("/v1/journeys/templates/first-order", params={"status": "active", "journey_id": "fo"})
    assert r.status_code == 201 and r.json()["steps"][0]["content_type"] == "promotional"
    assert bot.get("/v1/journeys/due", params={"channel": "wecom_1v1"}).json() == []
    t0 = at(29, 11)
    jhub.cache["journeys_clock"] = lambda: at(30, 12)  # the API's 'now': inside the coupon's 10:00–20:00 window
    users.ensure_user(jhub, "v1", at=to_iso(t0))
    users.ensure_user(jhub, "payer", at=to_iso(t0))
    rows = [
        {
            "id": "pay",
            "type": "convert",
            "user_id": "payer",
            "asset_id": "a000",
            "channel": "miniprogram",
            "value": 50,
            "ts": to_iso(t0),
        }
    ]
    rows += [
        {
            "id": f"click-{u}",
            "type": "click",
            "user_id": u,
            "asset_id": "a001",
            "channel": "wecom_1v1",
            "ts": to_iso(t0 + timedelta(minutes=1)),
        }
        for u in ("v1", "payer")
    ]
    assert bot.post("/v1/events", json={"events": rows}).status_code == 200
    assert editor.get("/v1/journeys/fo/users/v1").json()["step"] == "coupon"
    assert editor.get("/v1/journeys/fo/users/payer").status_code == 404  # only_if: not paying
    engine.run_until_idle(jhub, at(30, 12))
    due = bot.get("/v1/journeys/due", params={"channel": "wecom_1v1", "limit": 10}).json()
    assert len(due) == 1 and due[0]["user_id"] == "v1" and due[0]["step"] == "coupon"
    assert jhub.store.get_asset(due[0]["asset_id"])["content_type"] == "promotional"
    assert due[0]["recommendation_id"].startswith("r_") and due[0]["offer"] == 1
    assert bot.get("/v1/journeys/due", params={"channel": "wecom_1v1"}).json() == []  # offered, not re-offered yet
    ev = {
        "user_id": "v1",
        "asset_id": due[0]["asset_id"],
        "channel": "wecom_1v1",
        "recommendation_id": due[0]["recommendation_id"],
    }
    r = bot.post(
        "/v1/events", json={"events": [{**ev, "id": "dv", "type": "delivered"}, {**ev, "id": "ck", "type": "click"}]}
    )
    assert r.json()["accepted"] == 2
    assert outbox.pending(jhub, "wecom_1v1") == 0
    step = editor.get("/v1/journeys/fo/funnel").json()["steps"][0]
    assert (step["entered"], step["sent"], step["opened"], step["clicked"]) == (1, 1, 1, 1)
    assert jclients.as_("viewer").get("/v1/journeys/fo/funnel").status_code == 200
    assert bot.get("/v1/journeys/fo/funnel").status_code == 403


def test_pausing_holds_queued_sends_and_in_flight_users(jhub: Hub) -> None:
    add_assets(jhub, channels=("sms",))
    j = service.save(
        jhub,
        JourneyIn.model_validate(
            journey([{"id": "a", "channel": "sms"}, {"id": "b", "wait": {"hours": 1}, "channel": "sms"}])
        ),
        "t",
    )
    t0 = at(4, 12)
    engine.enroll_many(jhub, j, ["h1", "h2"], now=t0)
    engine.run_until_idle(jhub, t0)
    service.set_status(jhub, j.id, "paused", "t")
    assert outbox.fetch_due(jhub, "sms", now=t0) == []
    engine.run_until_idle(jhub, t0 + timedelta(hours=2))
    assert engine.get_state(jhub, j.id, "h1")["step"] == "b"  # held, not advanced
    service.set_status(jhub, j.id, "active", "t")
    assert len(outbox.fetch_due(jhub, "sms", now=t0 + timedelta(hours=2))) == 2
    engine.run_until_idle(jhub, t0 + timedelta(hours=3, minutes=1))
    assert engine.get_state(jhub, j.id, "h1")["status"] == "done"


def test_unconfirmed_sends_are_offered_again_then_dropped(jhub: Hub) -> None:
    add_assets(jhub)
    j = service.save(
        jhub, JourneyIn.model_validate(journey([{"id": "a", "channel": "mp_service", "expires_hours": 2}])), "t"
    )
    t0 = at(2, 10)
    engine.enroll(jhub, j, "u1", now=t0)
    engine.run_until_idle(jhub, t0)
    first = outbox.fetch_due(jhub, "mp_service", now=t0)
    assert outbox.fetch_due(jhub, "mp_service", now=t0 + timedelta(minutes=5)) == []
    again = outbox.fetch_due(jhub, "mp_service", now=t0 + timedelta(minutes=16))
    assert [(s.recommendation_id, s.offer) for s in again] == [(first[0].recommendation_id, 2)]
    assert outbox.fetch_due(jhub, "mp_service", now=t0 + timedelta(hours=3)) == []
    step = funnel.build(jhub, j.id).steps[0]
    assert (step.sent, step.expired) == (0, 1)
    deliver(jhub, first, t0 + timedelta(hours=3, minutes=5))  # the bot did send it after all
    step = funnel.build(jhub, j.id).steps[0]
    assert (step.sent, step.expired) == (1, 0)


# ---- triggers and experiments -----------------------------------------------------------------------------------


def test_identity_and_stage_triggers(jhub: Hub) -> None:
    service.install_template(jhub, "new-contact-care", "t", status="active")
    service.install_template(jhub, "reactivation", "t", status="active")
    uid = users.resolve_identity(jhub, Identity(type="external_userid", value="wx-1"))
    assert engine.get_state(jhub, "new-contact-care", uid)["step"] == "welcome"
    assert users.resolve_identity(jhub, Identity(type="openid", value="o-9")) is not None
    assert jhub.store.count_docs(engine.STATES) == 1  # an openid is not a WeCom contact
    old = to_iso(utcnow() - timedelta(days=45))
    users.ensure_user(jhub, "quiet", at=old)
    events.ingest(
        jhub, [{"id": "q1", "type": "open", "user_id": "quiet", "asset_id": None, "channel": "sms", "ts": old}]
    )
    jhub.store.put_assets(
        [
            Asset(
                id="x1", title="x", kind="article", channels=["sms"], status="approved", created_at=old, updated_at=old
            ).model_dump(mode="json")
        ]
    )
    events.ingest(
        jhub, [{"id": "q2", "type": "open", "user_id": "quiet", "asset_id": "x1", "channel": "sms", "ts": old}]
    )
    assert triggers.sweep_users(jhub, utcnow()) == 1
    st = engine.get_state(jhub, "reactivation", "quiet")
    assert st["entry_stage"] == "silent" and st["step"] == "hello"
    assert triggers.sweep_users(jhub, utcnow()) == 0  # already in


def test_group_join_trigger(jhub: Hub) -> None:
    service.save(
        jhub,
        JourneyIn.model_validate(
            journey(
                [{"id": "hi", "channel": "wecom_group"}], trigger={"kind": "group_joined", "group_purpose": "welfare"}
            )
        ),
        "t",
    )
    groups.upsert_group(jhub, GroupIn(id="w", channel="wecom_group", purpose="welfare"))
    groups.upsert_group(jhub, GroupIn(id="c", channel="wecom_group", purpose="community"))
    now = utcnow()
    groups.change_members(jhub, "w", MembershipChange(join=["m1", "m2"], at=now - timedelta(minutes=3)))
    groups.change_members(jhub, "c", MembershipChange(join=["m3"], at=now - timedelta(minutes=3)))
    assert triggers.sweep_groups(jhub, now, force=True) == 2
    assert triggers.sweep_groups(jhub, now + timedelta(minutes=10)) == 0


def test_experiment_assigns_users_to_a_variant_journey(jhub: Hub) -> None:
    from contenthub.experiments import service as experiments
    from contenthub.experiments.models import ExperimentCreate, Variant

    base = service.save(jhub, JourneyIn.model_validate(journey([{"id": "a", "channel": "sms"}], id="base")), "t")
    service.save(
        jhub,
        JourneyIn.model_validate(
            {**journey([{"id": "a", "wait": {"days": 2}, "channel": "sms"}], id="slow"), "status": "draft"}
        ),
        "t",
    )
    experiments.create_experiment(
        jhub,
        ExperimentCreate(
            key="waits",
            change="journey",
            unit="user",
            variants=[Variant(name="control", weight=0.5), Variant(name="slow", weight=0.5, journeys={"base": "slow"})],
        ),
    )
    experiments.start_experiment(jhub, "waits")
    ids = [f"e{i}" for i in range(40)]
    for u in ids:
        engine.enroll(jhub, base, u, now=utcnow())
    ran = Counter(jid for jid in ("base", "slow") for u in ids if engine.get_state(jhub, jid, u))
    assert ran["base"] + ran["slow"] == 40 and ran["base"] > 5 and ran["slow"] > 5
    st = next(engine.get_state(jhub, "slow", u) for u in ids if engine.get_state(jhub, "slow", u))
    assert st["variant"] == "waits:slow"
    assert experiments.exposure_count(jhub, "waits") == 40


# ---- caps shared with the planner -------------------------------------------------------------------------------


def _approved_plan(hub: Hub, starts: list[datetime], channel: str, asset_id: str) -> tuple[date, list[str]]:
    """A stored plan for the week of `starts` with one approved slot per start (audience: all) on `channel`."""
    from contenthub.publish import service as plans
    from contenthub.publish.planner import slot_id, week_start_of
    from contenthub.publish.rules import Audience as PlanAudience

    week = week_start_of(starts[0].astimezone(TZ).date())
    everyone = PlanAudience.from_key("all")
    slots = [
        plans.PlanSlot(
            id=slot_id(channel, everyone, s.astimezone(TZ), "promotional"),
            channel=channel,
            audience=everyone,
            start=s.astimezone(TZ),
            content_type="promotional",
            asset_id=asset_id,
            status="approved",
        )
        for s in starts
    ]
    found = plans.find_plan(hub, week)
    plan = plans.Plan(
        week_start=week,
        version=(found.version if found else 0) + 1,
        channels=[channel],
        audiences=["all"],
        slots=[*(found.slots if found else []), *slots],
        created_at=to_iso(utcnow()),
        created_by="t",
    )
    plans.save_plan(hub, plan, found.version if found else None)
    return week, [sl.id for sl in slots]


def test_caps_never_exceeded_when_a_journey_and_the_planner_target_the_same_user(jhub: Hub) -> None:
    """Planner slots on four of eight days, two inside the journey's 10:00–20:00 window, same users.

    The planner publishes through ``publish.editing.publish_slot`` (a delivered event per member, after
    checking each member's cap and taking a cap slot); the journey's due sends reserve through the
    recommender. At 14:00 the journey has used the day's WeCom 1:1 send, so the planner must skip those
    members; at 08:00 the planner goes first and the journey must wait for the next day. Service account
    (4 a month): the planner's bot asks the recommender with ``reserve=True``, like the journey does.
    """
    from contenthub.publish import editing
    from contenthub.recommend.service import next_for_user

    add_assets(jhub, n=80)
    day = {"window_start": "10:00", "window_end": "20:00"}
    j = service.save(
        jhub,
        JourneyIn.model_validate(
            journey(
                [
                    {"id": f"s{i}", "wait": {"hours": 6, **day} if i else day, "channel": ch, "expires_hours": 30}
                    for i, ch in enumerate(["wecom_1v1", "mp_service"] * 12)
                ]
            )
        ),
        "t",
    )
    people = ["p1", "p2", "p3"]
    for u in people:
        users.ensure_user(jhub, u, at=to_iso(at(0)))
    start = at(0, 8)
    engine.enroll_many(jhub, j, people, now=start)
    # 14:00 (after the journey's 10:00 send) on days 0 and 3; 08:00 (before the window opens) on days 2 and 6
    slot_times = [start + timedelta(days=d, hours=h) for d, h in ((0, 6), (2, 0), (3, 6), (6, 0))]
    weeks = {}
    for t in slot_times:
        week, (sid,) = _approved_plan(jhub, [t], "wecom_1v1", "a079")
        weeks[t] = (week, sid)
    published = []
    for hour in range(0, 24 * 8, 2):
        now = start + timedelta(hours=hour)
        engine.run_until_idle(jhub, now)
        for ch in ("wecom_1v1", "mp_service"):
            deliver(jhub, outbox.fetch_due(jhub, ch, limit=50, now=now), now + timedelta(minutes=1))
        if now in weeks:
            week, sid = weeks.pop(now)
            published.append(editing.publish_slot(jhub, week, sid, "bot", now=now))
            again = editing.publish_slot(jhub, week, sid, "bot", now=now + timedelta(hours=1))
            assert again.accepted == 0 and again.capped == published[-1].capped, "re-publishing changes nothing"
            for u in people:
                rec = next_for_user(jhub, u, "mp_service", n=1, now=now, reserve=True)
                if rec.picks:
                    events.ingest(
                        jhub,
                        [
                            {
                                "id": f"pubsvc-{hour}-{u}",
                                "type": "delivered",
                                "user_id": u,
                                "asset_id": rec.picks[0].asset_id,
                                "channel": "mp_service",
                                "ts": to_iso(now),
                                "recommendation_id": rec.picks[0].recommendation_id,
                            }
                        ],
                    )

    def local_day(e: dict) -> object:
        return datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).astimezone(TZ).date()

    delivered = jhub.store.query_events(EventQuery(types=("delivered",), limit=100000))
    journey_recs = {
        d["recommendation_id"] for d in jhub.store.list_docs(outbox.SENDS, limit=10000) if d.get("recommendation_id")
    }
    wecom = Counter((e["user_id"], local_day(e)) for e in delivered if e["channel"] == "wecom_1v1")
    assert max(wecom.values()) == caps.get_rule(jhub, "wecom_1v1").per_day == 1
    # the overlap was real both ways: at 14:00 the journey had sent first, so the planner skipped everyone;
    # at 08:00 the planner sent first and the journey left that day alone
    assert [p.capped for p in published] == [3, 0, 3, 0]
    assert [p.accepted for p in published] == [0, 3, 0, 3]
    journey_wecom = [e for e in delivered if e["channel"] == "wecom_1v1" and e.get("recommendation_id") in journey_recs]
    assert not {local_day(e) for e in journey_wecom} & {local_day({"ts": to_iso(t)}) for t in slot_times[1::2]}
    assert all(p.accepted + p.capped == len(people) for p in published)
    planner_wecom = [e for e in delivered if e["channel"] == "wecom_1v1" and (e.get("attributes") or {}).get("slot_id")]
    assert len(planner_wecom) == sum(p.accepted for p in published)
    assert len(wecom) == 8 * len(people)  # and every day was used by one of the two
    service_month = Counter((e["user_id"], local_day(e).month) for e in delivered if e["channel"] == "mp_service")
    assert max(service_month.values()) <= 4
    assert any(e.get("recommendation_id") in journey_recs for e in delivered if e["channel"] == "mp_service")
    f = funnel.build(jhub, j.id)
    assert sum(s.sent for s in f.steps) == len([e for e in delivered if e.get("recommendation_id") in journey_recs])


# ---- pages and simulation ---------------------------------------------------------------------------------------


def _login(clients: Clients, role: str = "editor"):
    from fastapi.testclient import TestClient

    c = TestClient(clients.app)
    token = _csrf(c.get("/login").text)
    r = c.post(
        "/login", data={"key": clients.keys[role], "csrf_token": token, "next": "/journeys"}, follow_redirects=False
    )
    assert r.status_code in (302, 303)
    return c


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_editor_page_lists_steps_with_funnel_and_saves_a_step_as_a_new_version(jhub: Hub, jclients: Clients) -> None:
    service.install_template(jhub, "new-contact-care", "t", status="active")
    web = _login(jclients)
    page = web.get("/journeys")
    assert page.status_code == 200 and "new-contact-care" in page.text and 'id="install-first-order"' in page.text
    html = web.get("/journeys/new-contact-care").text
    for step in ("welcome", "care", "group_invite", "return_visit", "interest_push"):
        assert f'id="step-{step}"' in html
    assert "27 天 · 10:00–20:00" in html and "不满足：在群中" in html
    token = _csrf(html)
    form = {
        "csrf_token": token,
        "expected_version": "1",
        "name": "关怀",
        "wait_days": "2",
        "wait_hours": "0",
        "wait_minutes": "0",
        "weekday": "",
        "window_start": "09:00",
        "window_end": "21:00",
        "cond_kind": "",
        "channel": "wecom_1v1",
        "scene": "tutorial",
        "content_type": "",
        "asset_id": "",
        "expires_hours": "12",
        "branches": "[]",
    }
    r = web.post("/journeys/new-contact-care/steps/care", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    j = service.get(jhub, "new-contact-care")
    assert j.version == 2 and j.step("care").wait.days == 2 and j.step("care").scene == "tutorial"
    r = web.post("/journeys/new-contact-care/steps/care", data={**form, "expected_version": "2", "wait_days": "500"})
    assert r.status_code == 422 and "超过一年（365 天）" in r.text  # the page speaks Chinese
    r = web.post("/journeys/new-contact-care/steps/care", data={**form, "expected_version": "2", "channel": "myspace"})
    assert r.status_code == 422 and "myspace" in r.text
    assert service.get(jhub, "new-contact-care").version == 2
    viewer = _login(jclients, "viewer")
    assert viewer.get("/journeys/new-contact-care").status_code == 200
    assert viewer.post("/journeys/new-contact-care/steps/care", data=form).status_code == 403


def test_simulated_cohort_through_the_default_new_contact_journey(jhub: Hub) -> None:
    result = run_cohort(jhub, CohortConfig(users=40, days=33, tick_hours=3, seed=3))
    f = result["funnel"]
    steps = {s["step"]: s for s in f["steps"]}
    assert f["entered"] == 40 and steps["welcome"]["entered"] == 40
    assert steps["welcome"]["sent"] >= 36
    assert 0 < steps["group_invite"]["skipped"] < 40  # users already in the group get no invitation
    assert (
        steps["group_invite"]["sent"]
        + steps["group_invite"]["skipped"]
        + steps["group_invite"]["exited"]
        + steps["group_invite"]["expired"]
        + steps["group_invite"]["no_asset"]
        == steps["group_invite"]["entered"]
    )
    for s in f["steps"]:
        assert s["sent"] <= s["entered"] and s["opened"] <= s["sent"] and s["clicked"] <= s["opened"]
    assert steps["interest_push"]["sent"] > 0
    assert sum(s["waiting"] for s in f["steps"]) == f["active"] == f["entered"] - f["completed"] - f["exited"]
    delivered = jhub.store.query_events(EventQuery(types=("delivered",), channels=("wecom_1v1",), limit=100000))
    per_day = Counter(
        (e["user_id"], datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).astimezone(TZ).date()) for e in delivered
    )
    assert max(per_day.values()) == 1


@on_both_backends
def test_two_bots_fetching_at_once_never_get_the_same_send(jhub: Hub) -> None:
    import threading

    add_assets(jhub, n=40, channels=("sms",))
    j = service.save(jhub, JourneyIn.model_validate(journey([{"id": "a", "channel": "sms"}])), "t")
    t0 = at(3, 12)
    engine.enroll_many(jhub, j, [f"c{i}" for i in range(40)], now=t0)
    engine.run_until_idle(jhub, t0)
    got: list = []

    def bot() -> None:
        while batch := outbox.fetch_due(jhub, "sms", limit=7, now=t0):
            got.extend(batch)

    threads = [threading.Thread(target=bot) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s.user_id for s in got) == sorted(f"c{i}" for i in range(40))
    assert len({s.recommendation_id for s in got}) == 40


def test_the_app_runs_the_scheduler_loop_when_enabled(tmp_path: Path) -> None:
    import time

    from fastapi.testclient import TestClient

    from contenthub.app import create_app

    settings = Settings(data_dir=tmp_path / "loop", session_secret="s", journeys_loop_seconds=0.2)
    hub = open_hub(settings)
    j = service.save(
        hub,
        JourneyIn.model_validate(
            journey([{"id": "a", "channel": "sms"}, {"id": "b", "wait": {"days": 1}, "channel": "sms"}])
        ),
        "t",
    )
    engine.enroll(hub, j, "loop-user")
    with TestClient(create_app(settings, hub)):
        deadline = time.monotonic() + 300  # a hang guard only: on a loaded CI machine the loop's turn can be late
        while engine.get_state(hub, j.id, "loop-user")["step"] != "b" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.get_state(hub, j.id, "loop-user")["step"] == "b"
        assert outbox.pending(hub, "sms") == 1
