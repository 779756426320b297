"""The operations dashboard in a real browser: every page draws its charts with the locally served plotly.js."""

from __future__ import annotations

import os

import pytest

from contenthub.dashboard import rollup
from tests.browser import LiveServer, login

pytestmark = pytest.mark.browser
PAGES = ("retention", "retention?by=source", "channels", "fatigue?channel=wecom_1v1", "ltv", "ltv?by=source&lang=en")


def test_each_dashboard_page_renders_charts_or_says_what_is_missing(live_server: LiveServer, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    rollup.refresh(live_server.hub)  # other browser tests add data to the shared demo server
    login(browser, live_server, "viewer", lang="zh")
    for page in PAGES:
        browser.get(f"{live_server.url}/dashboard/{page}")
        charts = browser.find_elements(By.CSS_SELECTOR, ".chart[data-figure]")
        missing = browser.find_elements(By.CSS_SELECTOR, "[data-chart-missing]")
        assert charts, f"{page}: no chart at all (missing: {[m.text for m in missing]})"
        assert all(m.text.strip() for m in missing), f"{page}: a chart is missing without saying why"
        WebDriverWait(browser, 30).until(
            lambda d: all(
                c.get_attribute("data-rendered") == "1" for c in d.find_elements(By.CSS_SELECTOR, ".chart[data-figure]")
            ),
            message=f"{page}: plotly did not draw every chart",
        )
        for chart in browser.find_elements(By.CSS_SELECTOR, ".chart[data-figure]"):
            assert chart.find_elements(By.CSS_SELECTOR, "svg.main-svg"), (
                f"{page}: {chart.get_attribute('data-chart')} drew no SVG"
            )
        assert "NaN" not in browser.find_element(By.TAG_NAME, "main").text
        if os.environ.get("CONTENTHUB_SCREENSHOTS"):
            browser.save_screenshot(os.path.join(os.environ["CONTENTHUB_SCREENSHOTS"], page.split("?")[0] + ".png"))

    # the hover layer is live: plotly drew its interactive drag layer over the heat map
    browser.get(f"{live_server.url}/dashboard/retention")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#retention-triangle .nsewdrag"))
    # the table and CSV export of a chart
    section = browser.find_element(By.ID, "retention-triangle")
    summary = section.find_element(By.TAG_NAME, "summary")
    # at the window's bottom edge the chart's drag layer can sit over it while plotly resizes: centre it first
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", summary)
    WebDriverWait(browser, 10).until(lambda d: summary.is_displayed() and summary.is_enabled())
    summary.click()
    assert section.find_elements(By.CSS_SELECTOR, "table tbody tr")
    assert section.find_element(By.CSS_SELECTOR, "a.csv").get_attribute("href").endswith("format=csv")
