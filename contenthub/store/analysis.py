"""How asset text becomes index terms, and a search query becomes term groups — one analysis for both stores.

Why here and not in each backend: SQLite's FTS5 and Elasticsearch's standard analyzer both see Chinese
as an unbroken run (or one token per character), so neither can tell the word 护眼 from 爱护…眼睛 nor
match 护眼 typed as ``huyan`` or ``hy``. Both stores therefore index the same pre-analysed fields, built
here, with a plain whitespace tokenizer:

- ``words``: jieba's search-mode segmentation (the word and its dictionary sub-words, so 叶黄素酯软糖
  is found by 叶黄素 and by 软糖), lowercased; Latin words and numbers stay whole ("20-20-20" → 20 20 20).
- ``pinyin``: the toneless syllable of every Han character, in order (护眼台灯 → hu yan tai deng), so a
  syllable phrase matches full pinyin typed with or without spaces, and a homophone typo (护颜 → hu yan).
- ``initials``: the first letter of each syllable (护眼台灯 → h y t d), for initials typed as ``hytd``.

A query becomes a list of :class:`QueryGroup` (one per whitespace/punctuation-separated chunk); a document
matches when every group matches through at least one of its alternatives. Pinyin fields are built from
the short, telling fields only (title, tags, text printed on the media): over long bodies two-syllable
homophones and initials would match almost anything.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import jieba
from pypinyin import Style, lazy_pinyin, pinyin_dict

jieba.setLogLevel(logging.WARNING)

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CHUNK = re.compile(
    r"[^\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
    r"!\"#$%&'()*,./:;<=>?@\[\\\]^`{|}~·、。，！？；：“”‘’（）《》【】…—｜]+"
)
_LATIN = re.compile(r"^[a-z]+$")
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "是",
        "在",
        "有",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "么",
        "之",
        "或",
        "等",
        "也",
        "就",
        "都",
        "而",
        "着",
        "the",
        "a",
        "an",
        "of",
        "to",
        "and",
        "or",
        "in",
        "on",
        "for",
        "is",
    ]
)
MAX_INITIALS = 6
"""Initials of at most this many characters are tried (``hytd``); longer Latin runs are words or pinyin."""


def _words(text: str) -> list[str]:
    """jieba search-mode words with at least one letter, digit or Han character, lowercased."""
    out: list[str] = []
    for w in jieba.cut_for_search(text):
        out.extend(m.lower() for m in _WORD.findall(w))
    return out


def index_words(*texts: str) -> str:
    return " ".join(w for t in texts if t for w in _words(t))


def index_pinyin(*texts: str) -> tuple[str, str]:
    """The ``pinyin`` and ``initials`` fields of ``texts``, from one pypinyin pass: an initial is its
    syllable's first letter, which is what pypinyin's FIRST_LETTER style gives (the same reading chosen,
    then cut; tests/test_store_analysis.py checks the two agree). Why one pass: pinyin conversion was
    most of an asset's analysis, and the analysis most of the client's work in storing an asset."""
    syllables = lazy_pinyin("\n".join(t for t in texts if t), style=Style.NORMAL, errors="ignore")
    return " ".join(syllables), " ".join(s[:1] for s in syllables)


TERM_FIELDS = ("title", "body", "tags", "media", "pinyin", "initials")
"""The analysed fields both stores index for every asset (``media``: the text printed on its poster or PDF)."""


def asset_terms(a: dict[str, Any]) -> dict[str, str]:
    """An asset's analysed fields (TERM_FIELDS), space-separated terms ready for a whitespace tokenizer."""
    title, body, media = a.get("title") or "", a.get("body") or "", a.get("media_text") or ""
    tags = " ".join(a.get("tags") or [])
    pinyin, initials = index_pinyin(title, tags, media)
    return {
        "title": index_words(title),
        "body": index_words(body),
        "tags": index_words(tags),
        "media": index_words(media),
        "pinyin": pinyin,
        "initials": initials,
    }


@cache
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin knows (≈ 415), read from its dictionary once."""
    out: set[str] = set()
    for cp in pinyin_dict.pinyin_dict:
        out.update(lazy_pinyin(chr(cp), style=Style.NORMAL))
    return frozenset(s for s in out if _LATIN.match(s))


@lru_cache(maxsize=4096)
def split_pinyin(text: str) -> tuple[str, ...] | None:
    """``huyantaideng`` → (hu, yan, tai, deng): the split into fewest syllables, or None if there is none.

    Dynamic programming over the syllable set (syllables are at most 6 letters); fewest syllables
    prefers ``xian`` over ``xi an``, which is what people type far more often.
    """
    known = syllables()
    n = len(text)
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(i + 1, min(n, i + 6) + 1):
            part = text[i:j]
            if part in known:
                cand = best[i] + (part,)  # type: ignore[operator]
                if best[j] is None or len(cand) < len(best[j]):  # type: ignore[arg-type]
                    best[j] = cand
    return best[n]


@dataclass(frozen=True)
class QueryGroup:
    """One chunk of a query and the ways a document can match it (any one is enough).

    ``words``: all must occur in the text fields — adjacent and in order when ``phrase`` (a Latin or
    numeric chunk such as ``20-20-20`` or ``wi-fi``). ``pinyin`` / ``initials``: a phrase over the pinyin
    fields (empty when the chunk cannot be read that way)."""

    chunk: str
    words: tuple[str, ...]
    phrase: bool = False
    pinyin: tuple[str, ...] = ()
    initials: tuple[str, ...] = ()


def query_groups(text: str) -> list[QueryGroup]:
    """The groups of a query; empty when it holds no letter, digit or Han character."""
    spaced = text.lower().split()
    if len(spaced) > 1 and all(w in syllables() for w in spaced):  # "hu yan tai deng": one pinyin phrase
        return [QueryGroup(chunk=" ".join(spaced), words=tuple(spaced), phrase=True, pinyin=tuple(spaced))]
    groups: list[QueryGroup] = []
    for chunk in _CHUNK.findall(text):
        chunk = chunk.lower()
        words = [w for piece in jieba.cut(chunk) for w in _WORD.findall(piece.lower())]
        if not words:
            continue
        content = [w for w in words if w not in STOPWORDS] or words
        pinyin: tuple[str, ...] = ()
        initials: tuple[str, ...] = ()
        has_han = bool(_HAN.search(chunk))
        if has_han:
            han = "".join(_HAN.findall(chunk))
            if len(han) >= 2:  # one character's pinyin is every homophone of it
                pinyin = tuple(lazy_pinyin(han, style=Style.NORMAL))
        elif _LATIN.match(chunk):
            pinyin = split_pinyin(chunk) or ()
            if len(pinyin) < 2:  # "ma" or "hao" alone is too many characters to mean one
                pinyin = ()
            if 2 <= len(chunk) <= MAX_INITIALS:
                initials = tuple(chunk)
        if not has_han and len(words) > 1:
            groups.append(QueryGroup(chunk=chunk, words=tuple(words), phrase=True))
            continue
        groups.append(QueryGroup(chunk=chunk, words=tuple(dict.fromkeys(content)), pinyin=pinyin, initials=initials))
    return groups
