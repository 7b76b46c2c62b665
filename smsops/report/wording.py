"""Phrases every view of a plan or a preview shares, so text, markdown and render agree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from smsops.core.skips import SkipReason
from smsops.core.words import plural as plural

if TYPE_CHECKING:  # the ledger's modules (~2 ms): validate and render show no delivery
    from smsops.ledger.receipts import LastDelivery


def encodings_text(encodings: Mapping[str, int]) -> str:
    """`GSM-7 5, UCS-2 1`, in a stable order."""
    return ", ".join(f"{name} {n:,}" for name, n in sorted(encodings.items()))


def cost_phrase(cost: Decimal | None, currency: str | None, shown: Callable[[str], str]) -> str:
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


NO_RECEIPTS = "no receipts yet"


def delivery_text(last: LastDelivery, shown: Callable[[str], str]) -> str:
    """The delivery of a schedule's last occurrence sent; `shown` spells its label.

    `delivery of occurrence 2026-11-21T09:00:00Z: 75.0% delivered (3 delivered,
    1 undelivered, 2 awaiting a receipt, of 6 sent)`. Without a final receipt
    there is no rate to give: it says so (never sent, or how many wait), never 0 %.
    """
    if last.occurrence is None:
        return f"delivery: never sent, {NO_RECEIPTS}"
    of = f"delivery of occurrence {shown(last.occurrence)}"
    if last.rate is None:
        return f"{of}: {last.sent:,} sent, {NO_RECEIPTS}"
    parts = [f"{last.delivered:,} delivered", f"{last.undelivered:,} undelivered"]
    if last.awaiting:
        parts.append(f"{last.awaiting:,} awaiting a receipt")
    return f"{of}: {rate_text(last.rate)} delivered ({', '.join(parts)}, of {last.sent:,} sent)"


def delivery_cell(last: LastDelivery) -> str:
    """The same in a table cell: the rate, or why there is none."""
    return NO_RECEIPTS if last.rate is None else rate_text(last.rate)


def rate_text(rate: float) -> str:
    """`75.0%` (`ledger stats` too). Only all is 100.0% and only none 0.0%: 1,999 of 2,000
    is 99.9%, not a rounded 100.0% that hides the one undelivered."""
    if 0 < rate < 1:
        rate = min(max(rate, 0.001), 0.999)
    return f"{rate:.1%}"
