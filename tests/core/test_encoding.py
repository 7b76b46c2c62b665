"""Segment counts against a reference calculator's vectors, and split properties."""

from __future__ import annotations

import pytest
import pyuegc
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from smsops.core.encoding import (
    GSM_BASIC,
    GSM_EXTENSION,
    LIMITS,
    choose_encoding,
    clusters,
    is_gsm,
    measure,
    segment,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),
        ("€" * 81, "GSM-7", 2),
        ("ç" * 70, "UCS-2", 1),
        ("ç" * 71, "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),
        ("😀" * 36, "UCS-2", 2),
        ("", "GSM-7", 0),
    ],
)
def test_reference_vectors(text: str, encoding: str, segments: int) -> None:
    measured = measure(text)
    assert (measured.encoding, measured.segments) == (encoding, segments)


def test_a_zwj_family_is_kept_whole() -> None:
    measured = measure("ç" * 63 + FAMILY)
    assert measured.parts == ("ç" * 63, FAMILY)


def test_escape_is_never_split_from_its_character() -> None:
    # 152 septets, then '€' (2): the part must end before the euro, not inside it.
    measured = measure("a" * 152 + "€" + "b" * 10)
    assert measured.parts[0] == "a" * 152
    assert measured.parts[1].startswith("€")


def test_flags_and_skin_tones_stay_whole() -> None:
    flag, thumb = "\U0001f1ec\U0001f1e7", "\U0001f44d\U0001f3fd"
    measured = segment("x" * 66 + flag + thumb, "UCS-2")
    assert measured.parts == ("x" * 66, flag + thumb)


@pytest.mark.parametrize(
    ("char", "gsm"),
    [("Ç", True), ("ç", False), ("€", True), ("\f", True), ("`", False), ("à", True), ("á", False)],
)
def test_gsm_table(char: str, gsm: bool) -> None:
    assert is_gsm(char) is gsm


def test_unicode_setting() -> None:
    assert choose_encoding("hello", True) == "UCS-2"
    assert choose_encoding("hello", "auto") == "GSM-7"
    assert choose_encoding("olá ✅", "auto") == "UCS-2"
    with pytest.raises(ValueError, match=r"needs UCS-2 for '✅'.*unicode: false"):
        choose_encoding("ok ✅", False)


GSM_TEXT = st.text(alphabet=sorted(GSM_BASIC | GSM_EXTENSION), max_size=700)
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(sorted(GSM_BASIC | GSM_EXTENSION)),
        st.sampled_from(
            ["ç", "✅", "😀", "\u200d", "\ufe0f", "\U0001f3fd", "\U0001f1ec", "\u0301", "न"]
        ),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=400,
)


@given(GSM_TEXT)
def test_gsm_parts_rejoin_and_fit(text: str) -> None:
    _check_parts(text)


@given(ANY_TEXT)
def test_any_parts_rejoin_and_fit(text: str) -> None:
    _check_parts(text)


def _check_parts(text: str) -> None:
    measured = measure(text)
    assert "".join(measured.parts) == text
    single, multi = LIMITS[measured.encoding]
    limit = single if measured.segments == 1 else multi
    for part in measured.parts:
        if measured.encoding == "GSM-7":
            cost = sum(2 if ch in GSM_EXTENSION else 1 for ch in part)
        else:
            cost = len(part.encode("utf-16-le")) // 2
        assert 0 < cost <= limit


# Extended grapheme clusters (UAX #29), each checked by hand against the
# rules and the script: a consonant keeps its vowel signs and viramas, an
# Indic conjunct (consonant + virama + consonant, Unicode 15.1's GB9c) is one.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("नमस्ते", ["न", "म", "स्ते"]),  # Devanagari: conjunct sa-virama-ta + e sign
        ("क्षि", ["क्षि"]),  # Devanagari: ka-virama-ssa + i sign (a spacing mark)
        ("ক্ষ", ["ক্ষ"]),  # Bengali conjunct
        ("ਕਿ", ["ਕਿ"]),  # Gurmukhi consonant + i sign
        ("தமிழ்", ["த", "மி", "ழ்"]),  # Tamil: vowel sign and pulli stay with their consonant
        ("ที่", ["ที่"]),  # Thai: consonant + vowel + tone mark
        ("กำ", ["กำ"]),  # Thai sara am is a spacing mark
        ("เก", ["เ", "ก"]),  # Thai leading vowel: its own cluster
        ("한국어", ["한", "국", "어"]),  # Hangul syllables
        ("\u1112\u1161\u11ab", ["\u1112\u1161\u11ab"]),  # conjoining jamo L V T = 한
        (FAMILY, [FAMILY]),  # ZWJ sequence
        (
            "\U0001f1ec\U0001f1e7\U0001f1eb\U0001f1f7",
            ["\U0001f1ec\U0001f1e7", "\U0001f1eb\U0001f1f7"],
        ),
        ("1\ufe0f\u20e3", ["1\ufe0f\u20e3"]),  # keycap
        ("\U0001f44d\U0001f3fd", ["\U0001f44d\U0001f3fd"]),  # skin tone
        ("e\u0301", ["e\u0301"]),  # combining acute
        ("\r\n", ["\r\n"]),
    ],
)
def test_clusters_are_extended_grapheme_clusters(text: str, expected: list[str]) -> None:
    assert clusters(text, "UCS-2") == expected
    assert pyuegc.EGC(text) == expected  # and a second implementation agrees


@pytest.mark.parametrize(
    ("filler", "cluster"),
    [
        ("क", "कि"),  # i sign: a spacing mark, combining class 0 (split before)
        ("क", "क्ष"),  # a conjunct
        ("த", "மி"),
        ("ก", "ที่"),
        ("한", "\u1112\u1161\u11ab"),
    ],
)
def test_a_part_never_splits_a_consonant_from_its_signs(filler: str, cluster: str) -> None:
    # 66 one-unit characters, then the cluster across the 67-unit boundary of part one.
    measured = segment(filler * 66 + cluster + filler * 10, "UCS-2")
    assert measured.parts[0] == filler * 66
    assert measured.parts[1].startswith(cluster)


def test_a_cluster_longer_than_a_part_is_cut_between_code_points() -> None:
    zalgo = "e" + "\u0301" * 100  # one cluster of 101 units
    measured = segment(zalgo, "UCS-2")
    assert "".join(measured.parts) == zalgo
    assert [len(p) for p in measured.parts] == [67, 34]


# Well-formed text of several scripts: syllables as writers make them. (On
# ill-formed input, a virama after a non-consonant, `regex` already follows the
# GB9c of Unicode 18, which no longer asks for a consonant before the virama,
# and pyuegc the Unicode 16 one: the comparison keeps to text both read alike.)
_DEVANAGARI = [chr(c) for c in range(0x915, 0x93A)]
_TAMIL = ["க", "ங", "ச", "ஞ", "ட", "ண", "த", "ந", "ப", "ம", "ய", "ர", "ல", "வ", "ழ", "ள", "ற", "ன"]
_THAI = [chr(c) for c in range(0xE01, 0xE2F)]


def _syllable(consonants: list[str], virama: str, signs: list[str]) -> st.SearchStrategy[str]:
    consonant = st.sampled_from(consonants)
    conjunct = st.lists(consonant, min_size=1, max_size=3).map(virama.join)
    return st.tuples(conjunct, st.sampled_from(["", *signs])).map("".join)


UNITS = st.one_of(
    _syllable(_DEVANAGARI, "\u094d", ["\u093f", "\u0940", "\u0947", "\u094b", "\u0902", "\u094d"]),
    _syllable(_TAMIL, "\u0bcd", ["\u0bbf", "\u0bc0", "\u0bc1", "\u0bc6", "\u0bcd"]),
    st.tuples(
        st.sampled_from(_THAI), st.sampled_from(["", "\u0e31", "\u0e34", "\u0e35\u0e48", "\u0e33"])
    ).map("".join),
    st.sampled_from(["\u0e40", "\u0e42"]),  # Thai leading vowels
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul syllables
    st.tuples(
        st.characters(min_codepoint=0x1100, max_codepoint=0x1112),
        st.characters(min_codepoint=0x1161, max_codepoint=0x1175),
        st.sampled_from(["", "\u11a8", "\u11ab", "\u11af"]),
    ).map("".join),
    st.sampled_from(
        [
            FAMILY,
            "\U0001f1ec\U0001f1e7",
            "\U0001f1eb",
            "1\ufe0f\u20e3",
            "\U0001f44d\U0001f3fd",
            "✅",
            "😀",
        ]
    ),
    st.sampled_from(["a", " ", "e\u0301", "\r\n", "\n", ".", "ç"]),
)
WORLD_TEXT = st.lists(UNITS, max_size=120).map("".join)


@settings(max_examples=300)
@given(WORLD_TEXT)
def test_regex_and_pyuegc_agree_on_clusters(text: str) -> None:
    assert clusters(text, "UCS-2") == pyuegc.EGC(text)


@settings(max_examples=300)
@given(st.one_of(WORLD_TEXT, ANY_TEXT))
def test_parts_end_only_between_clusters(text: str) -> None:
    measured = segment(text, "UCS-2")
    assert "".join(measured.parts) == text
    single, multi = LIMITS["UCS-2"]
    limit = single if measured.segments == 1 else multi
    assert all(0 < len(part.encode("utf-16-le")) // 2 <= limit for part in measured.parts)
    # Offsets where a cluster starts, and the clusters too long for any part.
    starts, inside_long, offset = {0, len(text)}, set(), 0
    for match in regex.finditer(r"\X", text):
        starts.add(match.start())
        if len(match.group().encode("utf-16-le")) // 2 > multi:
            inside_long |= set(range(match.start() + 1, match.end()))
    for part in measured.parts[:-1]:
        offset += len(part)
        assert offset in starts or offset in inside_long, (
            f"a part ends inside a cluster at {offset}"
        )
