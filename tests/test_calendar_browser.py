"""The calendar in a real browser: log in as an editor, generate next week's plan, see slots, open one."""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.browser import LiveServer, loads_new_page, login

pytestmark = pytest.mark.browser


def _next_monday(timezone: str) -> date:
    """Next week's Monday where the hub plans (not where CI runs: on a Sunday evening UTC, Shanghai's week has
    already begun, and "next Monday" by the machine's date would be a week partly in the past)."""
    today = datetime.now(ZoneInfo(timezone)).date()
    return today + timedelta(days=7 - today.weekday())


def test_calendar_generates_renders_and_opens_a_slot(live_server: LiveServer, browser) -> None:
    from selenium.webdriver.common.by import By

    week = _next_monday(live_server.settings.timezone)
    login(browser, live_server, "editor", lang="zh")
    browser.get(f"{live_server.url}/calendar?week={week.isoformat()}")
    assert browser.find_element(By.ID, "no-plan").is_displayed()
    # plan for everyone and one demo group, through the page's own form (CSRF included)
    group_box = browser.find_element(By.CSS_SELECTOR, "#plan-form input[name=audiences][value='group:g-coffee']")
    browser.execute_script("arguments[0].scrollIntoView()", group_box)
    group_box.click()
    loads_new_page(browser, browser.find_element(By.ID, "generate-button").click, timeout=120)
    assert browser.find_element(By.ID, "plan-version").is_displayed()

    slots = browser.find_elements(By.CSS_SELECTOR, "#calendar-grid a.slot")
    assert len(slots) >= 10, "a week of demo content fills the grid"
    channels_with_slots = {s.find_element(By.XPATH, "./ancestor::tr").get_attribute("data-channel") for s in slots}
    assert {"mp_subscription", "wecom_group"} <= channels_with_slots
    assert browser.find_elements(By.CSS_SELECTOR, "#calendar-grid .cap"), "caps used are shown per channel"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#heatmap table.heat td")) == 7 * 24
    header = browser.find_element(By.ID, "week-title").text
    assert week.isoformat() in header and "发布日历" in header

    shot = Path(os.environ.get("CONTENTHUB_SCREENSHOT_DIR", tempfile.gettempdir())) / f"calendar-{week}.png"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1600, min(int(height) + 120, 4000))  # the whole page, not just the viewport
    assert browser.save_screenshot(str(shot))
    print(f"calendar screenshot: {shot}")

    # keyboard drag and drop: Space picks a slot up, Enter drops it on another day's cell of its row
    from selenium.webdriver.common.keys import Keys

    movable = browser.find_elements(By.CSS_SELECTOR, "#calendar-grid a.slot.movable")
    assert movable, "future draft slots can be moved"
    mover = movable[0]
    row = mover.find_element(By.XPATH, "./ancestor::tr")
    here = mover.find_element(By.XPATH, "./ancestor::td").get_attribute("data-date")
    target = next(c for c in row.find_elements(By.CSS_SELECTOR, "td.cell.drop") if c.get_attribute("data-date") != here)
    browser.execute_script("arguments[0].scrollIntoView(); arguments[0].focus()", mover)
    mover.send_keys(Keys.SPACE)
    assert "picked" in mover.get_attribute("class") and target.get_attribute("tabindex") == "0"
    browser.execute_script("arguments[0].focus()", target)
    loads_new_page(browser, lambda: target.send_keys(Keys.ENTER))
    # the move either went through (slot page, saved) or was refused with the cap that stops it
    assert browser.find_elements(By.ID, "slot-flash") or browser.find_elements(By.ID, "slot-error")
    assert not [e for e in browser.get_log("browser") if e.get("source") == "javascript"], "no script errors"
    # mouse drag and drop: the browser's own drag events (dispatched, as headless chromium has no real mouse)
    browser.get(f"{live_server.url}/calendar?week={week.isoformat()}")
    drag = browser.find_elements(By.CSS_SELECTOR, "#calendar-grid a.slot.movable")[-1]
    onto = next(
        c
        for c in drag.find_element(By.XPATH, "./ancestor::tr").find_elements(By.CSS_SELECTOR, "td.cell.drop")
        if c.get_attribute("data-date") != drag.find_element(By.XPATH, "./ancestor::td").get_attribute("data-date")
    )
    loads_new_page(
        browser,
        lambda: browser.execute_script(
            """
        const [slot, cell] = arguments, data = new DataTransfer();
        for (const [el, type] of [[slot, 'dragstart'], [cell, 'dragover'], [cell, 'drop'], [slot, 'dragend']]) {
          el.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
        }""",
            drag,
            onto,
        ),
    )
    assert browser.find_elements(By.ID, "slot-flash") or browser.find_elements(By.ID, "slot-error")
    browser.get(f"{live_server.url}/calendar?week={week.isoformat()}")
    slots = browser.find_elements(By.CSS_SELECTOR, "#calendar-grid a.slot")

    first = slots[0]
    slot_id = first.get_attribute("data-slot-id")
    browser.execute_script("arguments[0].scrollIntoView()", first)
    loads_new_page(browser, first.click)
    assert slot_id in browser.current_url
    assert browser.find_elements(By.CSS_SELECTOR, "#rationale li"), "every slot says why"
    assert (
        browser.find_element(By.ID, "asset-link").get_attribute("href").startswith(f"{live_server.url}/library/assets/")
    )
    loads_new_page(browser, browser.find_element(By.ID, "status-approved").click)
    assert browser.find_element(By.ID, "slot-flash").is_displayed()
    assert browser.find_element(By.ID, "slot-status").text == "已通过"

    browser.get(f"{live_server.url}/calendar?week={week.isoformat()}&lang=en")
    assert "Calendar" in browser.find_element(By.ID, "week-title").text
    loads_new_page(browser, browser.find_element(By.ID, "next-week").click)
    assert (week + timedelta(days=7)).isoformat() in browser.find_element(By.ID, "week-title").text
