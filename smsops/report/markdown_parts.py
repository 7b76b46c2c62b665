"""Pieces every markdown view of a plan is made of: fields, samples, skips, a budget.

The plan comment (plan_markdown), its forecast (forecast_markdown) and the
base diff (diff_markdown) show config names, sample messages and skipped
recipients the same way, as code (`markdown_literal` says why), and each
builds its part within a share of the comment's limit with a `Budget`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from smsops.core.skips import Skip
from smsops.engine.plan import Sample
from smsops.report.markdown_literal import code_block, code_span
from smsops.report.plan_format import SKIPS_SHOWN
from smsops.report.wording import plural

SAMPLE_CHARS = 1_600  # of a sample message: ten concatenated GSM-7 segments fit
FIELD_CHARS = 200  # of a path or skip detail
_ISO_CURRENCY = re.compile(r"[A-Z]{3}")


def field(text: str, *, in_table: bool = False, limit: int = FIELD_CHARS) -> str:
    """A string from the config or its data as a code span, cut at `limit` characters."""
    if len(text) <= limit:
        return code_span(text, in_table=in_table)
    return code_span(text[:limit], in_table=in_table) + f" _(first {limit:,} characters)_"


def currency(currency: str) -> str:
    """A currency code as it is; anything else from the config as a code span."""
    return currency if _ISO_CURRENCY.fullmatch(currency) else field(currency)


def tablecurrency(currency: str) -> str:
    return currency if _ISO_CURRENCY.fullmatch(currency) else field(currency, in_table=True)


def skipped_details(skips: Sequence[Skip], skipped: int) -> list[str]:
    """The first SKIPS_SHOWN skipped recipients, folded (due now and the forecast alike)."""
    if not skips:
        return []
    shown = skips[:SKIPS_SHOWN]
    lines = [
        "",
        f"<details><summary>skipped recipients ({len(shown)} of {skipped:,})</summary>",
        "",
    ]
    lines += [f"- {field(str(k.where))}: {k.reason.label}: {field(k.detail)}" for k in shown]
    return [*lines, "", "</details>"]


def sample_lines(x: Sample) -> list[str]:
    """A header line, then the message exactly as it will be sent (or its first part)."""
    lines = [
        f"to {code_span(x.masked_phone)}, {x.encoding}, {plural(x.segments, 'segment')}:",
        code_block(x.text[:SAMPLE_CHARS]),
    ]
    if len(x.text) > SAMPLE_CHARS:
        lines.append(f"_(the first {SAMPLE_CHARS:,} of {len(x.text):,} characters)_")
    return lines


class Budget:
    """Appends pieces while they fit in `limit` characters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.fits = True

    def add(self, piece: str) -> bool:
        if not self.fits or self.size + len(piece) + 1 > self.limit:
            self.fits = False
            return False
        self.parts.append(piece)
        self.size += len(piece) + 1
        return True

    def add_all(self, pieces: list[str]) -> int:
        count = 0
        for piece in pieces:
            if not self.add(piece):
                break
            count += 1
        return count

    def force(self, piece: str) -> None:
        self.parts.append(piece)

    def text(self) -> str:
        return "\n".join(self.parts).rstrip("\n") + "\n"
