"""The experiment report in a real browser, on the live demo server plus one simulated experiment."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from contenthub.experiments import service
from contenthub.experiments.models import ExperimentCreate
from contenthub.experiments.simulator import SimConfig, run_simulation
from tests.browser import LiveServer, loads_new_page, login

pytestmark = pytest.mark.browser


def test_report_page_renders_tables_charts_health_and_summary(live_server: LiveServer, browser) -> None:
    from selenium.webdriver.common.by import By

    hub = live_server.hub
    sim = run_simulation(hub, SimConfig(key="demo-rank", users=800, days=5, sends=1, lift=0.4, seed=3))
    service.create_experiment(
        hub,
        ExperimentCreate.model_validate(
            {
                "key": "copy-draft",
                "unit": "user",
                "change": "strategy",
                "variants": [{"name": "A", "weight": 0.5}, {"name": "B", "weight": 0.5, "strategy": "content"}],
            }
        ),
    )

    login(browser, live_server, "editor", lang="zh")
    browser.get(f"{live_server.url}/experiments")
    keys = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.exp-link")]
    assert set(keys) == {"demo-rank", "copy-draft"}

    browser.get(f"{live_server.url}/experiments/demo-rank?lang=zh")
    summary = browser.find_element(By.ID, "summary").text
    assert "点击率" in summary and "护栏指标" in summary, summary
    assert browser.find_elements(By.CSS_SELECTOR, "#health .banner")
    tables = browser.find_elements(By.CSS_SELECTOR, "table.metric")
    assert [t.get_attribute("data-metric") for t in tables][0] == "ctr" and len(tables) == 5
    ctr_row = tables[0].find_elements(By.CSS_SELECTOR, "tr.treatment td")
    assert ctr_row[0].text == "treatment" and int(ctr_row[1].text) == sim.units["treatment"]
    for chart_id in ("difference-chart", "cumulative-chart"):
        svg = browser.find_element(By.CSS_SELECTOR, f"#{chart_id} svg")
        assert svg.size["height"] > 150 and svg.size["width"] > 300, (chart_id, svg.size)
    # the decision, its rule in words with the checks behind it, and the plan fixed at creation
    decision = browser.find_element(By.ID, "decision")
    assert decision.is_displayed() and browser.find_element(By.ID, "verdict").text
    assert browser.find_element(By.ID, "decision-rule").text.endswith("。")
    assert browser.find_elements(By.CSS_SELECTOR, "#decision ul.checks li")
    assert "创建时已固定" in browser.find_element(By.ID, "plan-status").text
    assert "个百分点" in tables[0].text  # rate differences in percentage points

    shot = Path(os.environ.get("CONTENTHUB_SCREENSHOT_DIR", tempfile.gettempdir())) / "experiment-report.png"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, min(int(height) + 120, 5000))  # the whole report, not just the viewport
    assert browser.save_screenshot(str(shot))
    print(f"experiment report screenshot: {shot}")
    browser.set_window_size(1440, 1000)

    # a "what if" is one click away, and it is labelled exploratory and gives no decision
    what_if = browser.find_element(By.CSS_SELECTOR, "a.what-if")
    loads_new_page(browser, what_if.click)
    assert "探索性视图" in browser.find_element(By.ID, "exploratory").text
    assert browser.find_element(By.ID, "decision-note").text
    assert not browser.find_elements(By.ID, "verdict")

    # the calculator on the list page
    browser.get(f"{live_server.url}/experiments?lang=en")
    field = browser.find_element(By.NAME, "units_per_day")
    field.clear()
    field.send_keys("2000")
    loads_new_page(browser, browser.find_element(By.CSS_SELECTOR, "#planner button").click)
    assert "at 2,000 units/day that is 32 days" in browser.find_element(By.ID, "plan-result").text

    browser.get(f"{live_server.url}/experiments/copy-draft?lang=en")
    banner = browser.find_element(By.ID, "no-exposures")
    assert banner.is_displayed() and "No exposures yet" in banner.text
    assert not browser.find_elements(By.CSS_SELECTOR, "table.metric")
