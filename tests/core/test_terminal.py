"""`printable` leaves nothing a terminal obeys and still says which character was there;
`json_text` parses back to the same value with no such character raw."""

from __future__ import annotations

import io
import json
import re
import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from smsops.core.terminal import BIDI_CONTROLS, SEPARATORS, json_text, printable

# What a terminal (or a bidi-aware viewer) acts on instead of showing.
OBEYED = frozenset([*range(0x20), *range(0x7F, 0xA0), *BIDI_CONTROLS, *SEPARATORS])
ESCAPE = re.compile(r"\\x([0-9a-f]{2})|\\([tnr])|<U\+([0-9A-F]{4})>")
NAMED = {"t": "\t", "n": "\n", "r": "\r"}


def obeyed(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if ord(c) in OBEYED]


def decoded(shown: str) -> str:
    """The text `printable` was given, read back from its escapes."""

    def one(match: re.Match[str]) -> str:
        hex2, name, code = match.groups()
        if name:
            return NAMED[name]
        return chr(int(hex2 or code, 16))

    return ESCAPE.sub(one, shown)


ATTACKS = {
    "clear screen, colour": ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
    "window title (OSC 0, BEL)": ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
    "hyperlink (OSC 8, ST)": (
        "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
        "\\x1b]8;;https://evil.example\\x1b\\click\\x1b]8;;\\x1b\\",
    ),
    "clipboard write (OSC 52)": ("\x1b]52;c;cm0gLXJmIH4=\x07", "\\x1b]52;c;cm0gLXJmIH4=\\x07"),
    "CR overwrite": ("10,000 to send\rnothing to send", "10,000 to send\\rnothing to send"),
    "backspaces": ("10,000\b\b\b\b\b\b0", "10,000\\x08\\x08\\x08\\x08\\x08\\x080"),
    "C1 CSI and NEL": ("\x9b2J\x85x", "\\x9b2J\\x85x"),
    "NUL, DEL, TAB": ("a\x00b\x7fc\td", "a\\x00b\\x7fc\\td"),
    "right-to-left override": ("pay \u202e0001\u202c now", "pay <U+202E>0001<U+202C> now"),
    "isolates and marks": (
        "\u2066a\u2069\u2067b\u2069\u2068c\u2069\u200e\u200f\u061c",
        "<U+2066>a<U+2069><U+2067>b<U+2069><U+2068>c<U+2069><U+200E><U+200F><U+061C>",
    ),
    "embeddings": ("\u202aa\u202bb\u202cc\u202d", "<U+202A>a<U+202B>b<U+202C>c<U+202D>"),
    "line and paragraph separators": ("a\u2028b\u2029c", "a<U+2028>b<U+2029>c"),
}


@pytest.mark.parametrize(("text", "shown"), ATTACKS.values(), ids=ATTACKS.keys())
def test_each_control_is_shown_as_a_visible_escape(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert not obeyed(printable(text))


def test_every_obeyed_character_is_escaped() -> None:
    everything = "".join(chr(c) for c in sorted(OBEYED))
    assert not obeyed(printable(everything))
    assert decoded(printable(everything)) == everything


def test_a_line_break_is_escaped_unless_lines_are_kept() -> None:
    assert printable("one\ntwo") == "one\\ntwo"
    assert printable("one\ntwo\r\x1b[2K", lines=True) == "one\ntwo\\r\\x1b[2K"


PLAIN = [
    "Hi Sam, order A-1001 has shipped: https://example.com/t?a=1&b=2",
    "Grüße aus Köln, ça va? ¿Qué tal? Ωmega",
    "مرحبا بالعالم שלום עולם",  # right-to-left letters are text, not controls
    "नमस्ते สวัสดี 안녕하세요 你好",
    "👍🏽 👨‍👩‍👧 🇬🇧",  # a zero-width joiner and flags are text
    "backslash \\ and \\x1b typed as text, <U+202E> typed as text, [bold]markup[/]",
]


@pytest.mark.parametrize("text", PLAIN)
def test_text_a_terminal_shows_is_left_alone(text: str) -> None:
    assert printable(text) == text


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_characters="\\<")))
def test_nothing_obeyed_is_left_and_every_character_can_be_read_back(text: str) -> None:
    shown = printable(text)
    assert not obeyed(shown)
    assert decoded(shown) == text


def test_rich_alone_passes_escape_sequences_which_is_why_printable_exists() -> None:
    """rich strips BEL, BS, VT, FF and CR (silently) but prints ESC, C1 and bidi controls."""
    out = io.StringIO()
    Console(file=out, highlight=False, soft_wrap=True).print("a\x1b]52;c;aGk=\x1b\\b\x9b\u202e")
    assert "\x1b]52;" in out.getvalue()
    out = io.StringIO()
    Console(file=out, highlight=False, soft_wrap=True).print(printable("a\x1b]52;\r\u202e"))
    assert out.getvalue() == "a\\x1b]52;\\r<U+202E>\n"


JSON_VALUES = [
    {"text": "\x1b]52;c;aGk=\x07 \x9b2J \x7f \u202eevil\u202c \u2028", "n": 1},
    ["Grüße 👍🏽 مرحبا", None, 2.5],
]


@pytest.mark.parametrize("value", JSON_VALUES)
def test_json_text_parses_back_with_no_obeyed_character_raw(value: object) -> None:
    text = json_text(value, indent=2)
    assert json.loads(text) == value
    assert not obeyed(text.replace("\n", ""))


def test_json_text_keeps_readable_text_raw() -> None:
    assert json_text({"t": "Grüße 👍🏽"}) == '{"t": "Grüße 👍🏽"}'
    assert json_text({"t": "\u202e\x9b"}) == '{"t": "\\u202e\\u009b"}'
    assert json_text({"b": 1, "a": object()}, sort_keys=True, default=lambda _: "x") == (
        '{"a": "x", "b": 1}'
    )


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), st.lists(st.text(), max_size=3), max_size=3))
def test_json_text_of_anything_round_trips(value: object) -> None:
    text = json_text(value)
    assert json.loads(text) == value
    assert not obeyed(text)


def test_bidi_controls_are_unicodes_explicit_formatting_characters_and_the_marks() -> None:
    """Every character with an explicit bidi class (embeddings, overrides, isolates), plus
    the implicit marks LRM, RLM and ALM (format characters of class L, R and AL)."""
    explicit = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
    found = {c for c in range(0x110000) if unicodedata.bidirectional(chr(c)) in explicit}
    marks = {0x200E, 0x200F, 0x061C}
    assert {unicodedata.category(chr(c)) for c in marks} == {"Cf"}
    assert found | marks == BIDI_CONTROLS


def test_json_text_writes_a_decimal_as_a_number_with_its_exact_digits() -> None:
    """Money (the plan's costs) keeps every digit; no text in the data becomes a number."""
    value = {
        "cost": {"USD": Decimal("7361557361.55"), "EUR": Decimal("0.0000675")},
        "zero": Decimal("0E-7"),
        "texts": ['"decimal-00:1"', "decimal-:2", "0.0000675"],
    }
    text = json_text(value)
    assert '"USD": 7361557361.55' in text
    assert '"EUR": 0.0000675' in text
    assert '"zero": 0.0000000' in text
    back = json.loads(text, parse_float=Decimal)
    assert back == {**value, "zero": Decimal(0)}
    assert back["texts"] == value["texts"]  # strings stay strings
