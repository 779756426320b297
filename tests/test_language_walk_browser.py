"""Every page in Chinese, in a real browser: no English word outside an allow-list, and a layout that holds at a
phone's width (390 px) and a desktop's (1,400 px). The same walk saves screenshots of every page at both widths.

Screenshots go to ``CONTENTHUB_SCREENSHOT_DIR`` or ``screenshots/`` at the project root (git-ignored), named
``<page>-390.png`` and ``<page>-1400.png``; each shows the whole page (the window is as tall as the page).

What counts as English: a run of two or more Latin letters in the page's visible text, its placeholders, titles
and labels (the document title is left out: it repeats the heading, with the record's own name). Not counted: the allow-list below (brand and product names, units, method names a statistician
writes in Latin letters), text inside ``code``/``kbd``/``pre`` (code samples), and elements marked
``translate="no"`` (the HTML way to say "not to be translated": ids, keys, user-entered names and titles).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contenthub.config import Settings
from contenthub.embeddings import Embedder
from contenthub.experiments import service as experiments
from contenthub.experiments.models import ExperimentCreate
from contenthub.experiments.simulator import SimConfig, run_simulation
from contenthub.i18n import use_language
from contenthub.journeys import service as journeys
from contenthub.publish import service as publish
from contenthub.publish.planner import week_start_of
from contenthub.store.query import AssetFilter
from tests.browser import LiveServer, login, serve_demo

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (390, 1400)
ALLOWED = {
    # brands, products and platforms
    "ContentHub",
    "WeChat",
    "WeCom",
    "Plotly",
    "H5",
    "App",
    "SMS",
    "Douyin",
    "Xiaohongshu",
    # formats, units and abbreviations a Chinese operator uses as they are
    "CSV",
    "ICS",
    "OCR",
    "API",
    "ID",
    "PDF",
    "URL",
    "LTV",
    "MDE",
    "KB",
    "MB",
    "GB",
    "ms",
    "px",
    "pp",
    "AI",
    "CTR",
    "GMV",
    "SOP",
    "UTC",
    "GMT",
    "AM",
    "PM",
    # statistics: method names written in Latin letters in Chinese texts too
    "Welch",
    "Fieller",
    "CUPED",
    "BG",
    "NBD",
    "Gamma",
    "delta",
    "Holm",
    "Bonferroni",
    "Benjamini",
    "Hochberg",
    "SRM",
    "BH",
    "JSON",
    "OpenID",
    "UnionID",
    "Cookie",
    "JS",
    "SDK",
    "MAE",
    "IANA",
    # keys on a keyboard, named as printed on them
    "Tab",
    "Esc",
    "Enter",
    "Space",
}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")
TEXT_JS = """
const skip = el => el.closest('code, kbd, pre, script, style, noscript, [translate="no"], [hidden], .plotly, svg');
const out = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode, el = node.parentElement;
  if (!el || skip(el)) continue;
  const style = getComputedStyle(el);
  if (style.display === 'none' || style.visibility === 'hidden') continue;
  if (node.textContent.trim()) out.push(node.textContent.trim());
}
for (const el of document.querySelectorAll('[placeholder], [title], [aria-label], option, input[type=submit], input[type=button]')) {
  if (skip(el)) continue;
  for (const a of ['placeholder', 'title', 'aria-label']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  if (el.tagName === 'OPTION') out.push(el.textContent.trim());
  if (el.tagName === 'INPUT' && el.value) out.push(el.value);
}
return out;
"""


def english_words(texts: list[str], data: frozenset[str] = frozenset()) -> list[str]:
    found = []
    for text in texts:
        for word in LATIN_WORD.findall(text):
            if word not in ALLOWED and word not in data:
                found.append(word)
    return found


def data_words(server: LiveServer) -> frozenset[str]:
    """Latin words of the records' own ids and names (asset ids and titles, experiment keys and variant names,
    user ids): a sentence may quote them ("素材 demo-m037：…", "treatment 比 control 高"), and they are what
    the operator typed, not the product's wording."""
    hub = server.hub
    texts = [a.id for a in hub.store.filter_assets(AssetFilter(), limit=1000).hits]
    texts += [d.get("title") or "" for d in hub.store.get_assets(texts).values()]
    for exp in experiments.list_experiments(hub):
        texts += [exp.key, exp.name or "", *(v.name for v in exp.variants)]
    texts += [d["id"] for d in hub.store.list_docs("users", limit=100)]
    return frozenset(w for t in texts for w in LATIN_WORD.findall(t))


def screenshot_dir() -> Path:
    path = Path(os.environ.get("CONTENTHUB_SCREENSHOT_DIR") or ROOT / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def walk_week() -> date:
    """The week whose plan the walk shows, taken once: read again later, 'this week' could be the next one
    (the walk starts minutes after its server, and Monday 00:00 in the hub's zone is Sunday 16:00 UTC)."""
    return week_start_of(datetime.now(ZoneInfo(Settings.model_fields["timezone"].default)).date())


@pytest.fixture(scope="module")
def walk_server(embedder: Embedder, walk_week: date) -> Iterator[LiveServer]:
    """A demo server of its own (the shared one's experiments are counted by other tests), filled so every
    page has something to show: this week's plan, a finished experiment, a draft one, a live journey."""
    with serve_demo(embedder, prefix="contenthub-walk-") as server:
        hub = server.hub
        now = datetime.now(UTC)
        week = walk_week
        with use_language("zh"):  # what a Chinese team's clicks store (plan reasons, journey names)
            publish.generate(hub, week, None, ["all", "group:g-coffee"], "walk", now=now - timedelta(days=7))
            run_simulation(hub, SimConfig(key="demo-rank", users=300, days=5, sends=1, lift=0.4, seed=3))
            experiments.create_experiment(
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
            journeys.install_template(hub, "new-contact-care", "walk", status="active")
        yield server


def pages(server: LiveServer, week: date) -> list[tuple[str, str]]:
    """(name, path) of every page a person opens, with ids from the walk's data (``week``: the planned one)."""
    hub = server.hub
    asset_id = hub.store.filter_assets(AssetFilter(), limit=1).hits[0].id
    plan = publish.get_plan(hub, week)
    slot_id = plan.slots[0].id
    user_id = hub.store.list_docs("users", limit=1)[0]["id"]
    journey_id = journeys.list_journeys(hub)[0].id
    return [
        ("library", "/library"),
        ("library-search", "/library?q=咖啡"),
        ("upload", "/library/upload"),
        ("asset", f"/library/assets/{asset_id}"),
        ("review", "/library/review"),
        ("users", "/users"),
        ("users-filtered", "/users?stage=active&source=douyin"),
        ("segments", "/segments?stage=active"),
        ("user", f"/users/{user_id}"),
        ("calendar", f"/calendar?week={week.isoformat()}"),
        ("slot", f"/calendar/slots/{slot_id}?week={week.isoformat()}"),
        ("month", "/calendar/month"),
        ("experiments", "/experiments"),
        ("experiment-report", "/experiments/demo-rank"),
        ("experiment-draft", "/experiments/copy-draft"),
        ("experiment-new", "/experiments/new"),
        ("journeys", "/journeys"),
        ("journey", f"/journeys/{journey_id}"),
        ("dashboard-retention", "/dashboard/retention"),
        ("dashboard-channels", "/dashboard/channels"),
        ("dashboard-fatigue", "/dashboard/fatigue?channel=wecom_1v1"),
        ("dashboard-ltv", "/dashboard/ltv"),
        ("keys", "/admin/keys"),
        ("audit", "/admin/audit"),
        ("bad-records", "/admin/bad-records"),
        ("not-found", "/library/assets/0000"),
    ]


def _full_page_shot(browser: Any, width: int, path: Path) -> None:
    browser.set_window_size(width, 900)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(int(height) + 140, 8000))
    assert browser.save_screenshot(str(path))


def _layout_problems(browser: Any, width: int) -> list[str]:
    problems = []
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow > 1:
        wide = browser.execute_script("""
            const w = document.documentElement.clientWidth; const out = [];
            for (const el of document.querySelectorAll('body *')) {
              const r = el.getBoundingClientRect();
              if (r.right > w + 1 && !el.closest('.scroll-x')) out.push(el.tagName + '.' + el.className + '#' + el.id);
            }
            return out.slice(0, 5);""")
        problems.append(f"{width}px: the page scrolls sideways by {overflow}px ({wide})")
    broken = browser.execute_script("""
        const out = [];
        for (const a of document.querySelectorAll('header.top nav a, header.top .brand')) {
          const lh = parseFloat(getComputedStyle(a).lineHeight) || 20;
          if (a.getClientRects().length > 1 || a.getBoundingClientRect().height > lh * 1.5) out.push(a.textContent);
        }
        return out;""")
    if broken:
        problems.append(f"{width}px: navigation links break across lines: {broken}")
    return problems


def test_every_page_reads_in_chinese_and_fits_a_phone_and_a_desktop(
    walk_server: LiveServer, walk_week: date, browser
) -> None:
    shots = screenshot_dir()
    leaks: dict[str, list[str]] = {}
    layout: list[str] = []
    visited: list[str] = []

    browser.delete_all_cookies()
    browser.get(f"{walk_server.url}/login?lang=zh")
    for width in WIDTHS:
        _full_page_shot(browser, width, shots / f"login-{width}.png")
        layout += [f"login: {p}" for p in _layout_problems(browser, width)]
    if words := english_words(browser.execute_script(TEXT_JS)):
        leaks["login"] = words
    visited.append("/login")

    login(browser, walk_server, "admin", lang="zh")
    data = data_words(walk_server)
    for name, path in pages(walk_server, walk_week):
        browser.set_window_size(1400, 900)
        browser.get(walk_server.url + path)
        visited.append(path)
        texts = browser.execute_script(TEXT_JS)
        if words := english_words(texts, data):
            where = [t[:120] for t in texts if set(LATIN_WORD.findall(t)) & set(words)][:3]
            leaks[f"{name} ({path})"] = [*sorted(set(words)), *where]
        for width in WIDTHS:
            _full_page_shot(browser, width, shots / f"{name}-{width}.png")
            layout += [f"{name}: {p}" for p in _layout_problems(browser, width)]
    browser.set_window_size(1440, 1000)
    print(f"language walk visited {len(visited)} pages: {visited}; screenshots in {shots}")
    assert not leaks, "English on Chinese pages:\n" + "\n".join(f"{k}: {v}" for k, v in leaks.items())
    assert not layout, "\n".join(layout)
