"""The message catalogs are complete: every marked string is in both, translated, and nothing is fuzzy."""

from __future__ import annotations

import contextvars
import importlib.util
import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from contenthub import i18n, localtime

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("i18n_update", ROOT / "scripts" / "i18n_update.py")
assert _spec and _spec.loader
i18n_update = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(i18n_update)

LOCALES = ("zh_CN", "en")
PERCENT = re.compile(r"%(?:\([a-z_]+\))?[sdrf]|%%")


def _catalog(locale: str) -> Catalog:
    with (i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp, locale=locale)


def _ids(msg_id: str | tuple[str, ...]) -> tuple[str, ...]:
    return msg_id if isinstance(msg_id, tuple) else (msg_id,)


def _strings(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def _braces(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return i18n_update.extract()


@pytest.mark.parametrize("locale", LOCALES)
def test_every_entry_is_translated_and_none_is_fuzzy(locale: str) -> None:
    catalog = _catalog(locale)
    assert not catalog.fuzzy, f"{locale}: the catalog header is marked fuzzy"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    untranslated = [m.id for m in catalog if m.id and not all(_strings(m.string))]
    assert not fuzzy, f"{locale}: fuzzy entries {fuzzy[:10]}"
    assert not untranslated, f"{locale}: untranslated entries {untranslated[:10]}"
    assert len(catalog) > 200


@pytest.mark.parametrize("locale", LOCALES)
def test_every_extracted_message_is_in_the_catalog(locale: str, extracted: Catalog) -> None:
    catalog = _catalog(locale)
    missing = [m.id for m in extracted if m.id and catalog.get(m.id, m.context) is None]
    assert not missing, (
        f"{locale}: msgids in the code but not in the catalog (run scripts/i18n_update.py): {missing[:10]}"
    )
    stale = [m.id for m in catalog if m.id and extracted.get(m.id, m.context) is None]
    assert not stale, f"{locale}: catalog entries no code uses any more: {stale[:10]}"


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_their_placeholders(locale: str) -> None:
    for msg in _catalog(locale):
        if not msg.id:
            continue
        source = _ids(msg.id)[0]
        for text in _strings(msg.string):
            assert sorted(PERCENT.findall(text)) == sorted(PERCENT.findall(source)), (msg.id, text)
            if "python-brace-format" in msg.flags or _braces(source):
                assert _braces(text) == _braces(source), (msg.id, text)


def test_chinese_is_not_the_english_copied() -> None:
    same = [m.id for m in _catalog("zh_CN") if m.id and m.string == m.id and re.search(r"[A-Za-z]{3}", str(m.id))]
    allowed = {"LTV", "CSV", "ICS", "OCR", "API", "MDE", "ContentHub", "A/B", "Holm"}  # names kept in Chinese text
    assert not [s for s in same if s not in allowed], same


def test_a_language_is_chosen_from_query_then_cookie_then_accept_language() -> None:
    assert i18n.negotiate("en", "zh", "zh-CN") == "en"
    assert i18n.negotiate(None, "en", "zh-CN") == "en"
    assert i18n.negotiate("xx", None, "fr;q=0.9, en-US;q=0.8, zh;q=0.1") == "en"
    assert i18n.negotiate(None, None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.negotiate(None, None, "en;q=0, de") == "zh"
    assert i18n.negotiate(None, None, "en;q=abc") == "zh"
    assert i18n.negotiate(None, None, None) == "zh"


def test_messages_read_in_the_current_language() -> None:
    with i18n.use_language("en"):
        assert i18n._("Calendar") == "Calendar"
    with i18n.use_language("zh"):
        assert i18n._("Calendar") == "发布日历"
    # a fresh context is what a process or thread starts with (conftest picks English for tests): Chinese
    assert contextvars.Context().run(lambda: (i18n.current_language(), i18n._("Calendar"))) == ("zh", "发布日历")


def test_times_read_in_the_hub_zone() -> None:
    from datetime import UTC, datetime

    midnight_in_beijing = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
    with i18n.use_language("zh"):
        assert localtime.format_datetime(midnight_in_beijing) == "2026-12-07 00:00"
        assert localtime.format_datetime(midnight_in_beijing, show_zone=True) == "2026-12-07 00:00（中国时间）"
    with i18n.use_language("en"):
        assert localtime.format_datetime(midnight_in_beijing, show_zone=True) == "2026-12-07 00:00 (China Time)"


def test_a_compiled_template_speaks_each_readers_language() -> None:
    """Jinja folds filters applied to literals at compile time; ours must run per render (else the language
    of whoever compiled the template first sticks)."""
    from contenthub.web.templating import TEMPLATES

    template = TEMPLATES.env.from_string(
        "{{ 'target_per_week'|rule_text }}|{{ _('Calendar') }}|{{ label('rule', 'windows') }}"
    )
    with i18n.use_language("en"):
        assert template.render() == "target_per_week|Calendar|windows"
    with i18n.use_language("zh"):
        assert template.render() == "每周目标|发布日历|发送时段"
