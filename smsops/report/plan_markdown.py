"""A plan as a pull-request comment: markdown, always under `MARKDOWN_LIMIT` characters.

However many schedules and recipients there are, counts are complete, lists
are short (3 samples, 10 skips per schedule), and schedules past the budget
are named in the table or counted at the end. Numbers are masked.

Nothing from a config or its data reaches the comment as markup: names,
paths and skip details are code spans, every sample message is a fenced
code block showing exactly the text that will be sent (`markdown_literal`
says why code and not backslash escapes). The budget is counted on the
escaped text, so escaping can never push the comment past the limit. The
first line is the hidden marker `<!-- smsops-plan -->`: CI finds its own
comment by it and edits that one instead of adding another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from smsops.core.skips import Skip
from smsops.engine.forecast import ScheduleForecast
from smsops.engine.plan import Disposition, Plan, Sample, SchedulePlan
from smsops.report.markdown_literal import code_block, code_span
from smsops.report.plan_format import (
    SKIPS_SHOWN,
    _not_considered,
    approval_sentence,
    breakdown,
    cost_text,
    costs,
    due,
    instant,
    ledger_rows,
    statuses,
    summary_line,
)
from smsops.report.wording import (
    cost_phrase,
    encodings_text,
    exclusions_text,
    plural,
    skip_counts,
)

MARKER = "<!-- smsops-plan -->"
MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters
TABLE_STATUSES = (
    Disposition.SENT,
    Disposition.UNCERTAIN,
    Disposition.FAILED,
    Disposition.EXPIRED,
)
TABLE_SHARE = 24_000  # the summary table leaves most of the room to the details
SAMPLE_CHARS = 1_600  # of a sample message: ten concatenated GSM-7 segments fit
FIELD_CHARS = 200  # of a path or skip detail
_ISO_CURRENCY = re.compile(r"[A-Z]{3}")


def _field(text: str, *, in_table: bool = False, limit: int = FIELD_CHARS) -> str:
    """A string from the config or its data as a code span, cut at `limit` characters."""
    if len(text) <= limit:
        return code_span(text, in_table=in_table)
    return code_span(text[:limit], in_table=in_table) + f" _(first {limit:,} characters)_"


def _currency(currency: str) -> str:
    """A currency code as it is; anything else from the config as a code span."""
    return currency if _ISO_CURRENCY.fullmatch(currency) else _field(currency)


def _table_currency(currency: str) -> str:
    return currency if _ISO_CURRENCY.fullmatch(currency) else _field(currency, in_table=True)


def as_markdown(
    plan: Plan, forecast: str = "", diff: str = "", ahead: Sequence[ScheduleForecast] = ()
) -> str:
    """The pull-request comment, always under MARKDOWN_LIMIT characters.

    What a merge changes comes first, then what the schedules will send, then
    what is due now: `diff` (report/diff_markdown.py, `plan --base`) and
    `forecast` (report/forecast_markdown.py) are sections built within their
    own shares of the limit; the approvals warning stays above all three.
    `ahead`: the schedules the forecast finds over their limits, in that warning.
    """
    head = [
        f"## smsops plan at {instant(plan)}",
        "",
        f"**{summary_line(plan, _currency)}**",
        "",
        *_against(plan),
        *_providers(plan),
        "| schedule | due | to send | sent | uncertain | failed | expired | skipped | segments "
        "| cost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [_row(s) for s in plan.schedules]
    total = len(plan.schedules)
    top = _Budget(TABLE_SHARE // 2)
    top.add(MARKER)
    _approvals(plan, ahead, top)
    out = _Budget(MARKDOWN_LIMIT - 300)  # room for the closing note
    out.add(top.text())
    for section in (diff, forecast):
        if section:
            out.add(section)
    # The table gets what the sections above left (with room for its own notes).
    table = _Budget(min(TABLE_SHARE, out.limit - out.size - 400))
    table.add("\n".join(head))
    in_table = table.add_all(rows)
    if in_table < total:
        table.force(f"\n_{total - in_table:,} more schedules are not in this table._")
    if plan.not_considered:
        table.force(f"\n_{_not_considered(plan)}._")
    out.add(table.text())
    detailed = out.add_all([_schedule_markdown(s) for s in plan.schedules])
    if detailed < total:
        out.force(
            f"_{total - detailed:,} schedules are not detailed here to keep this comment "
            "short; `smsops plan --format json` has everything._"
        )
    return out.text()


def _approvals(plan: Plan, ahead: Sequence[ScheduleForecast], table: _Budget) -> None:
    """First, above everything: the schedules a merge would not send without approval,
    due now and, from the forecast, at their next fires (the reviewer's question)."""
    now = [(s.schedule, s.over_limits) for s in plan.schedules if s.over_limits]
    later = [(s.schedule, s.over_limits) for s in ahead if s.over_limits]
    if not now and not later:
        return
    table.add("> [!WARNING]")
    for over, forecast in ((now, False), (later, True)):
        sentence = approval_sentence([name for name, _ in over], forecast=forecast)
        if sentence is None:
            continue
        table.add(f"> **{sentence}**\n>")
        mark = " (forecast)" if forecast else ""
        lines = [
            f"> - {_field(name)}{mark}: " + "; ".join(_field(str(o)) for o in limits)
            for name, limits in over
        ]
        listed = table.add_all(lines)
        if listed < len(over):
            table.force(
                f"> - _{len(over) - listed:,} more; `smsops plan --format json` lists all._"
            )
        table.force(">")
    table.force("")


def _against(plan: Plan) -> list[str]:
    """Which ledger the comment was planned against: what "will send" is relative to."""
    if plan.ledger is None:
        return []
    return [
        f"Planned against the ledger {_field(plan.ledger.name)} ({ledger_rows(plan.ledger)}).",
        "",
    ]


def _providers(plan: Plan) -> list[str]:
    """Where each provider in use sends, and which environment variables it reads."""
    if not plan.providers:
        return []
    rows = [
        f"| {_field(p.name, in_table=True)} | {_field(p.type, in_table=True)} | "
        f"{_field(p.destination, in_table=True)} | "
        + (", ".join(_field(name, in_table=True) for name in p.env) or "-")
        + " |"
        for p in plan.providers
    ]
    return ["| provider | type | sends to | reads |", "|---|---|---|---|", *rows, ""]


def _row(s: SchedulePlan) -> str:
    counts = [s.to_send, *(s.counts[d] for d in TABLE_STATUSES), s.skipped, s.segments]
    cost = (s.to_send and cost_text(costs([s]), _table_currency)) or "-"
    return (
        f"| {_field(s.schedule, in_table=True)} | {due(s)}"
        + (" **needs approval**" if s.over_limits else "")
        + " | "
        + " | ".join(f"{n:,}" for n in counts)
        + f" | {cost} |"
    )


def _schedule_markdown(s: SchedulePlan) -> str:
    via = " → ".join(_field(p) for p in s.providers)
    lines = [
        f"### {_field(s.schedule)}",
        f"template {_field(s.template)} → audience {_field(s.audience)} via {via}",
        "",
        f"- due: {due(s)}",
    ]
    lines.extend(f"- **needs approval**: {_field(str(o))}" for o in s.over_limits)
    if s.to_send:
        enc = encodings_text(s.encodings)
        cost = cost_phrase(s.cost, s.currency, _currency)
        lines.append(
            f"- **{s.to_send:,} to send** ({breakdown(s)}): {plural(s.segments, 'segment')}, "
            f"{enc}{cost}"
        )
    lines.extend(f"- {sentence}" for _, sentence in statuses(s))
    if s.exclusions:
        lines.append(f"- {exclusions_text(s.exclusions, _field)}")
    if s.skipped:
        lines.append(f"- {s.skipped:,} skipped: {skip_counts(s.skip_counts)}")
    if s.next_fires:
        lines.append(f"- next fires: {', '.join(s.next_fires)}")
    for sample in s.samples:
        lines += ["", *_sample(sample)]
    lines += _skipped_details(s.skips, s.skipped)
    return "\n".join(lines) + "\n"


def _skipped_details(skips: Sequence[Skip], skipped: int) -> list[str]:
    """The first SKIPS_SHOWN skipped recipients, folded (due now and the forecast alike)."""
    if not skips:
        return []
    shown = skips[:SKIPS_SHOWN]
    lines = [
        "",
        f"<details><summary>skipped recipients ({len(shown)} of {skipped:,})</summary>",
        "",
    ]
    lines += [f"- {_field(str(k.where))}: {k.reason.label}: {_field(k.detail)}" for k in shown]
    return [*lines, "", "</details>"]


def _sample(x: Sample) -> list[str]:
    """A header line, then the message exactly as it will be sent (or its first part)."""
    lines = [
        f"to {code_span(x.masked_phone)}, {x.encoding}, {plural(x.segments, 'segment')}:",
        code_block(x.text[:SAMPLE_CHARS]),
    ]
    if len(x.text) > SAMPLE_CHARS:
        lines.append(f"_(the first {SAMPLE_CHARS:,} of {len(x.text):,} characters)_")
    return lines


class _Budget:
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
