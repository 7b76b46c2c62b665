"""SMS encoding: GSM-7 or UCS-2, and how a text splits into segments.

GSM-7 counts septets (the extension table `^{}\\[~]|€` and form feed cost
two, an escape plus the character); UCS-2 counts UTF-16 code units (an
emoji outside the BMP costs two). A single message holds 160 septets / 70
units; a concatenated one 153 / 67 per part. A part never ends between an
escape and its character or inside a surrogate pair, and user-perceived
characters (ZWJ emoji sequences, flags, combining marks) are kept whole.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}

_ZWJ = "\u200d"
_KEYCAP = "\u20e3"


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


def _joins_previous(ch: str, previous: str) -> bool:
    """Whether `ch` belongs to the same user-perceived character as what precedes it."""
    code = ord(ch)
    return (
        previous.endswith(_ZWJ)
        or ch == _ZWJ
        or ch == _KEYCAP
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or unicodedata.combining(ch) != 0
        # a flag is a pair of regional indicators: join the second to a lone first
        or (_is_regional(ch) and len(previous) == 1 and _is_regional(previous))
    )


def _is_regional(ch: str) -> bool:
    return bool(ch) and 0x1F1E6 <= ord(ch) <= 0x1F1FF


def clusters(text: str, encoding: Encoding) -> list[str]:
    """The units a split may not cut: characters for GSM-7, grapheme-like clusters for UCS-2."""
    if encoding == "GSM-7":
        return list(text)
    found: list[str] = []
    for ch in text:
        if found and _joins_previous(ch, found[-1]):
            found[-1] += ch
        else:
            found.append(ch)
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
