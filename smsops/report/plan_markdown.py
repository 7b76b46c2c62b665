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

from collections.abc import Sequence

from smsops.engine.forecast import ScheduleForecast
from smsops.engine.plan import Disposition, Plan, SchedulePlan
from smsops.report.markdown_parts import (
    Budget,
    currency,
    field,
    sample_lines,
    skipped_details,
    tablecurrency,
)
from smsops.report.plan_format import (
    approval_sentence,
    breakdown,
    cost_text,
    costs,
    due,
    instant,
    ledger_rows,
    not_considered,
    statuses,
    summary_line,
)
from smsops.report.wording import (
    cost_phrase,
    delivery_cell,
    delivery_text,
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
        f"**{summary_line(plan, currency)}**",
        "",
        *_against(plan),
        *_providers(plan),
        "| schedule | due | to send | sent | uncertain | failed | expired | skipped | segments "
        "| cost | last delivery |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [_row(s) for s in plan.schedules]
    total = len(plan.schedules)
    top = Budget(TABLE_SHARE // 2)
    top.add(MARKER)
    _approvals(plan, ahead, top)
    out = Budget(MARKDOWN_LIMIT - 300)  # room for the closing note
    out.add(top.text())
    for section in (diff, forecast):
        if section:
            out.add(section)
    # The table gets what the sections above left (with room for its own notes).
    table = Budget(min(TABLE_SHARE, out.limit - out.size - 400))
    table.add("\n".join(head))
    in_table = table.add_all(rows)
    if in_table < total:
        table.force(f"\n_{total - in_table:,} more schedules are not in this table._")
    if plan.not_considered:
        table.force(f"\n_{not_considered(plan)}._")
    out.add(table.text())
    detailed = out.add_all([_schedule_markdown(s) for s in plan.schedules])
    if detailed < total:
        out.force(
            f"_{total - detailed:,} schedules are not detailed here to keep this comment "
            "short; `smsops plan --format json` has everything._"
        )
    return out.text()


def _approvals(plan: Plan, ahead: Sequence[ScheduleForecast], table: Budget) -> None:
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
            f"> - {field(name)}{mark}: " + "; ".join(field(str(o)) for o in limits)
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
        f"Planned against the ledger {field(plan.ledger.name)} ({ledger_rows(plan.ledger)}).",
        "",
    ]


def _providers(plan: Plan) -> list[str]:
    """Where each provider in use sends, and which environment variables it reads."""
    if not plan.providers:
        return []
    rows = [
        f"| {field(p.name, in_table=True)} | {field(p.type, in_table=True)} | "
        f"{field(p.destination, in_table=True)} | "
        + (", ".join(field(name, in_table=True) for name in p.env) or "-")
        + " |"
        for p in plan.providers
    ]
    return ["| provider | type | sends to | reads |", "|---|---|---|---|", *rows, ""]


def _row(s: SchedulePlan) -> str:
    counts = [s.to_send, *(s.counts[d] for d in TABLE_STATUSES), s.skipped, s.segments]
    cost = (s.to_send and cost_text(costs([s]), tablecurrency)) or "-"
    return (
        f"| {field(s.schedule, in_table=True)} | {due(s)}"
        + (" **needs approval**" if s.over_limits else "")
        + " | "
        + " | ".join(f"{n:,}" for n in counts)
        + f" | {cost} | {'-' if s.last_delivery is None else delivery_cell(s.last_delivery)} |"
    )


def _schedule_markdown(s: SchedulePlan) -> str:
    via = " → ".join(field(p) for p in s.providers)
    lines = [
        f"### {field(s.schedule)}",
        f"template {field(s.template)} → audience {field(s.audience)} via {via}",
        "",
        f"- due: {due(s)}",
    ]
    lines.extend(f"- **needs approval**: {field(str(o))}" for o in s.over_limits)
    if s.to_send:
        enc = encodings_text(s.encodings)
        cost = cost_phrase(s.exact_cost, s.currency, currency)
        lines.append(
            f"- **{s.to_send:,} to send** ({breakdown(s)}): {plural(s.segments, 'segment')}, "
            f"{enc}{cost}"
        )
    lines.extend(f"- {sentence}" for _, sentence in statuses(s))
    if s.exclusions:
        lines.append(f"- {exclusions_text(s.exclusions, field)}")
    if s.last_delivery is not None:
        lines.append(f"- {delivery_text(s.last_delivery, field)}")
    if s.skipped:
        lines.append(f"- {s.skipped:,} skipped: {skip_counts(s.skip_counts)}")
    if s.next_fires:
        lines.append(f"- next fires: {', '.join(s.next_fires)}")
    for sample in s.samples:
        lines += ["", *sample_lines(sample)]
    lines += skipped_details(s.skips, s.skipped)
    return "\n".join(lines) + "\n"
