"""Segment counts against a reference calculator's vectors, and split properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsops.core.encoding import (
    GSM_BASIC,
    GSM_EXTENSION,
    LIMITS,
    choose_encoding,
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
