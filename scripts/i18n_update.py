"""Extracts every marked string and brings both message catalogs up to date.

    PYTHONPATH=. python scripts/i18n_update.py [--zh translations.json]

Runs Babel's extraction with babel.cfg (Python and Jinja2 templates), then updates
contenthub/locale/{zh_CN,en}/LC_MESSAGES/messages.po: new msgids are added, msgids no longer in the code are
dropped. English msgids are the English text, so the English catalog's msgstr is the msgid itself (filled
here). Chinese entries left empty are listed on exit (status 1) and fail tests/test_i18n_catalogs.py until
they are translated; ``--zh`` fills them from a JSON object {msgid: translation}. No fuzzy matching: a
guessed translation would pass for a real one.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "contenthub" / "locale"
LOCALES = ("zh_CN", "en")
HEADER_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def extract() -> Catalog:
    """The template catalog (what a .pot would hold), from babel.cfg."""
    with (ROOT / "babel.cfg").open() as fp:
        method_map, options_map = parse_mapping_cfg(fp)
    template = Catalog(project="ContentHub", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


def read(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, project="ContentHub", charset="utf-8")
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def write(catalog: Catalog, locale: str) -> None:
    path = po_path(locale)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fp:
        write_po(fp, catalog, width=120, no_location=True, sort_output=True, ignore_obsolete=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zh", type=Path, help="JSON {msgid: Chinese} to fill empty Chinese entries from")
    args = ap.parse_args()
    template = extract()
    seed = json.loads(args.zh.read_text()) if args.zh else {}
    missing: list[str] = []
    for locale in LOCALES:
        catalog = read(locale)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False
        # Fixed header dates and no source locations: a catalog changes only where a message does, so two
        # branches that each add strings merge cleanly (sorted entries).
        catalog.creation_date = catalog.revision_date = HEADER_DATE
        for msg in catalog:
            if not msg.id:
                continue
            if locale == "en":
                msg.string = msg.id
            elif not (msg.string if isinstance(msg.id, str) else all(msg.string)):
                key = msg.id if isinstance(msg.id, str) else msg.id[0]
                if key in seed:
                    msg.string = seed[key] if isinstance(msg.id, str) else tuple(seed[k] for k in msg.id)
                else:
                    missing.append(key)
            msg.flags.discard("fuzzy")
        write(catalog, locale)
    for m in missing:
        print(f"untranslated (zh_CN): {m}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
