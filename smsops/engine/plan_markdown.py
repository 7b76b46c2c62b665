"""A plan as a pull-request comment: markdown, always under `MARKDOWN_LIMIT` characters.

However many schedules and recipients there are, counts are complete, lists
are short (3 samples, 10 skips per schedule), and schedules past the budget
are named in the table or counted at the end. Numbers are masked; template
text is escaped so a pull request cannot inject markup into the comment.
"""

from __future__ import annotations

from smsops.engine.plan import Disposition, Plan, SchedulePlan
from smsops.engine.plan_format import (
    SKIPS_SHOWN,
    breakdown,
    clip,
    cost_text,
    costs,
    due,
    instant,
    plural,
    skip_counts,
    statuses,
    summary_line,
)

MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters
TABLE_STATUSES = (Disposition.SENT, Disposition.UNCERTAIN, Disposition.FAILED)
TABLE_SHARE = 24_000  # the summary table leaves most of the room to the details


def _cell(text: str) -> str:
    """Safe inside a markdown table cell: no pipes, newlines or HTML from templates."""
    return clip(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def as_markdown(plan: Plan) -> str:
    """The pull-request comment, always under MARKDOWN_LIMIT characters."""
    head = [
        f"## smsops plan at {instant(plan)}",
        "",
        f"**{summary_line(plan)}**",
        "",
        "| schedule | due | to send | sent | uncertain | failed | skipped | segments | cost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [_row(s) for s in plan.schedules]
    total = len(plan.schedules)
    table = _Budget(TABLE_SHARE)
    table.add("\n".join(head))
    in_table = table.add_all(rows)
    if in_table < total:
        table.force(f"\n_{total - in_table:,} more schedules are not in this table._")
    out = _Budget(MARKDOWN_LIMIT - 300)  # room for the closing note
    out.add(table.text())
    detailed = out.add_all([_schedule_markdown(s) for s in plan.schedules])
    if detailed < total:
        out.force(
            f"_{total - detailed:,} schedules are not detailed here to keep this comment "
            "short; `smsops plan --format json` has everything._"
        )
    return out.text()


def _row(s: SchedulePlan) -> str:
    counts = [s.to_send, *(s.counts[d] for d in TABLE_STATUSES), s.skipped, s.segments]
    cost = (s.to_send and cost_text(costs([s]))) or "-"
    return (
        f"| `{_cell(s.schedule)}` | {_cell(due(s))} | "
        + " | ".join(f"{n:,}" for n in counts)
        + f" | {cost} |"
    )


def _schedule_markdown(s: SchedulePlan) -> str:
    via = " → ".join(f"`{_cell(p)}`" for p in s.providers)
    lines = [
        f"### `{_cell(s.schedule)}`",
        f"template `{_cell(s.template)}` → audience `{_cell(s.audience)}` via {via}",
        "",
        f"- due: {_cell(due(s))}",
    ]
    if s.to_send:
        enc = ", ".join(f"{k} {v:,}" for k, v in sorted(s.encodings.items()))
        cost = f", about {s.cost:.4f} {s.currency}" if s.cost is not None else ""
        lines.append(
            f"- **{s.to_send:,} to send** ({breakdown(s)}): {plural(s.segments, 'segment')}, "
            f"{enc}{cost}"
        )
    lines.extend(f"- {_cell(sentence)}" for _, sentence in statuses(s))
    if s.skipped:
        lines.append(f"- {s.skipped:,} skipped: {skip_counts(s.skip_counts)}")
    if s.next_fires:
        lines.append(f"- next fires: {', '.join(s.next_fires)}")
    if s.samples:
        lines += ["", "| to | encoding | segments | message |", "|---|---|---:|---|"]
        lines += [
            f"| `{x.masked_phone}` | {x.encoding} | {x.segments} | {_cell(x.text)} |"
            for x in s.samples
        ]
    if s.skips:
        shown = s.skips[:SKIPS_SHOWN]
        lines += [
            "",
            f"<details><summary>skipped recipients ({len(shown)} of {s.skipped:,})</summary>",
            "",
        ]
        lines += [f"- {_cell(str(k.where))}: {k.reason.label}: {_cell(k.detail)}" for k in shown]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


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
