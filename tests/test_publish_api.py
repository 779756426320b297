"""The publish planner over HTTP: cadence rules, plans and their versions, slot edits, publishing, bots'
due list, exports, the best-time heat map and the calendar pages — with every bad input the issue lists.

Assets are embedded once per module into a template data directory; each test works on its own copy.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from fastapi.testclient import TestClient

from contenthub import clock
from contenthub.audience import groups, segments
from contenthub.audience.models import GroupIn, MembershipChange
from contenthub.config import Settings
from contenthub.embeddings import Embedder
from contenthub.hub import Hub, open_hub
from contenthub.library import service as library
from contenthub.publish.rules import CONTENT_TYPES
from contenthub.recommend import events
from contenthub.store.query import EventQuery
from tests.conftest import Clients

ZH = {"Accept-Language": "zh-CN"}
"""The Chinese console (the test clients ask for English, as an English-speaking bot would)."""

WEEK = date(2027, 7, 5)  # an ordinary week (no holiday, festival, solar term or marketing date)
SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
FEW = ["mp_subscription", "wecom_group", "app_push"]
MEMBERS = [f"u{i:03d}" for i in range(12)]
ZH_TYPES = {
    "educational": "知识",
    "practical": "技巧",
    "entertainment": "趣味",
    "interactive": "互动",
    "promotional": "优惠",
    "brand_story": "品牌故事",
}


def _assets() -> list[str]:
    lines = []
    for kind in CONTENT_TYPES:
        for i in range(4):
            lines.append(
                json.dumps(
                    {
                        "id": f"a-{kind}-{i}",
                        "title": f"{ZH_TYPES[kind]}第{i + 1}期：护眼小课堂",
                        "kind": "article",
                        "body": f"{ZH_TYPES[kind]}内容，第{i + 1}期。",
                        "content_type": kind,
                        "status": "approved",
                        "scenes": ["holiday" if i == 0 else "education"],
                        "channels": FEW + ["moments", "mp_service"],
                        "tags": ["护眼"],
                    },
                    ensure_ascii=False,
                )
            )
    return lines


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A data directory with 24 approved assets, a group of 12 members and an empty segment (built once)."""
    root = tmp_path_factory.mktemp("publish-template")
    hub = open_hub(Settings(data_dir=root / "data", session_secret="s"), embedder=embedder)
    report = library.import_jsonl(hub, _assets(), "test")
    assert report.imported == 24, report.errors
    groups.upsert_group(hub, GroupIn(id="g1", name="护眼交流群", channel="wecom_group"))
    groups.change_members(hub, "g1", MembershipChange(join=MEMBERS))
    segments.put_segment(
        hub, "s1", segments.SegmentIn(name="上海用户", all=[segments.Condition(field="region", value="上海")])
    )
    hub.close()
    return root / "data"


@pytest.fixture
def seeded(template: Path, tmp_path: Path, embedder: Embedder) -> Iterator[Hub]:
    data = tmp_path / "data"
    shutil.copytree(template, data)
    settings = Settings(data_dir=data, session_secret="test-secret")
    hub = open_hub(settings, embedder=embedder)
    yield hub
    hub.close()


NOW = datetime(2026, 6, 1, tzinfo=UTC)
"""The pinned "now" of these tests: before every week they plan, so no slot is in the past."""


@pytest.fixture
def api(seeded: Hub) -> Clients:
    clock.pin(seeded, NOW)
    return Clients(seeded)


@pytest.fixture
def ed(api: Clients) -> TestClient:
    return api.as_("editor")


def make_plan(
    client: TestClient, week: date = WEEK, channels: list[str] | None = None, audiences: list[str] | None = None
) -> dict:
    r = client.post(
        "/v1/plans", json={"week": week.isoformat(), "channels": channels or FEW, "audiences": audiences or ["all"]}
    )
    assert r.status_code == 201, r.text
    return r.json()


def local(slot: dict, zone: ZoneInfo = SH) -> datetime:
    return datetime.fromisoformat(slot["start"]).astimezone(zone)


# ---- cadence rules ----------------------------------------------------------------------------------------------


def test_rules_default_custom_and_reset(ed: TestClient) -> None:
    rules = ed.get("/v1/cadence-rules").json()
    assert len(rules) == 11 and all(r["source"] == "default" for r in rules)
    sub = next(r for r in rules if r["channel"] == "mp_subscription")
    assert sub["max_per_day"] == 1 and sub["cap_scope"] == "channel"

    body = {
        "max_per_day": 1,
        "max_per_week": 3,
        "windows": [[19, 22]],
        "mix": {"educational": [1, 2], "promotional": [0, 1]},
    }
    r = ed.put("/v1/cadence-rules/app_push?audience=group:g1", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "custom" and r.json()["audience"] == {"kind": "group", "id": "g1"}
    assert ed.get("/v1/cadence-rules/app_push?audience=group:g1").json()["max_per_week"] == 3
    assert ed.get("/v1/cadence-rules/app_push?audience=segment:s1").json()["audience"]["kind"] == "all"
    assert ed.delete("/v1/cadence-rules/app_push?audience=group:g1").status_code == 204
    assert ed.get("/v1/cadence-rules/app_push?audience=group:g1").json()["source"] == "default"
    assert ed.delete("/v1/cadence-rules/app_push?audience=group:g1").status_code == 404


def test_contradicting_caps_are_422_naming_the_fields(ed: TestClient) -> None:
    r = ed.put("/v1/cadence-rules/moments", json={"min_per_week": 5, "max_per_week": 3, "mix": {"educational": [0, 7]}})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "min_per_week"
    assert {"min_per_week", "max_per_week"} <= set(err["fields"])
    assert "min_per_week (5) > max_per_week (3)" in err["message"]

    r = ed.put(
        "/v1/cadence-rules/moments", json={"max_per_week": 3, "mix": {"educational": [2, 3], "practical": [2, 3]}}
    )
    assert r.status_code == 422 and {"mix", "max_per_week"} <= set(r.json()["error"]["fields"])
    r = ed.put("/v1/cadence-rules/moments", json={"mix": {"educational": [3, 1]}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "mix"
    assert ed.get("/v1/cadence-rules/moments").json()["source"] == "default", "nothing was stored"


def test_unknown_timezone_and_other_bad_rule_input_are_422(ed: TestClient) -> None:
    r = ed.put("/v1/cadence-rules/sms", json={"timezone": "Mars/Olympus_Mons", "mix": {"promotional": [0, 1]}})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "timezone" and "Mars/Olympus_Mons" in err["message"] and "Asia/Shanghai" in err["message"]
    assert ed.put("/v1/cadence-rules/myspace", json={}).json()["error"]["field"] == "channel"
    assert ed.put("/v1/cadence-rules/sms?audience=group:nope", json={}).json()["error"]["field"] == "audience"
    assert ed.put("/v1/cadence-rules/sms?audience=team", json={}).status_code == 422
    r = ed.put("/v1/cadence-rules/sms", json={"max_per_dya": 1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "max_per_dya"


def test_shared_channel_cap_must_agree_across_audiences(ed: TestClient) -> None:
    r = ed.put(
        "/v1/cadence-rules/mp_subscription?audience=group:g1",
        json={"max_per_day": 2, "cap_scope": "channel", "mix": {"educational": [0, 3]}},
    )
    assert r.status_code == 422 and "max_per_day" in r.json()["error"]["fields"]


def test_roles(api: Clients) -> None:
    assert api.as_("viewer").get("/v1/cadence-rules").status_code == 200
    assert api.as_("viewer").put("/v1/cadence-rules/sms", json={}).status_code == 403
    assert api.as_("bot").post("/v1/plans", json={"week": WEEK.isoformat()}).status_code == 403
    assert api.anon.get("/v1/plans").status_code == 401


# ---- plans ---------------------------------------------------------------------------------------------------------


def test_plan_fills_the_week_within_the_rules_and_is_stored(ed: TestClient) -> None:
    plan = make_plan(ed, WEEK + timedelta(days=3))  # any day of the week names the week
    assert plan["week_start"] == WEEK.isoformat() and plan["version"] == 1
    slots = plan["slots"]
    by_channel = Counter(s["channel"] for s in slots)
    assert set(by_channel) == set(FEW)
    sub_days = Counter(local(s).date() for s in slots if s["channel"] == "mp_subscription")
    assert max(sub_days.values()) == 1, "subscription account: one mass send per day"
    for s in slots:
        assert WEEK <= local(s).date() < WEEK + timedelta(days=7)
        assert s["status"] == "draft" and s["asset_id"].startswith("a-") and s["rationale"]
        assert s["asset_id"].split("-")[1] == s["content_type"], "the picker honours the content type"
    assets_all = [s["asset_id"] for s in slots]
    assert len(assets_all) == len(set(assets_all)), "an asset goes to an audience once a week"
    assert ed.get(f"/v1/plans/{WEEK}").json() == plan
    assert [p["week_start"] for p in ed.get("/v1/plans").json()] == [WEEK.isoformat()]


def test_week_without_eligible_assets_is_an_empty_plan_with_reasons(ed: TestClient, seeded: Hub) -> None:
    r = ed.post("/v1/plans", json={"week": WEEK.isoformat(), "channels": ["douyin", "sms"]})
    assert r.status_code == 201
    plan = r.json()
    assert plan["slots"] == []
    for channel in ("douyin", "sms"):
        summary = plan["channel_summary"][channel]
        assert summary["slots"] == 0
        assert any(f"no eligible asset for channel {channel}" in why for why in summary["reasons"])
    page = ed.get(f"/calendar?week={WEEK}")
    assert page.status_code == 200 and "no eligible asset for channel douyin" in page.text


def test_empty_library_says_so(clients: Clients) -> None:
    plan = clients.as_("editor").post("/v1/plans", json={"week": WEEK.isoformat(), "channels": ["sms"]}).json()
    assert plan["slots"] == [] and "no approved assets" in plan["notes"][0]


def test_unknown_audience_or_channel_in_a_plan_request_is_422(ed: TestClient) -> None:
    r = ed.post("/v1/plans", json={"week": WEEK.isoformat(), "audiences": ["group:nope"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "audiences"
    r = ed.post("/v1/plans", json={"week": WEEK.isoformat(), "channels": ["myspace"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "channel"
    assert ed.post("/v1/plans", json={"week": "2027-13-01"}).status_code == 422
    assert ed.get("/v1/plans/2027-07-05").status_code == 404


def test_group_and_segment_audiences_get_their_own_slots(ed: TestClient) -> None:
    plan = make_plan(ed, channels=["app_push"], audiences=["all", "group:g1", "segment:s1"])
    audiences = Counter(s["audience"]["id"] or "all" for s in plan["slots"])
    assert set(audiences) == {"all", "g1", "s1"}
    for key in ("all", "g1", "s1"):
        mine = [s["asset_id"] for s in plan["slots"] if (s["audience"]["id"] or "all") == key]
        assert len(mine) == len(set(mine))


def test_move_that_breaks_a_cap_is_409_naming_it(ed: TestClient) -> None:
    plan = make_plan(ed)
    sub = sorted((s for s in plan["slots"] if s["channel"] == "mp_subscription"), key=lambda s: s["start"])
    first, second = sub[0], sub[1]
    onto = local(second).replace(hour=8)  # inside a window, on a day that already has its one send
    r = ed.patch(f"/v1/plans/{WEEK}/slots/{first['id']}", json={"start": onto.isoformat()})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["cap"] == "max_per_day" and err["limit"] == 1 and err["actual"] == 2
    assert "max_per_day" in err["message"]
    assert ed.get(f"/v1/plans/{WEEK}").json()["version"] == 1, "a refused move changes nothing"

    r = ed.patch(f"/v1/plans/{WEEK}/slots/{first['id']}", json={"start": local(first).replace(hour=3).isoformat()})
    assert r.status_code == 409 and r.json()["error"]["cap"] == "windows"
    r = ed.patch(
        f"/v1/plans/{WEEK}/slots/{first['id']}", json={"start": (local(first) + timedelta(days=9)).isoformat()}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "start"
    r = ed.patch(f"/v1/plans/{WEEK}/slots/{first['id']}", json={"start": "2027-07-06T08:00:00"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "start", "a start without offset is refused"


def test_allowed_move_lock_and_replan_keeps_locked(ed: TestClient) -> None:
    plan = make_plan(ed)
    push = [s for s in plan["slots"] if s["channel"] == "app_push"]
    slot = push[0]
    taken = {local(s) for s in push}
    target = next(
        t
        for d in range(7)
        for h in (9, 10, 11, 18, 19, 20)
        if (t := datetime.combine(WEEK + timedelta(days=d), datetime.min.time(), SH).replace(hour=h)) not in taken
        and all(abs((t - x).total_seconds()) >= 6 * 3600 for x in taken if x != local(slot))
    )
    r = ed.patch(
        f"/v1/plans/{WEEK}/slots/{slot['id']}", json={"start": target.isoformat(), "locked": True, "version": 1}
    )
    assert r.status_code == 200, r.text
    change = r.json()
    assert change["plan_version"] == 2 and change["slot"]["locked"] and local(change["slot"]) == target
    assert "moved" in change["slot"]["edits"][-1]

    r = ed.patch(f"/v1/plans/{WEEK}/slots/{slot['id']}", json={"locked": False, "version": 1})
    assert r.status_code == 409 and r.json()["error"]["current_version"] == 2, "stale edits are refused"

    again = ed.post(f"/v1/plans/{WEEK}/replan").json()
    assert again["version"] == 3 and again["action"] == "replan"
    kept = next(s for s in again["slots"] if s["id"] == slot["id"])
    assert kept["locked"] and local(kept) == target and kept["asset_id"] == slot["asset_id"]
    assert sum(1 for s in again["slots"] if s["locked"]) == 1
    versions = ed.get(f"/v1/plans/{WEEK}/versions").json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert ed.get(f"/v1/plans/{WEEK}?version=1").json()["slots"] == plan["slots"]


def test_swap_add_and_delete_slots(ed: TestClient) -> None:
    plan = make_plan(ed, channels=["app_push"])
    used = {s["asset_id"] for s in plan["slots"]}
    slot = next(s for s in plan["slots"] if s["content_type"] == "educational")
    spare = next(f"a-educational-{i}" for i in range(4) if f"a-educational-{i}" not in used)
    other = next(s for s in plan["slots"] if s["id"] != slot["id"])

    assert ed.patch(f"/v1/plans/{WEEK}/slots/{slot['id']}", json={"asset_id": other["asset_id"]}).status_code == 409
    assert (
        ed.patch(f"/v1/plans/{WEEK}/slots/{slot['id']}", json={"asset_id": "nope"}).json()["error"]["field"]
        == "asset_id"
    )
    r = ed.patch(f"/v1/plans/{WEEK}/slots/{slot['id']}", json={"asset_id": spare})
    assert r.status_code == 200 and r.json()["slot"]["asset_id"] == spare
    assert r.json()["slot"]["asset_title"].startswith("知识")

    free = next(
        datetime.combine(WEEK + timedelta(days=d), datetime.min.time(), SH).replace(hour=h)
        for d in range(7)
        for h in (9, 10, 18, 19)  # +1 hour stays inside the windows
        if all(
            abs(
                (
                    datetime.combine(WEEK + timedelta(days=d), datetime.min.time(), SH).replace(hour=h) - local(s)
                ).total_seconds()
            )
            >= 6 * 3600
            for s in plan["slots"]
        )
    )
    unused = next(f"a-brand_story-{i}" for i in range(4) if f"a-brand_story-{i}" not in used)
    r = ed.post(f"/v1/plans/{WEEK}/slots", json={"channel": "app_push", "start": free.isoformat(), "asset_id": unused})
    assert r.status_code == 201, r.text
    added = r.json()["slot"]
    assert added["locked"] and added["content_type"] == "brand_story"
    r = ed.post(
        f"/v1/plans/{WEEK}/slots",
        json={
            "channel": "app_push",
            "start": (free + timedelta(hours=1)).isoformat(),
            "asset_id": next(f"a-practical-{i}" for i in range(4) if f"a-practical-{i}" not in used),
        },
    )
    assert r.status_code == 409 and r.json()["error"]["cap"] == "min_gap_minutes"

    assert ed.delete(f"/v1/plans/{WEEK}/slots/{added['id']}").json()["deleted"]
    assert added["id"] not in {s["id"] for s in ed.get(f"/v1/plans/{WEEK}").json()["slots"]}
    assert ed.delete(f"/v1/plans/{WEEK}/slots/{added['id']}").status_code == 404


def test_killed_write_leaves_the_old_version(ed: TestClient, seeded: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    before = make_plan(ed)
    store = seeded.store
    real = store._put_doc  # type: ignore[attr-defined]

    def dies_on_history(tx, collection, doc_id, doc, expected):  # noqa: ANN001
        if "@v" in doc_id:
            raise RuntimeError("killed mid-write")
        return real(tx, collection, doc_id, doc, expected)

    monkeypatch.setattr(store, "_put_doc", dies_on_history)
    with pytest.raises(RuntimeError):
        ed.post(f"/v1/plans/{WEEK}/replan")
    monkeypatch.undo()
    after = ed.get(f"/v1/plans/{WEEK}").json()
    assert after == before, "the head was not replaced without its history copy"
    assert [v["version"] for v in ed.get(f"/v1/plans/{WEEK}/versions").json()] == [1]


def test_month_caps_count_other_weeks(ed: TestClient) -> None:
    """Service account: 4 sends per follower per calendar month, across five weekly plans of May 2027."""
    weeks = [date(2027, 4, 26) + timedelta(days=7 * i) for i in range(6)]  # 04-26 … 05-31: May and its edges
    starts = []
    for week in weeks:
        starts += [local(s) for s in make_plan(ed, week, channels=["mp_service"])["slots"]]
    per_month = Counter(f"{s:%Y-%m}" for s in starts)
    assert per_month["2027-05"] == 4
    assert per_month["2027-06"] >= 1, "the week across the month boundary posts in June"


# ---- status, publishing, bots ---------------------------------------------------------------------------------------


def test_status_flow_publish_records_delivered_events_once(api: Clients, seeded: Hub) -> None:
    ed, bot = api.as_("editor"), api.as_("bot")
    plan = make_plan(ed, channels=["wecom_group"], audiences=["group:g1"])
    slot = plan["slots"][0]
    url = f"/v1/plans/{WEEK}/slots/{slot['id']}"
    r = bot.post(url + "/publish")
    assert r.status_code == 409 and "Approve it first" in r.json()["error"]["message"]
    assert bot.patch(url, json={"status": "approved"}).status_code == 403
    assert ed.patch(url, json={"status": "approved"}).json()["slot"]["status"] == "approved"

    first = bot.post(url + "/publish").json()
    assert first["first_publish"] and first["members"] == len(MEMBERS)
    assert first["accepted"] == len(MEMBERS) + 1 and first["duplicates"] == 0  # members + one group event
    assert first["slot"]["status"] == "published" and first["slot"]["delivered"] == len(MEMBERS)
    stored = seeded.store.query_events(EventQuery(types=("delivered",), asset_ids=(slot["asset_id"],), limit=100))
    assert {e["user_id"] for e in stored if e["user_id"]} == set(MEMBERS)
    assert all(e["channel"] == "wecom_group" for e in stored)

    again = bot.post(url + "/publish").json()
    assert not again["first_publish"] and again["accepted"] == 0 and again["duplicates"] == len(MEMBERS) + 1
    assert seeded.store.count_events(EventQuery(types=("delivered",))) == len(MEMBERS) + 1
    assert again["slot"]["published_at"] == first["slot"]["published_at"]
    assert ed.get(f"/v1/plans/{WEEK}").json()["version"] == first["plan_version"], "re-publishing changes nothing"

    r = ed.patch(url, json={"start": local(slot).replace(hour=12).isoformat()})
    assert r.status_code == 409 and "published" in r.json()["error"]["message"]
    assert ed.delete(url).status_code == 409
    assert ed.patch(url, json={"status": "draft"}).status_code == 409
    replanned = ed.post(f"/v1/plans/{WEEK}/replan").json()
    kept = next(s for s in replanned["slots"] if s["id"] == slot["id"])
    assert kept["status"] == "published" and not kept["locked"], "published slots survive a re-plan"
    later = make_plan(ed, WEEK + timedelta(days=7), channels=["wecom_group"], audiences=["group:g1"])
    assert slot["asset_id"] not in {s["asset_id"] for s in later["slots"]}, "the group just received it"


def test_due_lists_approved_slots_before_a_time(api: Clients) -> None:
    ed, bot = api.as_("editor"), api.as_("bot")
    plan = make_plan(ed)
    slots = sorted(plan["slots"], key=lambda s: s["start"])
    for s in slots[:3]:
        ed.patch(f"/v1/plans/{WEEK}/slots/{s['id']}", json={"status": "approved"})
    ed.patch(f"/v1/plans/{WEEK}/slots/{slots[1]['id']}", json={"status": "skipped"})
    cutoff = local(slots[2]).isoformat()
    due = bot.get(f"/v1/plans/{WEEK}/due", params={"before": cutoff}).json()
    assert [s["id"] for s in due["slots"]] == [slots[0]["id"], slots[2]["id"]]
    only = bot.get(f"/v1/plans/{WEEK}/due", params={"before": cutoff, "channel": slots[0]["channel"]}).json()
    assert {s["channel"] for s in only["slots"]} == {slots[0]["channel"]}
    early = bot.get(f"/v1/plans/{WEEK}/due", params={"before": "2027-06-29T00:00:00+08:00"}).json()
    assert early["slots"] == [] and early["plan_version"] == plan["version"] + 4
    assert (
        bot.get(f"/v1/plans/{WEEK}/due", params={"before": "2027-07-06T20:00:00"}).json()["error"]["field"] == "before"
    )
    assert bot.get(f"/v1/plans/{WEEK}/due", params={"channel": "myspace"}).status_code == 422
    assert bot.get("/v1/plans/2030-01-07/due").json()["slots"] == []


# ---- exports and time zones ------------------------------------------------------------------------------------------


def test_ics_parses_with_one_event_per_active_slot_and_csv_has_status(ed: TestClient) -> None:
    plan = make_plan(ed)
    skipped = plan["slots"][0]["id"]
    ed.patch(f"/v1/plans/{WEEK}/slots/{skipped}", json={"status": "skipped"})
    r = ed.get(f"/v1/plans/{WEEK}/export.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    events_ = [e for e in icalendar.Calendar.from_ical(r.content).walk("VEVENT") if "holiday" not in e.categories]
    assert len(events_) == len(plan["slots"]) - 1
    uids = {str(e["UID"]) for e in events_}
    assert f"{skipped}@contenthub" not in uids
    by_uid = {str(e["UID"]): e for e in events_}
    for slot in plan["slots"][1:]:
        event = by_uid[f"{slot['id']}@contenthub"]
        assert event["DTSTART"].dt == datetime.fromisoformat(slot["start"])
        assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"

    r = ed.get(f"/v1/plans/{WEEK}/export.csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == len(plan["slots"])
    assert Counter(row["status"] for row in rows) == {"draft": len(plan["slots"]) - 1, "skipped": 1}
    assert ed.get("/v1/plans/2031-01-06/export.ics").status_code == 404


def test_dst_week_in_new_york_keeps_local_windows(ed: TestClient) -> None:
    week = date(2027, 3, 8)  # clocks spring forward on Sunday 2027-03-14 at 02:00
    r = ed.put(
        "/v1/cadence-rules/app_push",
        json={
            "timezone": "America/New_York",
            "windows": [[0, 4], [20, 24]],
            "min_gap_minutes": 60,
            "mix": {k: [1, 3] for k in ("educational", "practical", "entertainment", "interactive")},
        },
    )
    assert r.status_code == 200, r.text
    plan = make_plan(ed, week, channels=["app_push"])
    assert len(plan["slots"]) >= 4
    begin = datetime.combine(week, datetime.min.time(), NY)
    end = datetime.combine(week + timedelta(days=7), datetime.min.time(), NY)
    for slot in plan["slots"]:
        start = datetime.fromisoformat(slot["start"])
        assert slot["timezone"] == "America/New_York"
        assert begin <= start < end
        ny = start.astimezone(NY)
        assert ny.hour < 4 or ny.hour >= 20
        assert ny.utcoffset() == start.utcoffset(), "stored with New York's offset of that day"
        if ny.date() == date(2027, 3, 14):
            assert ny.hour != 2, "02:00 does not exist that night"
    offsets = {datetime.fromisoformat(s["start"]).utcoffset() for s in plan["slots"]}
    assert offsets <= {timedelta(hours=-5), timedelta(hours=-4)}
    ics = icalendar.Calendar.from_ical(ed.get(f"/v1/plans/{week}/export.ics").content)
    assert {str(z["TZID"]) for z in ics.walk("VTIMEZONE")} == {"America/New_York"}
    move = plan["slots"][0]
    r = ed.patch(f"/v1/plans/{week}/slots/{move['id']}", json={"start": "2027-03-14T02:30:00-05:00"})
    assert r.status_code in (200, 409)  # 02:30 EST is 03:30 EDT: a real, checked instant
    if r.status_code == 200:
        assert r.json()["slot"]["start"].endswith("-04:00")


# ---- best time -------------------------------------------------------------------------------------------------------


def test_best_time_learns_from_the_audiences_opens(ed: TestClient, seeded: Hub) -> None:
    now = datetime.now(UTC)
    last_wed = (now.astimezone(SH) - timedelta(days=(now.astimezone(SH).weekday() - 2) % 7 or 7)).replace(
        hour=15, minute=10, second=0, microsecond=0
    )
    batch = [
        {
            "id": f"o{i}-{u}",
            "type": "open",
            "user_id": u,
            "asset_id": "a-educational-0",
            "channel": "app_push",
            "ts": (last_wed - timedelta(days=7 * i)).isoformat(),
        }
        for i in range(4)
        for u in MEMBERS
    ]
    assert events.ingest(seeded, batch).accepted == len(batch)
    heat = ed.get("/v1/best-times", params={"channel": "app_push", "audience": "group:g1"}).json()
    assert heat["events"] == len(batch) and heat["timezone"] == "Asia/Shanghai"
    assert heat["top_hours"][0] == [2, 15]
    assert len(heat["scores"]) == 7 and len(heat["scores"][0]) == 24
    assert abs(sum(map(sum, heat["scores"])) - 1) < 1e-3  # rounded to 6 decimals
    prior = ed.get("/v1/best-times", params={"channel": "app_push", "audience": "segment:s1"}).json()
    assert prior["events"] == 0 and prior["top_hours"][0] != [2, 15]
    assert ed.get("/v1/best-times", params={"channel": "app_push", "audience": "x"}).status_code == 422


def test_marketing_dates_are_editable_and_mark_the_week(ed: TestClient) -> None:
    dates = ed.get("/v1/marketing-dates").json()
    assert any(d["name"] == "双11" for d in dates)
    r = ed.put("/v1/marketing-dates", json=[*dates, {"name": "品牌日", "month": 7, "day": 7}])
    assert r.status_code == 200
    marks = ed.get("/v1/holidays", params={"week": WEEK.isoformat()}).json()
    assert marks == [{"date": "2027-07-07", "name": "品牌日", "kind": "marketing", "name_en": None, "estimated": False}]
    plan = make_plan(ed, channels=["app_push"])
    assert plan["holidays"] == marks
    assert any("holiday week" in r for s in plan["slots"] for r in s["rationale"])
    r = ed.put("/v1/marketing-dates", json=[{"name": "x", "month": 2, "day": 30}])
    assert r.status_code == 422


# ---- pages -----------------------------------------------------------------------------------------------------------


def test_calendar_page_shows_grid_caps_holidays_and_heat_map(ed: TestClient) -> None:
    make_plan(ed, date(2026, 9, 28), channels=FEW)  # 国庆 week
    html = ed.get("/calendar?week=2026-10-01", headers=ZH).text
    assert 'id="calendar-grid"' in html and html.count('class="slot ') >= 10
    assert "国庆节" in html and 'class="holiday statutory"' in html
    assert "日上限" in html and "/calendar?week=2026-09-21" in html and "/calendar?week=2026-10-05" in html
    assert html.count("--level:") == 7 * 24
    english = ed.get("/calendar?week=2026-10-01&lang=en").text
    assert "Next week" in english and "Per day" in english
    assert "no-plan" in ed.get("/calendar?week=2026-10-05", headers=ZH).text
    assert ed.get("/calendar?week=notadate").status_code == 200


def test_slot_page_edits_with_csrf_and_shows_refusals(api: Clients) -> None:
    ed = api.as_("editor")
    plan = make_plan(ed)
    sub = sorted((s for s in plan["slots"] if s["channel"] == "mp_subscription"), key=lambda s: s["start"])
    page = ed.get(f"/calendar/slots/{sub[0]['id']}?week={WEEK}")
    assert (
        page.status_code == 200
        and 'id="rationale"' in page.text
        and f"/library/assets/{sub[0]['asset_id']}" in page.text
    )
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": csrf, "week": WEEK.isoformat(), "start": local(sub[1]).strftime("%Y-%m-%dT08:00")}
    r = ed.post(f"/calendar/slots/{sub[0]['id']}/edit", data=form)
    assert r.status_code == 409 and "max_per_day" in r.text
    r = ed.post(f"/calendar/slots/{sub[0]['id']}/edit", data={**form, "csrf_token": "forged"})
    assert r.status_code == 403
    r = ed.post(
        f"/calendar/slots/{sub[0]['id']}/edit",
        data={"csrf_token": csrf, "week": WEEK.isoformat(), "locked": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert next(s for s in ed.get(f"/v1/plans/{WEEK}").json()["slots"] if s["id"] == sub[0]["id"])["locked"]


def test_history_keeps_the_last_versions(ed: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from contenthub.publish import service

    monkeypatch.setattr(service, "HISTORY_KEPT", 3)
    plan = make_plan(ed, channels=["app_push"])
    for _ in range(4):
        ed.patch(f"/v1/plans/{WEEK}/slots/{plan['slots'][0]['id']}", json={"locked": not plan["slots"][0]["locked"]})
        plan = ed.get(f"/v1/plans/{WEEK}").json()
    assert plan["version"] == 5
    assert [v["version"] for v in ed.get(f"/v1/plans/{WEEK}/versions").json()] == [5, 4, 3]
    assert ed.get(f"/v1/plans/{WEEK}?version=2").status_code == 404
    assert ed.get(f"/v1/plans/{WEEK}?version=3").json()["version"] == 3


# ---- time (issue 21): never the past, past days read-only and showing what was sent -----------------------------


def test_plan_of_the_current_week_starts_after_now_and_past_slots_are_read_only(api: Clients, seeded: Hub) -> None:
    ed = api.as_("editor")
    clock.pin(seeded, datetime(2026, 11, 20, tzinfo=SH))  # delivered events must be in the real past
    first = make_plan(ed, date(2026, 11, 30), channels=["app_push"])
    assert first["slots"]
    clock.pin(seeded, datetime(2026, 12, 3, 15, 0, tzinfo=SH))  # Thursday afternoon of that week
    replanned = ed.post("/v1/plans/2026-11-30/replan", json={}).json()
    assert replanned["version"] == 2, replanned
    now = datetime(2026, 12, 3, 15, 0, tzinfo=SH)
    past = [s for s in replanned["slots"] if local(s) < now]
    assert {s["id"] for s in past} <= {s["id"] for s in first["slots"]}, "the past is kept, not re-planned"
    future = [s for s in replanned["slots"] if local(s) >= now]
    assert future and all(local(s) >= now for s in future)
    r = ed.patch(f"/v1/plans/2026-11-30/slots/{future[0]['id']}", json={"start": "2026-12-02T20:00:00+08:00"})
    assert r.status_code == 409 and r.json()["error"]["field"] == "past"
    if past:
        r = ed.patch(f"/v1/plans/2026-11-30/slots/{past[0]['id']}", json={"start": "2026-12-05T20:00:00+08:00"})
        assert r.status_code == 409 and "read-only" in r.json()["error"]["message"]
        assert ed.delete(f"/v1/plans/2026-11-30/slots/{past[0]['id']}").status_code == 409
    delivered = [
        {
            "id": f"d{i}",
            "type": "delivered",
            "user_id": u,
            "asset_id": "a-practical-1",
            "channel": "app_push",
            "ts": "2026-12-01T12:05:00+08:00",
        }
        for i, u in enumerate(MEMBERS[:3])
    ]
    assert events.ingest(seeded, delivered).accepted == 3
    html = ed.get("/calendar?week=2026-11-30", headers=ZH).text
    assert 'data-sent-asset="a-practical-1"' in html and "×3" in html and "已过去" in html


# ---- channels (issue 21): an asset goes only where it is tagged, unless an editor overrides it -------------------


def test_swap_into_an_untagged_channel_is_refused_in_the_users_language_unless_overridden(
    ed: TestClient, seeded: Hub
) -> None:
    line = json.dumps(
        {
            "id": "a-1v1-only",
            "title": "一对一专属话术",
            "kind": "text_script",
            "content_type": "practical",
            "status": "approved",
            "channels": ["wecom_1v1"],
        },
        ensure_ascii=False,
    )
    assert library.import_jsonl(seeded, [line], "test").imported == 1
    plan = make_plan(ed, channels=["mp_subscription", "app_push"])
    sub = next(s for s in plan["slots"] if s["channel"] == "mp_subscription")
    r = ed.patch(f"/v1/plans/{WEEK}/slots/{sub['id']}", json={"asset_id": "a-1v1-only"})
    assert r.status_code == 409 and r.json()["error"]["field"] == "channel"
    assert "is not tagged for" in r.json()["error"]["message"]  # the test client asks for English
    zh = ed.patch(f"/v1/plans/{WEEK}/slots/{sub['id']}", json={"asset_id": "a-1v1-only"}, headers=ZH).json()
    assert "订阅号" in zh["error"]["message"] and "企业微信" in zh["error"]["message"]
    r = ed.patch(f"/v1/plans/{WEEK}/slots/{sub['id']}?lang=en", json={"asset_id": "a-1v1-only"})
    assert r.status_code == 409 and "is not tagged for" in r.json()["error"]["message"]
    r = ed.patch(f"/v1/plans/{WEEK}/slots/{sub['id']}", json={"asset_id": "a-1v1-only", "override_channel": True})
    assert r.status_code == 422
    r = ed.patch(
        f"/v1/plans/{WEEK}/slots/{sub['id']}",
        json={"asset_id": "a-1v1-only", "override_channel": True, "override_reason": "老板要求本周订阅号也发"},
    )
    assert r.status_code == 200, r.text
    record = r.json()["slot"]["overrides"][0]
    assert record["by"] == "test-editor" and record["reason"] == "老板要求本周订阅号也发"
    assert record["channel"] == "mp_subscription" and record["at"]
    page = ed.get(f"/calendar/slots/{sub['id']}?week={WEEK}").text
    assert "老板要求本周订阅号也发" in page and 'id="overrides"' in page


def test_two_slots_trade_places_and_approve_all(ed: TestClient, seeded: Hub) -> None:
    plan = make_plan(ed, channels=["wecom_group", "app_push"])
    group = next(s for s in plan["slots"] if s["channel"] == "wecom_group")
    push = next(s for s in plan["slots"] if s["channel"] == "app_push")
    r = ed.post(f"/v1/plans/{WEEK}/slots/{group['id']}/swap", json={"other": push["id"]})
    assert r.status_code in (200, 409), r.text
    if r.status_code == 200:
        moved = {s["id"]: s for s in r.json()}
        assert moved[group["id"]]["channel"] == "app_push" and moved[group["id"]]["start"] == push["start"]
        assert moved[push["id"]]["channel"] == "wecom_group"
        assert any("time set by hand" in x for x in moved[group["id"]]["rationale"])
        assert not any("best-time score" in x for x in moved[group["id"]]["rationale"])
        rows = list(csv.DictReader(io.StringIO(ed.get(f"/v1/plans/{WEEK}/export.csv").text.lstrip("\ufeff"))))
        row = next(x for x in rows if x["slot_id"] == group["id"])
        assert "time set by hand" in row["rationale"]
    else:
        assert r.json()["error"]["cap"]
    assert ed.post(f"/v1/plans/{WEEK}/slots/{group['id']}/swap", json={"other": group["id"]}).status_code == 422
    r = ed.post(f"/v1/plans/{WEEK}/approve", json={"channel": "app_push"})
    assert r.status_code == 200
    after = ed.get(f"/v1/plans/{WEEK}").json()["slots"]
    assert all(s["status"] == "approved" for s in after if s["channel"] == "app_push")
    assert all(s["status"] == "draft" for s in after if s["channel"] == "wecom_group")


# ---- holidays in every year (issue 21) ---------------------------------------------------------------------------


def test_estimated_spring_festival_2027_in_the_api_the_calendar_and_the_ics(ed: TestClient) -> None:
    marks = ed.get("/v1/holidays", params={"week": "2027-02-01"}).json()
    spring = [m for m in marks if m["name"] == "春节"]
    assert [m["date"] for m in spring] == ["2027-02-05", "2027-02-06", "2027-02-07"]
    assert all(m["estimated"] and m["kind"] == "statutory" for m in spring)
    make_plan(ed, date(2027, 2, 1), channels=["app_push"])
    html = ed.get("/calendar?week=2027-02-01", headers=ZH).text
    assert "春节（预计）" in html and "(Spring Festival)" not in html and "holiday statutory estimated" in html
    assert "Spring Festival (estimated)" in ed.get("/calendar?week=2027-02-01&lang=en").text
    cal = icalendar.Calendar.from_ical(ed.get("/v1/plans/2027-02-01/export.ics?lang=zh").content)
    titles = [str(e["SUMMARY"]) for e in cal.walk("VEVENT")]
    assert "春节（预计）" in titles and not any(t.startswith("[app_push]") for t in titles)
    english = icalendar.Calendar.from_ical(ed.get("/v1/plans/2027-02-01/export.ics?lang=en").content)
    assert "Spring Festival (estimated)" in [str(e["SUMMARY"]) for e in english.walk("VEVENT")]
    assert any(str(e["SUMMARY"]).startswith("[App push] ") for e in english.walk("VEVENT"))
    rows = list(csv.DictReader(io.StringIO(ed.get("/v1/plans/2027-02-01/export.csv").content.decode("utf-8-sig"))))
    assert rows and rows[0]["channel_name"] != "app_push"


# ---- season and validity (issue 21) ------------------------------------------------------------------------------


def test_out_of_season_wording_is_flagged_and_not_planned_and_campaign_links_resolve(
    ed: TestClient, seeded: Hub
) -> None:
    lines = [
        json.dumps(
            {
                "id": f"s-{i}",
                "title": title,
                "kind": "article",
                "content_type": "promotional",
                "status": "approved",
                "channels": ["app_push"],
            },
            ensure_ascii=False,
        )
        for i, title in enumerate(["女神节快乐！全场满99减10", "618狂欢价", "国庆特别企划"])
    ]
    assert library.import_jsonl(seeded, lines, "test").imported == 3
    # pinned to December: none of the three is in season, so the plan never picks them
    clock.pin(seeded, datetime(2026, 12, 6, 15, tzinfo=SH))
    plan = make_plan(ed, date(2026, 12, 7), channels=["app_push"])
    assert plan["slots"] and not {s["asset_id"] for s in plan["slots"]} & {"s-0", "s-1", "s-2"}
    page = ed.get("/library/assets/s-0", headers=ZH).text
    assert "seasonal-flag" in page and "女神节" in page and "没有设置投放时间窗" in page
    assert "seasonal-flag" not in ed.get("/library/assets/a-practical-1", headers=ZH).text
    # a campaign link resolves into the effective window the recommender and the planner already honour
    r = ed.patch("/v1/assets/s-2", json={"campaign": {"occasion": "国庆", "days_before": 10, "days_after": 2}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["campaign"]["occasion"] == "国庆" and body["valid_from"].startswith("2027-09-20")
    assert body["valid_until"].startswith("2027-10-03")
    assert "seasonal-flag" not in ed.get("/library/assets/s-2", headers=ZH).text
    r = ed.patch("/v1/assets/s-1", json={"campaign": {"occasion": "光棍节前夜"}})
    assert r.status_code == 422 and "unknown occasion" in r.json()["error"]["message"]
    r = ed.patch("/v1/assets/s-1", json={"campaign": {"occasion": "618"}, "valid_from": "2027-06-01T00:00:00Z"})
    assert r.status_code == 422


# ---- the calendar page (issue 21) --------------------------------------------------------------------------------


def test_calendar_page_has_drag_and_drop_approve_all_month_view_picker_and_no_inline_script(
    ed: TestClient, seeded: Hub
) -> None:
    plan = make_plan(ed, channels=["wecom_group", "app_push"])
    html = ed.get(f"/calendar?week={WEEK}", headers=ZH).text
    assert '<script src="/static/calendar.js" defer></script>' in html
    assert "<script>" not in html and "onchange=" not in html and "onclick=" not in html
    assert 'draggable="true"' in html and 'id="dnd-move"' in html and 'id="dnd-swap"' in html
    assert 'id="approve-week"' in html and 'data-approve-channel="app_push"' in html
    assert ed.get("/static/calendar.js").status_code == 200
    csrf = html.split('name="csrf_token" value="')[1].split('"')[0]
    r = ed.post(
        "/calendar/approve",
        data={"csrf_token": csrf, "week": WEEK.isoformat(), "channel": "app_push"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    slots = ed.get(f"/v1/plans/{WEEK}").json()["slots"]
    assert all(s["status"] == "approved" for s in slots if s["channel"] == "app_push")
    month = ed.get("/calendar/month?month=2027-07", headers=ZH).text
    assert 'id="month-grid"' in month and f"/calendar?week={WEEK}" in month
    feb = ed.get("/calendar/month?month=2027-02", headers=ZH).text
    assert "春节（预计）" in feb and "元宵节" in feb
    assert ed.get("/calendar/month?month=nope").status_code == 200
    # the slot page: the rule in words, an asset picker instead of an id box
    slot = next(s for s in plan["slots"] if s["channel"] == "app_push")
    page = ed.get(f"/calendar/slots/{slot['id']}?week={WEEK}", headers=ZH).text
    assert (
        'id="rule-words"' in page and '"max_per_day"' not in page and "{" not in page.split('id="rule-words"')[1][:300]
    )
    assert 'id="picker-form"' in page and page.count('class="secondary use-asset"') >= 1
    found = ed.get(
        f"/calendar/slots/{slot['id']}?week={WEEK}&search=1&q=护眼&content_type=practical&channel=", headers=ZH
    ).text
    assert 'data-asset-id="a-practical-' in found
    # a drag to another channel that the asset is not tagged for is refused with an override form
    line = json.dumps(
        {
            "id": "a-sms-only",
            "title": "短信专用",
            "kind": "text_script",
            "content_type": "practical",
            "status": "approved",
            "channels": ["sms"],
        },
        ensure_ascii=False,
    )
    assert library.import_jsonl(seeded, [line], "test").imported == 1
    form = {"csrf_token": csrf, "week": WEEK.isoformat(), "asset_id": "a-sms-only"}
    r = ed.post(f"/calendar/slots/{slot['id']}/edit", data=form)
    assert r.status_code == 409 and 'id="override-form"' in r.text and "短信" in r.text
    r = ed.post(
        f"/calendar/slots/{slot['id']}/edit",
        data={**form, "override_channel": "1", "override_reason": "测试渠道强制"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "测试渠道强制" in ed.get(f"/calendar/slots/{slot['id']}?week={WEEK}", headers=ZH).text
    assert 'class="override-mark"' in ed.get(f"/calendar?week={WEEK}", headers=ZH).text
