"""Text and JSON views of a preview; phone numbers are always masked.

In the text every string from a config or its data is printed with its
controls escaped (`smsops.core.terminal.printable`): a message is one line,
its line breaks shown as `\\n`.
"""

from __future__ import annotations

from typing import Any

from smsops.core.terminal import printable as shown
from smsops.engine.plan import SchedulePlan
from smsops.report.plan_format import rendered_json
from smsops.report.wording import cost_phrase, encodings_text, plural, skip_counts


def as_json(previews: list[SchedulePlan]) -> list[dict[str, Any]]:
    """The documented, stable JSON form of `smsops render --format json`."""
    return [
        {
            "schedule": p.schedule,
            "template": p.template,
            "audience": p.audience,
            "provider": p.providers[0],
            "occurrence": p.occurrences[0],
            "messages": p.to_send,
            **rendered_json(p, occurrence=False),
        }
        for p in previews
    ]


def as_text(previews: list[SchedulePlan]) -> str:
    lines: list[str] = []
    for p in previews:
        lines.append(
            f"schedule {shown(p.schedule)}: template {shown(p.template)} -> audience "
            f"{shown(p.audience)} via {shown(p.providers[0])} (occurrence {p.occurrences[0]})"
        )
        encodings = encodings_text(p.encodings) or "none"
        cost = cost_phrase(p.exact_cost, p.currency, shown)
        counts = f"{plural(p.to_send, 'message')}, {plural(p.segments, 'segment')}"
        lines.append(f"  {counts} ({encodings}){cost}")
        for s in p.samples:
            lines.append(
                f"  {shown(s.masked_phone):<18} {s.encoding} {plural(s.segments, 'segment')}: "
                f"{shown(s.text)}"
            )
        if p.to_send > len(p.samples):  # say the rest exists: 5 messages, 3 shown
            lines.append(f"  ... and {p.to_send - len(p.samples)} more (--samples N shows more)")
        skipped = sum(p.skip_counts.values())
        if skipped:
            counts = skip_counts(p.skip_counts)
            lines.append(f"  skipped {skipped}: {counts}")
            lines.extend(
                f"    {shown(str(s.where))}: {s.reason.label}: {shown(s.detail)}" for s in p.skips
            )
            if skipped > len(p.skips):
                lines.append(f"    ... and {skipped - len(p.skips)} more")
        lines.append("")
    return "\n".join(lines)
