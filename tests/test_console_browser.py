"""The console flows of issue 22 in a real browser (Debian chromium), in Chinese: role-shaped navigation,
keys page, one suggestion chip at a time, user filters and a saved segment, an experiment created, started and
stopped, and a journey built from drop-downs with its flow view."""

from __future__ import annotations

import pytest

from contenthub.audience import segments
from contenthub.experiments import service as experiments
from contenthub.journeys import service as journeys
from contenthub.library import service as library
from contenthub.library.models import AssetCreate
from tests.browser import LiveServer, loads_new_page, login, serve_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(embedder):
    """A demo server of this module's own: the keys, assets, segments, experiments and journeys these flows
    create must not show up in other modules' pages (they assert exact lists)."""
    with serve_demo(embedder, prefix="contenthub-console-") as server:
        yield server


def _by():
    from selenium.webdriver.common.by import By

    return By


def _select(driver, name: str, value: str, scope=None) -> None:
    from selenium.webdriver.support.ui import Select

    Select((scope or driver).find_element(_by().NAME, name)).select_by_value(value)


def test_viewer_sees_no_upload_link_and_a_bot_key_cannot_log_in(live_server: LiveServer, browser) -> None:
    By = _by()
    login(browser, live_server, "viewer")
    nav = browser.find_element(By.CSS_SELECTOR, "header nav").get_attribute("innerHTML")
    assert "/library/upload" not in nav and "/admin/keys" not in nav and "/users" in nav
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/login?lang=zh")
    assert "管理员" in browser.find_element(By.ID, "login-hint").text
    field = browser.find_element(By.NAME, "key")
    field.send_keys(live_server.keys["bot"])
    loads_new_page(browser, field.submit)
    assert "/login" in browser.current_url and "机器人密钥" in browser.find_element(By.CSS_SELECTOR, ".error").text
    browser.delete_all_cookies()


def test_admin_creates_a_key_on_the_keys_page(live_server: LiveServer, browser) -> None:
    By = _by()
    login(browser, live_server, "admin")
    browser.get(f"{live_server.url}/admin/keys")
    browser.find_element(By.NAME, "name").send_keys("运营小王")
    _select(browser, "role", "editor")
    loads_new_page(browser, browser.find_element(By.ID, "create-key").click)
    secret = browser.find_element(By.ID, "new-secret").text
    assert secret.startswith("chk_")
    browser.get(f"{live_server.url}/admin/keys")
    assert secret not in browser.page_source and "运营小王" in browser.page_source
    browser.delete_all_cookies()


def test_one_chip_accepted_alone(live_server: LiveServer, browser) -> None:
    By = _by()
    hub = live_server.hub
    created = library.create_asset(
        hub, AssetCreate(title="护眼小课堂：20-20-20 法则", body="每用眼20分钟，远眺20秒，保护视力的知识科普"), "test"
    )
    asset = hub.store.get_asset(created.id)
    assert asset["suggestions"]["scenes"] and not asset["scenes"]
    login(browser, live_server, "editor")
    browser.get(f"{live_server.url}/library/assets/{asset['id']}?lang=zh")
    row = browser.find_element(By.CSS_SELECTOR, '#suggestions li[data-facet="scenes"]')
    assert row.find_element(By.CSS_SELECTOR, ".facet-label").text == "场景"
    chip = row.find_elements(By.CSS_SELECTOR, ".chip.sug")[-1]
    label = chip.get_attribute("data-label")
    loads_new_page(browser, chip.find_element(By.CSS_SELECTOR, ".chip-accept").click)
    stored = hub.store.get_asset(asset["id"])
    assert stored["scenes"] == [label]
    browser.delete_all_cookies()


def test_users_filter_and_segment_saved_with_its_count(live_server: LiveServer, browser) -> None:
    By = _by()
    login(browser, live_server, "editor")
    browser.get(f"{live_server.url}/users?lang=zh")
    _select(browser, "source", "douyin")
    loads_new_page(browser, browser.find_element(By.CSS_SELECTOR, "#user-filters button[type=submit]").click)
    shown = len(browser.find_elements(By.CSS_SELECTOR, "tr.user-row"))
    count_text = browser.find_element(By.ID, "user-count").text
    assert str(shown) in count_text
    loads_new_page(browser, browser.find_element(By.ID, "save-as-segment").click)
    browser.find_element(By.NAME, "name").send_keys("抖音来源用户")
    loads_new_page(browser, browser.find_element(By.ID, "preview-button").click)
    assert str(shown) in browser.find_element(By.ID, "preview-count").text
    loads_new_page(browser, browser.find_element(By.ID, "save-segment").click)
    saved = browser.find_element(By.CSS_SELECTOR, "tr.segment-row.saved")
    assert "抖音来源用户" in saved.text and saved.find_element(By.CSS_SELECTOR, ".segment-count").text == str(shown)
    seg_id = saved.get_attribute("data-segment-id")
    assert segments.count(live_server.hub, segments.get_segment(live_server.hub, seg_id)).count == shown
    browser.delete_all_cookies()


def test_experiment_created_started_and_stopped(live_server: LiveServer, browser) -> None:
    By = _by()
    login(browser, live_server, "editor")
    browser.get(f"{live_server.url}/experiments?lang=zh")
    loads_new_page(browser, browser.find_element(By.ID, "new-experiment").click)
    browser.find_element(By.NAME, "key").send_keys("Bad Key")
    browser.find_element(By.NAME, "name").send_keys("内容相似度排序")
    _select(browser, "treatment_strategy", "content")
    browser.find_element(By.CSS_SELECTOR, 'input[name="method"][value="sequential"]').click()
    loads_new_page(browser, browser.find_element(By.ID, "create-experiment").click)
    assert browser.find_element(By.ID, "error-key").is_displayed()
    assert browser.find_element(By.NAME, "name").get_attribute("value") == "内容相似度排序"  # kept
    key = browser.find_element(By.NAME, "key")
    key.clear()
    key.send_keys("browser-rank")
    loads_new_page(browser, browser.find_element(By.ID, "create-experiment").click)
    assert browser.current_url.endswith("/experiments/browser-rank")
    assert experiments.get_experiment(live_server.hub, "browser-rank").sequential
    loads_new_page(browser, browser.find_element(By.ID, "start-experiment").click)
    loads_new_page(browser, browser.find_element(By.ID, "stop-experiment").click)
    assert experiments.get_experiment(live_server.hub, "browser-rank").status == "stopped"
    browser.delete_all_cookies()


def test_journey_built_from_drop_downs_shows_its_flow(live_server: LiveServer, browser) -> None:
    By = _by()
    login(browser, live_server, "editor")
    browser.get(f"{live_server.url}/journeys?lang=zh")
    form = browser.find_element(By.ID, "builder-form")
    form.find_element(By.NAME, "name").send_keys("浏览器欢迎旅程")
    _select(browser, "trigger_kind", "identity_added", form)
    _select(browser, "channel_1", "wecom_group", form)  # a group channel in a 1:1 journey: refused
    form.find_element(By.NAME, "wait_days_1").send_keys("2")
    loads_new_page(browser, browser.find_element(By.ID, "build-journey").click)
    error = browser.find_element(By.ID, "error-step-1").text
    assert "1:1" in error and "群" in error
    assert browser.find_element(By.NAME, "name").get_attribute("value") == "浏览器欢迎旅程"
    _select(browser, "channel_1", "wecom_1v1")
    loads_new_page(browser, browser.find_element(By.ID, "build-journey").click)
    assert browser.find_element(By.ID, "journey-flow").is_displayed()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#journey-flow .flow-node[data-step]")) == 2
    assert not browser.find_elements(By.ID, "status-paused")  # a draft offers no 暂停
    jid = browser.current_url.split("/journeys/")[1].split("?")[0]
    assert journeys.get(live_server.hub, jid).status == "draft"
    browser.delete_all_cookies()
