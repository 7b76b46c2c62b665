"""Phrases every view of a plan or a preview shares, so text, markdown and render agree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

from smsops.core.skips import SkipReason


def plural(n: int, noun: str) -> str:
    """`1 segment`, `1,200 segments`."""
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def encodings_text(encodings: Mapping[str, int]) -> str:
    """`GSM-7 5, UCS-2 1`, in a stable order."""
    return ", ".join(f"{name} {n:,}" for name, n in sorted(encodings.items()))


def cost_phrase(cost: float | None, currency: str | None, shown: Callable[[str], str]) -> str:
    """`, about 0.1579 USD` (empty without a price); `shown` spells the currency for the view.

    The currency comes from the config: each view makes it safe its own way.
    """
    if cost is None:
        return ""
    return f", about {cost:.4f} {shown(currency)}" if currency else f", about {cost:.4f}"


def exclusions_text(exclusions: Mapping[str, int], shown: Callable[[str], str]) -> str:
    """`excluded: 2 by optouts, 0 by blocked` (each exclusion, in the config's order)."""
    return "excluded: " + ", ".join(f"{n:,} by {shown(name)}" for name, n in exclusions.items())


def skip_counts(counts: Counter[SkipReason]) -> str:
    """`duplicate 1, invalid number 3`."""
    return ", ".join(f"{reason.label} {n:,}" for reason, n in sorted(counts.items()))
