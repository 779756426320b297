"""An editor in a real headless chromium: log in, upload an image, accept suggested tags, find it in Chinese."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.browser import loads_new_page, login
from tests.helpers import png_bytes


@pytest.mark.browser
def test_upload_accept_and_search(live_server, browser) -> None:
    from selenium.webdriver.common.by import By

    from contenthub.library.suggester import model

    # CI once ran this before a background training had finished: the demo must leave the suggester trained
    assert model.current(live_server.hub) is not None, "load_demo trains the tag suggester before it returns"
    login(browser, live_server, "editor")
    browser.get(live_server.url + "/library/upload")
    image = Path(tempfile.mkdtemp()) / "poster.png"
    image.write_bytes(png_bytes(32, 32, (30, 120, 200)))
    browser.find_element(By.ID, "title").send_keys("今晚八点直播：护眼台灯限时抽奖")
    browser.find_element(By.ID, "body").send_keys("预约直播间，开播即抽奖，护眼台灯五折")
    browser.find_element(By.ID, "file").send_keys(str(image))
    loads_new_page(browser, browser.find_element(By.ID, "upload-button").click, timeout=60)
    assert browser.find_elements(By.ID, "suggestions"), "the upload lands on the asset page with its suggestions"
    assert browser.find_element(By.ID, "preview-image").get_attribute("naturalWidth") == "32"
    assert browser.find_element(By.ID, "confirmed-scenes").text.strip() == "—"
    suggested = browser.find_element(By.ID, "suggestions").text
    loads_new_page(browser, browser.find_element(By.ID, "accept-button").click)
    scenes = browser.find_element(By.ID, "confirmed-scenes").text
    assert "直播预告" in scenes, f"the live-preview scene should be accepted, got {scenes!r}; suggested {suggested!r}"
    shot = Path(os.environ.get("CONTENTHUB_SCREENSHOTS", tempfile.gettempdir())) / "library-asset.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    browser.get(live_server.url + "/library")
    box = browser.find_element(By.ID, "q")
    box.send_keys("护眼台灯")
    loads_new_page(browser, box.submit)
    assert browser.find_element(By.ID, "result-count").is_displayed()
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.asset-link")]
    assert "今晚八点直播：护眼台灯限时抽奖" in titles[:5]
