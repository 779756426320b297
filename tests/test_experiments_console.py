"""Experiments from the console (issue 22, item 7): create with what is tested and the analysis method,
start, stop; errors beside the fields with what was entered kept, never a JSON page."""

from __future__ import annotations

from tests.test_pages import _csrf, login

BASE = {
    "key": "rank-test",
    "name": "排序对比",
    "hypothesis": "内容相似度更好",
    "change": "strategy",
    "unit": "user",
    "treatment_weight": "50",
    "control_strategy": "default",
    "treatment_strategy": "content",
    "primary_metric": "ctr",
    "method": "sequential",
    "correction": "none",
    "alpha": "0.05",
    "mde": "0.1",
}


def test_create_start_stop_from_the_console(clients) -> None:
    c = login(clients)
    listing = c.get("/experiments")
    assert 'href="/experiments/new"' in listing.text
    form = c.get("/experiments/new")
    assert form.status_code == 200 and 'name="method"' in form.text
    r = c.post("/experiments/new", data={**BASE, "csrf_token": _csrf(form.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/experiments/rank-test", r.text[:500]
    exp = clients.as_("viewer").get("/v1/experiments/rank-test").json()
    assert exp["sequential"] is True and exp["change"] == "strategy" and exp["status"] == "draft"
    assert [v.get("strategy") for v in exp["variants"]] == ["default", "content"]
    page = c.get("/experiments/rank-test")
    assert 'id="start-experiment"' in page.text
    assert (
        c.post(
            "/experiments/rank-test/start", data={"csrf_token": _csrf(page.text)}, follow_redirects=False
        ).status_code
        == 303
    )
    page = c.get("/experiments/rank-test")
    assert 'id="stop-experiment"' in page.text
    c.post("/experiments/rank-test/stop", data={"csrf_token": _csrf(page.text)})
    assert clients.as_("viewer").get("/v1/experiments/rank-test").json()["status"] == "stopped"
    again = c.post("/experiments/rank-test/stop", data={"csrf_token": _csrf(page.text)}, params={"lang": "zh"})
    assert again.status_code == 409 and again.headers["content-type"].startswith("text/html")
    assert 'href="/experiments/rank-test"' in again.text


def test_cadence_and_journey_experiments(clients) -> None:
    c = login(clients)
    token = _csrf(c.get("/experiments/new").text)
    r = c.post(
        "/experiments/new",
        data={
            **BASE,
            "csrf_token": token,
            "key": "cad",
            "change": "cadence",
            "cadence_channel": "wecom_group",
            "cadence_max_per_week": "2",
            "method": "fixed_horizon",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:800]
    exp = clients.as_("viewer").get("/v1/experiments/cad").json()
    assert exp["unit"] == "group" and exp["variants"][1]["rules"][0]["max_per_week"] == 2 and not exp["sequential"]
    r = c.post(
        "/experiments/new",
        data={**BASE, "csrf_token": token, "key": "jx", "change": "journey", "journey_from": "", "journey_to": ""},
    )
    assert r.status_code == 422 and 'id="error-journey_from"' in r.text


def test_form_errors_beside_fields_with_values_kept(clients) -> None:
    c = login(clients)
    token = _csrf(c.get("/experiments/new").text)
    r = c.post("/experiments/new", data={**BASE, "csrf_token": token, "key": "Bad Key!"}, params={"lang": "zh"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert 'id="error-key"' in r.text and 'value="Bad Key!"' in r.text and 'value="排序对比"' in r.text
    r = c.post("/experiments/new", data={**BASE, "csrf_token": token, "treatment_weight": "abc"})
    assert r.status_code == 422 and 'id="error-treatment_weight"' in r.text
    r = c.post("/experiments/new", data={**BASE, "csrf_token": token, "treatment_strategy": "default"})
    assert r.status_code == 422 and 'id="error-treatment_strategy"' in r.text
    r = c.post("/experiments/new", data={**BASE, "csrf_token": token, "key": "new"})
    assert r.status_code == 422 and 'id="error-key"' in r.text
    c.post("/experiments/new", data={**BASE, "csrf_token": token})
    dup = c.post("/experiments/new", data={**BASE, "csrf_token": token})
    assert dup.status_code == 409 and 'id="error-key"' in dup.text
    viewer = login(clients, "viewer")
    assert 'href="/experiments/new"' not in viewer.get("/experiments").text
    assert viewer.get("/experiments/new").status_code == 403
