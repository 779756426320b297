"""Journeys from the console (issue 22, item 7): the form-based builder, the flow view with step-to-step
conversion and drop-off, no pause on a draft, and a 1:1 journey's step refused on a group channel."""

from __future__ import annotations

import pytest

from contenthub.errors import InvalidError
from contenthub.journeys import funnel, service
from contenthub.journeys.flow import build as build_flow
from contenthub.journeys.models import JourneyIn
from tests.test_pages import _csrf, login


def _builder_data(token: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": "新客欢迎",
        "trigger_kind": "identity_added",
        "trigger_value": "external_userid",
        "wait_days_0": "0",
        "channel_0": "wecom_1v1",
        "scene_0": "onboarding",
        "wait_days_1": "2",
        "channel_1": "wecom_1v1",
        "scene_1": "first_order",
        "condition_1": "converted",
        "negate_1": "on",
        **extra,
    }


def test_builder_creates_a_draft_journey_and_the_editor_shows_its_flow(clients) -> None:
    c = login(clients)
    page = c.get("/journeys")
    assert 'id="journey-builder"' in page.text
    r = c.post("/journeys/build", data=_builder_data(_csrf(page.text)), follow_redirects=False)
    assert r.status_code == 303, r.text[-2000:]
    journey_id = r.headers["location"].split("/")[2].split("?")[0]
    j = service.get(clients.hub, journey_id)
    assert j.status == "draft" and [s.channel for s in j.steps] == ["wecom_1v1", "wecom_1v1"]
    assert j.steps[1].wait.days == 2 and j.steps[1].condition.kind == "converted" and j.steps[1].condition.negate
    editor = c.get(r.headers["location"], params={"lang": "zh"}).text
    assert 'id="journey-flow"' in editor and 'id="flow-s2"' in editor
    assert 'id="status-paused"' not in editor and 'id="status-active"' in editor  # no 暂停 on a draft


def test_builder_errors_beside_the_row_with_values_kept(clients) -> None:
    c = login(clients)
    token = _csrf(c.get("/journeys").text)
    r = c.post("/journeys/build", data=_builder_data(token, channel_1="wecom_group"), params={"lang": "zh"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert 'id="error-step-1"' in r.text and "1:1" in r.text and 'value="新客欢迎"' in r.text
    r = c.post("/journeys/build", data=_builder_data(token, wait_days_1="两天"))
    assert r.status_code == 422 and 'id="error-step-1"' in r.text and 'value="两天"' in r.text
    r = c.post("/journeys/build", data=_builder_data(token, name=""))
    assert r.status_code == 422 and 'id="error-name"' in r.text
    assert login(clients, "viewer").post("/journeys/build", data=_builder_data(token)).status_code == 403


def test_a_one_to_one_step_moved_to_a_group_channel_is_refused_with_a_reason(clients) -> None:
    hub = clients.hub
    body = {
        "name": "1v1",
        "trigger": {"kind": "manual"},
        "steps": [{"id": "a", "channel": "wecom_1v1"}, {"id": "b", "channel": "sms"}],
    }
    j = service.save(hub, JourneyIn.model_validate(body), "t")
    moved = {**body, "steps": [{"id": "a", "channel": "wecom_1v1"}, {"id": "b", "channel": "wecom_group"}]}
    with pytest.raises(InvalidError) as err:
        service.save(hub, JourneyIn.model_validate(moved), "t", journey_id=j.id)
    assert err.value.field == "steps.1.channel"
    # a journey for groups may post to the group
    service.save(
        hub,
        JourneyIn.model_validate(
            {"name": "群", "trigger": {"kind": "group_joined"}, "steps": [{"id": "hi", "channel": "wecom_group"}]}
        ),
        "t",
    )
    c = login(clients)
    page = c.get(f"/journeys/{j.id}")
    r = c.post(
        f"/journeys/{j.id}/steps/b",
        data={"csrf_token": _csrf(page.text), "expected_version": "1", "channel": "wecom_group"},
        params={"lang": "zh"},
    )
    assert r.status_code == 422 and "1:1" in r.text and r.headers["content-type"].startswith("text/html")


def test_a_draft_cannot_be_paused(clients) -> None:
    hub = clients.hub
    j = service.save(
        hub,
        JourneyIn.model_validate(
            {"name": "d", "trigger": {"kind": "manual"}, "steps": [{"id": "a", "channel": "sms"}]}
        ),
        "t",
    )
    with pytest.raises(InvalidError):
        service.set_status(hub, j.id, "paused", "t")
    assert service.set_status(hub, j.id, "active", "t").status == "active"
    assert service.set_status(hub, j.id, "paused", "t").status == "paused"
    assert "paused" not in service.next_statuses("draft") and "paused" in service.next_statuses("active")


def test_flow_conversion_and_drop_off_from_the_funnel(clients) -> None:
    hub = clients.hub
    j = service.save(
        hub,
        JourneyIn.model_validate(
            {
                "name": "f",
                "status": "active",
                "trigger": {"kind": "manual"},
                "steps": [
                    {"id": "a", "channel": "sms"},
                    {"id": "b", "channel": "sms", "wait": {"days": 1}},
                    {"id": "c", "channel": "sms", "wait": {"days": 1}},
                ],
            }
        ),
        "t",
    )
    key = funnel.key(j.id, j.version)
    funnel.bump(
        hub,
        {
            (key, "_:entered"): 10,
            (key, "a:entered"): 10,
            (key, "b:entered"): 6,
            (key, "c:entered"): 3,
            (key, "c:waiting"): 1,
        },
    )
    flow = build_flow(j, funnel.build(hub, j.id))
    ab, bc = [e for e in flow.edges if e.kind == "next"]
    assert (ab.reached, ab.conversion, ab.drop_off) == (6, 0.6, 0.4)
    assert (bc.reached, bc.conversion) == (4, round(4 / 6, 4))
    assert flow.first_conversion == 1.0
