"""The language of whoever is being answered, and the hub's time zone, for pages, API messages and services.

Messages are gettext catalogs (``contenthub/locale/<locale>/LC_MESSAGES/messages.po``) with English
source strings as msgids. The .po files are the only source: they are compiled in memory (Babel's
``write_mo``) the first time a language is used, so a stale committed .mo can never ship and there is no
build step; ``pybabel compile -d contenthub/locale`` still works for tools that want .mo files.

Times in the hub's zone are formatted by ``contenthub.localtime``.

The language of a request is chosen once, by ``LanguageMiddleware`` (web/language.py): ``?lang=``, then the
console's cookie, then ``Accept-Language``, then Chinese. It is kept in a context variable, so service code
(reasons, planner warnings, report text, error messages) calls ``_()`` without knowing about HTTP; code that
runs outside a request (the CLI, background jobs) reads Chinese unless it picks a language with
``use_language``.
"""

from __future__ import annotations

import gettext as _gettext
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import TypeVar

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
T = TypeVar("T")
LANGUAGES: dict[str, str] = {"zh": "zh_CN", "en": "en"}
"""The console's language codes (``?lang=``, the cookie) and the catalog locale each one reads."""
DEFAULT_LANGUAGE = "zh"

_language: ContextVar[str] = ContextVar("contenthub_language", default=DEFAULT_LANGUAGE)


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalog of one console language, compiled from its .po file once per process."""
    locale = LANGUAGES.get(lang)
    path = LOCALE_DIR / str(locale) / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale is None or not path.exists():
        return _gettext.NullTranslations()
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=locale, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def current_language() -> str:
    return _language.get()


def current_locale() -> Locale:
    return Locale.parse(LANGUAGES.get(_language.get(), LANGUAGES[DEFAULT_LANGUAGE]))


def set_language(lang: str) -> None:
    """For the middleware: the rest of this request (its context) reads ``lang``."""
    _language.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


@contextmanager
def use_language(lang: str) -> Iterator[None]:
    token = _language.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def run_in_language(lang: str, fn: Callable[[], T]) -> T:
    """``fn()`` with ``lang`` current (a context manager's cost, without the generator: the next-content path)."""
    token = _language.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        return fn()
    finally:
        _language.reset(token)


def gettext(message: str) -> str:
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_language.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(_language.get()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(_language.get()).npgettext(context, singular, plural, n)


_ = gettext


def fixed_parts(message: str) -> set[str]:
    """The longest literal piece of ``message`` in every language (placeholders left out): for recognising
    stored text made from it in any language."""
    out = set()
    for lang in LANGUAGES:
        pieces = [lit for lit, _n, _s, _c in string.Formatter().parse(translations(lang).gettext(message))]
        out.add(max(pieces, key=len).strip())
    return out - {""}


def lazy_gettext(message: str) -> LazyProxy:
    """For module-level labels: translated each time they are read, in the reader's language."""
    return LazyProxy(gettext, message, enable_cache=False)


def N_(message: str) -> str:
    """Marks a string for extraction where it is defined and translated later (with ``_(value)``)."""
    return message


# ---- choosing the language ----


def parse_accept_language(header: str) -> list[str]:
    """Language tags of an Accept-Language header, best first (q=0 dropped). Hand-written: Babel has no
    header parser and the header is a comma list of ``tag;q=weight``; a malformed weight counts as 0."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:32]):
        tag, _sep, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        if tag and weight > 0:
            ranked.append((-weight, i, tag.strip().lower()))
    return [tag for _w, _i, tag in sorted(ranked)]


@lru_cache(maxsize=256)
def from_accept_language(header: str | None) -> str | None:
    """The first console language an Accept-Language header accepts (memoised: clients repeat one header)."""
    for tag in parse_accept_language(header or ""):
        primary = tag.split("-")[0].split("_")[0]
        if primary in LANGUAGES:
            return primary
    return None


def negotiate(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> str:
    """``?lang=``, then the console's cookie, then Accept-Language, then Chinese."""
    for cand in (query_lang, cookie_lang):
        if cand in LANGUAGES:
            return cand
    return from_accept_language(accept_language) or DEFAULT_LANGUAGE
