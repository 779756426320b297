"""Shared fixtures for browser tests: a real uvicorn server on demo data and a headless Debian chromium.

Use them from a test module with::

    from tests.browser import browser, live_server, login  # noqa: F401  (pytest finds fixtures by name)

    @pytest.mark.browser
    def test_page(live_server, browser):
        login(browser, live_server, "editor")
        browser.get(live_server.url + "/library")

`live_server` (session scope: one demo server for every browser test) yields a `LiveServer` with `.url`, `.hub`, `.data_dir`, `.settings` and `.keys`
(role → API key). Its data is the real `contenthub demo` loader at a small size (assets with media, users,
groups, weeks of engagement), loaded through the same write paths the API uses. The server runs in a thread
of this process and shares `.hub`, so a test can set data up through services and see it over HTTP.
`browser` (session scope) skips the module with a clear message when chromium or chromedriver is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from contenthub.config import Settings
from contenthub.embeddings import Embedder
from contenthub.hub import Hub, open_hub

CHROMIUM = Path(os.environ.get("CONTENTHUB_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CONTENTHUB_CHROMEDRIVER", "/usr/bin/chromedriver"))
DEMO_ASSETS = 40
DEMO_USERS = 40
START_TIMEOUT = 600.0
"""Only against a hang: a start that fails ends the server's thread and is reported at once. The start runs the
app's lifespan (search warm-up: the model's calibration, the tag vocabulary's vectors, jieba's dictionary),
which took more than the 30 s this used to allow on a loaded 2-core machine (every browser test errored)."""


@dataclass
class LiveServer:
    url: str
    hub: Hub
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo_keys(hub: Hub) -> dict[str, str]:
    from contenthub.demo import KEYS_FILE

    found = {}
    for line in (hub.settings.data_dir / KEYS_FILE).read_text().splitlines():
        role, _, secret = line.partition("\t")
        if secret:
            found[role] = secret
    return found


@contextmanager
def serve_demo(embedder: Embedder, prefix: str = "contenthub-live-") -> Iterator[LiveServer]:
    """A uvicorn server in a thread on a fresh demo hub; stopped and its data removed on exit."""
    import uvicorn

    from contenthub.app import create_app
    from contenthub.config import DEFAULT_MODEL_DIR
    from contenthub.demo import load_demo

    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    model_dir = Path(os.environ.get("CONTENTHUB_TEST_MODEL", DEFAULT_MODEL_DIR))
    settings = Settings(data_dir=data_dir / "data", model_path=model_dir, session_secret="live-test-secret")
    hub = open_hub(settings, embedder=embedder)
    # without the showcase (simulated experiments and journeys): tests add exactly the objects they assert on
    load_demo(hub, n_assets=DEMO_ASSETS, n_users=DEMO_USERS, showcase=False)
    port = free_port()
    app = create_app(settings, hub)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"uvicorn failed to start on port {port} (its thread ended; see the log above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port} within {START_TIMEOUT:.0f} s")
        time.sleep(0.05)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", hub=hub, settings=settings, keys=_demo_keys(hub))
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        hub.close()  # the app's lifespan closes it too; closing twice is harmless
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def live_server(embedder: Embedder) -> Iterator[LiveServer]:
    with serve_demo(embedder) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(
            f"browser tests need Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER} missing): "
            "apt-get install -y chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="contenthub-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1440,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    # an explicit driver path keeps Selenium Manager from looking for (and downloading) a driver
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def login(driver: Any, server: LiveServer, role: str = "editor", lang: str = "zh") -> None:
    """Log in through the real form (CSRF and session cookie included)."""
    from selenium.webdriver.common.by import By

    driver.get(f"{server.url}/login?lang={lang}")
    field_ = driver.find_element(By.NAME, "key")
    field_.clear()
    field_.send_keys(server.keys[role])
    loads_new_page(driver, field_.submit, timeout=20)
    if "/login" in driver.current_url:
        raise AssertionError(f"login as {role} failed: still on {driver.current_url}")


def loads_new_page(driver: Any, action: Callable[[], Any], timeout: float = 30) -> None:
    """Run `action` (a click or submit that posts a form or follows a link) and wait for the page it loads.

    Why: chromedriver does not always wait for the navigation a click starts. Reading an element right after
    can find the old page's element, which then goes stale mid-read (CI failed once on exactly that), or
    can pass on the old page's content. Waiting for the old document to go away, then for the new one to
    finish loading, makes every read after this one read the new page.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    action()
    wait = WebDriverWait(driver, timeout)
    wait.until(_left_document(old), message=f"the page did not change within {timeout} s")
    wait.until(
        lambda d: d.execute_script("return document.readyState") == "complete",
        message=f"the new page did not finish loading within {timeout} s",
    )


GONE_FROM_DOCUMENT = "does not belong to the document"
"""What chromedriver says, instead of "stale element reference", when asked about a node of a document that
a navigation just replaced: "unknown error: unhandled inspector error: {... "Node with given id does not
belong to the document"}" (SeleniumHQ/selenium#15401). A fraction of a percent of navigations under load
get it; Selenium's ``staleness_of`` lets it escape, which failed
test_experiment_created_started_and_stopped once."""


def _left_document(old: Any) -> Callable[[Any], bool]:
    """Whether ``old`` (an element of the page before a navigation) is gone from the current document.

    Every answer chromedriver gives for a node no longer in the current document means "gone": stale element
    reference (the W3C answer), no such element (chromedriver after 112 for an id from an older document) and
    the inspector's "does not belong to the document" (the navigation replaced the node's document while the
    command ran). Any other error is raised."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )

    def gone(_driver: Any) -> bool:
        try:
            old.is_enabled()  # any command on the element makes chromedriver check it is still attached
        except (StaleElementReferenceException, NoSuchElementException):
            return True
        except WebDriverException as exc:
            if GONE_FROM_DOCUMENT in str(exc.msg or ""):
                return True
            raise
        return False

    return gone
