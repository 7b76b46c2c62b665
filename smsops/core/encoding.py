"""SMS encoding: GSM-7 or UCS-2, and how a text splits into segments.

GSM-7 counts septets (the extension table `^{}\\[~]|€` and form feed cost
two, an escape plus the character); UCS-2 counts UTF-16 code units (an
emoji outside the BMP costs two). A single message holds 160 septets / 70
units; a concatenated one 153 / 67 per part. A part never ends between an
escape and its character or inside a surrogate pair, and in UCS-2 never
inside a user-perceived character: a UAX #29 extended grapheme cluster
(`regex`'s `\\X`: ZWJ emoji sequences, flags, keycaps, combining marks, and the
consonant + vowel sign and conjunct clusters of Indic, Thai and Hangul text).
Only a cluster longer than a whole part is cut, between code points.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import regex

Encoding = Literal["GSM-7", "UCS-2"]

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}

_GSM_ALL = GSM_BASIC | GSM_EXTENSION


def is_gsm(text: str) -> bool:
    """Whether every character is in the GSM 03.38 basic or extension table."""
    return _GSM_ALL.issuperset(text)


def _total_cost(text: str, encoding: Encoding) -> int:
    """What the whole text costs, counted in C (the common one-part case needs no more)."""
    if encoding == "GSM-7":
        if GSM_EXTENSION.isdisjoint(text):  # the usual text: one septet a character
            return len(text)
        return len(text) + sum(text.count(ch) for ch in GSM_EXTENSION)
    return len(text.encode("utf-16-le")) // 2


def choose_encoding(text: str, unicode: Literal["auto"] | bool = "auto") -> Encoding:
    """The encoding a template's `unicode` setting gives this text.

    Raises `ValueError` when `unicode: false` forces GSM-7 on text it cannot carry.
    """
    if unicode is True:
        return "UCS-2"
    if is_gsm(text):
        return "GSM-7"
    if unicode is False:
        bad = sorted({ch for ch in text if ch not in GSM_BASIC and ch not in GSM_EXTENSION})
        raise ValueError(
            f"the text needs UCS-2 for {''.join(bad)!r}, but the template sets unicode: false"
        )
    return "UCS-2"


def _cost(cluster: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return sum(2 if ch in GSM_EXTENSION else 1 for ch in cluster)
    return len(cluster.encode("utf-16-le")) // 2


@cache
def _cluster_pattern() -> regex.Pattern[str]:
    """`\\X`, compiled on first use: importing `regex` costs ~20 ms that a command
    which never splits a UCS-2 message should not pay."""
    import regex

    return regex.compile(r"\X")


def clusters(text: str, encoding: Encoding) -> list[str]:
    """The units a split may not cut: characters for GSM-7 (whose tables hold no
    combining characters), extended grapheme clusters (UAX #29) for UCS-2."""
    if encoding == "GSM-7":
        return list(text)
    found: list[str] = _cluster_pattern().findall(text)
    return found


@dataclass(frozen=True)
class Segmented:
    encoding: Encoding
    parts: tuple[str, ...]

    @property
    def segments(self) -> int:
        return len(self.parts)


def segment(text: str, encoding: Encoding) -> Segmented:
    """Split `text` into the parts a handset receives, in the given encoding."""
    single, multi = LIMITS[encoding]
    if _total_cost(text, encoding) <= single:
        return Segmented(encoding, (text,) if text else ())
    pieces = clusters(text, encoding)
    costs = [_cost(piece, encoding) for piece in pieces]
    if sum(costs) <= single:
        return Segmented(encoding, (text,) if text else ())
    parts: list[str] = []
    current, used = "", 0
    for piece, cost in zip(pieces, costs, strict=True):
        if cost > multi:  # one cluster longer than a part: cut between code points
            if current:
                parts.append(current)
            parts.extend(_hard_split(piece, encoding, multi))
            current, used = "", 0
            continue
        if used + cost > multi:
            parts.append(current)
            current, used = "", 0
        current += piece
        used += cost
    if current:
        parts.append(current)
    return Segmented(encoding, tuple(parts))


def _hard_split(cluster: str, encoding: Encoding, limit: int) -> list[str]:
    parts, current, used = [], "", 0
    for ch in cluster:
        cost = _cost(ch, encoding)
        if used + cost > limit:
            parts.append(current)
            current, used = "", 0
        current += ch
        used += cost
    return [*parts, current] if current else parts


def measure(text: str, unicode: Literal["auto"] | bool = "auto") -> Segmented:
    """Encoding and segments of a rendered message (raises like `choose_encoding`)."""
    return segment(text, choose_encoding(text, unicode))
