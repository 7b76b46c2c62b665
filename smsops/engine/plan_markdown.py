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
    rows = [
        f"| `{_cell(s.schedule)}` | {_cell(due(s))} | {s.to_send} | {s.counts[Disposition.SENT]} "
        f"| {s.counts[Disposition.UNCERTAIN]} | {s.counts[Disposition.FAILED]} | {s.skipped} "
        f"| {s.segments} | {cost_text(costs([s])) or '-'} |"
        for s in plan.schedules
    ]
    out = _Budget(MARKDOWN_LIMIT - 500)  # room for the closing note
    out.add("\n".join(head))
    shown_rows = out.add_all(rows)
    out.add("")
    shown = out.add_all([_schedule_markdown(s) for s in plan.schedules]) if out.fits else 0
    left = len(plan.schedules) - min(shown_rows, shown)
    if left:
        out.force(
            f"\n_{left} more schedule{'s' if left != 1 else ''} not shown in full to keep this "
            "comment short; run `smsops plan --format json` for everything._"
        )
    return out.text()


def _schedule_markdown(s: SchedulePlan) -> str:
    via = " → ".join(f"`{_cell(p)}`" for p in s.providers)
    lines = [
        f"### `{_cell(s.schedule)}`",
        f"template `{_cell(s.template)}` → audience `{_cell(s.audience)}` via {via}",
        "",
        f"- due: {_cell(due(s))}",
    ]
    if s.to_send:
        enc = ", ".join(f"{k} {v}" for k, v in sorted(s.encodings.items()))
        cost = f", about {s.cost:.4f} {s.currency}" if s.cost is not None else ""
        lines.append(
            f"- **{s.to_send} to send** ({breakdown(s)}): {plural(s.segments, 'segment')}, "
            f"{enc}{cost}"
        )
    lines.extend(f"- {_cell(sentence)}" for _, sentence in statuses(s))
    if s.skipped:
        lines.append(f"- {s.skipped} skipped: {skip_counts(s.skip_counts)}")
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
            f"<details><summary>skipped recipients ({len(shown)} of {s.skipped})</summary>",
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
        return "\n".join(self.parts) + "\n"
