"""The asset analysis's pinyin fields (store/analysis.py): one pypinyin pass gives both, and the initials are
what pypinyin's own FIRST_LETTER style would give for the same text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from contenthub.store.analysis import asset_terms, index_pinyin

# Han characters (common block and extension A, where polyphones and rare readings live), Latin, digits,
# punctuation and line breaks: the mix titles, tags and printed text hold
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.characters(min_codepoint=0x3400, max_codepoint=0x4DBF),
        st.sampled_from(list("abcXYZ019 ，。、！?-\n")),
    ),
    max_size=40,
)


def _oracle(style: Style, *texts: str) -> str:
    return " ".join(lazy_pinyin("\n".join(t for t in texts if t), style=style, errors="ignore"))


@settings(max_examples=300, deadline=None)
@given(TEXT, TEXT, TEXT)
def test_one_pass_gives_pypinyins_syllables_and_first_letters(title: str, tags: str, media: str) -> None:
    pinyin, initials = index_pinyin(title, tags, media)
    assert pinyin == _oracle(Style.NORMAL, title, tags, media)
    assert initials == _oracle(Style.FIRST_LETTER, title, tags, media)


def test_asset_terms_pinyin_fields() -> None:
    terms = asset_terms({"title": "护眼台灯", "tags": ["重庆"], "body": "不进拼音", "media_text": "长城"})
    assert terms["pinyin"] == "hu yan tai deng chong qing chang cheng"
    assert terms["initials"] == "h y t d c q c c"
