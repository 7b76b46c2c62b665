"""The config diff (engine/diff.py) as JSON, and the phrases its text and markdown views share.

`describe` says each change in words once; the text view (here) and the
pull-request comment (diff_markdown.py) each pass how they make outside text
inert (`shown`): rich escapes for a terminal, code spans for markdown. A
message text stays apart (`Described.texts`), so markdown can fence it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smsops.core.skips import SkipReason
from smsops.engine.diff import Change, ConfigDiff, Section, Status
from smsops.engine.diff_samples import SideText
from smsops.engine.forecast import ScheduleForecast, next_cost
from smsops.report.forecast_format import ONCE_DUE
from smsops.report.plan_format import clip, cost_text, shown
from smsops.report.wording import plural, skip_counts

DIFF_VERSION = 1
NOTHING = "no change to what anyone receives"
FIRES_SHOWN = 3
SKIPS_SHOWN = 5
Shown = Callable[[str], str]


def diff_json(diff: ConfigDiff) -> dict[str, Any]:
    """The `diff` member of `smsops plan --base --format json` (its own `version`)."""
    return {
        "version": DIFF_VERSION,
        "base": diff.base,
        "base_problems": diff.base_problems,
        "receives_changed": diff.receives_changed,
        "attention": diff.attention,
        **{s.kind: _section_json(s) for s in diff.sections},
    }


def _section_json(section: Section) -> dict[str, Any]:
    return {
        "changes": [_change_json(section.kind, c) for c in section.changes],
        "unchanged": section.unchanged,
    }


def _change_json(kind: str, c: Change) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": c.name,
        "status": c.status.value,
        "fields": [{"field": f.field, "before": f.before, "after": f.after} for f in c.fields],
    }
    if kind == "schedules":
        out["receives_changed"] = c.receives_changed
        out["fires"] = {"before": _fires(c.before), "after": _fires(c.after)}
        out["forecast"] = {"before": _side_json(c.before), "after": _side_json(c.after)}
    if kind == "templates":
        out["samples"] = [
            {
                "masked_phone": x.masked_phone,
                "schedule": x.schedule,
                "before": vars(x.before),
                "after": vars(x.after),
            }
            for x in c.samples
        ]
    if kind == "audiences" and c.audience is not None:
        a = c.audience
        out |= {
            "recipients_added": a.added,
            "recipients_removed": a.removed,
            "added_samples": a.added_samples,
            "removed_samples": a.removed_samples,
            "exclusions_added": a.exclusions_added,
            "exclusions_removed": a.exclusions_removed,
        }
    if kind == "providers":
        out["attention"] = c.attention
    return out


def _fires(s: ScheduleForecast | None) -> list[str]:
    return [] if s is None else s.fires


def _side_json(s: ScheduleForecast | None) -> dict[str, Any] | None:
    if s is None:
        return None
    nxt = s.next
    return {
        "enabled": s.enabled,
        "next_occurrence": s.next_occurrence,
        "fire_count": s.fire_count,
        "to_send": 0 if nxt is None else nxt.to_send,
        "segments": 0 if nxt is None else nxt.segments,
        "cost": next_cost(s),
        "skipped": {} if nxt is None else {r.value: n for r, n in nxt.skip_counts.items()},
        "skips": []
        if nxt is None
        else [
            {"reason": k.reason.value, "detail": k.detail, "where": str(k.where)} for k in nxt.skips
        ],
        "messages": sum(d.messages for d in s.per_day) if s.enabled else 0,
    }


@dataclass
class Described:
    title: str
    lines: list[str] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (header, message text)


def headline(diff: ConfigDiff, name: Shown) -> str:
    if diff.base_problems is not None:
        problems = plural(len(diff.base_problems), "problem")
        return (
            f"the base {name(diff.base)} does not load ({problems}): nothing can be compared, "
            "so what people receive is counted as changed"
        )
    counts = [
        f"{s.kind}: "
        + ", ".join(
            [
                f"{sum(c.status is st for c in s.changes):,} {st.value}"
                for st in Status
                if any(c.status is st for c in s.changes)
            ]
            + [f"{s.unchanged:,} unchanged"]
        )
        for s in diff.sections
    ]
    verdict = "what people receive changes" if diff.receives_changed else NOTHING
    return f"{verdict} (against {name(diff.base)}; {'; '.join(counts)})"


def describe(kind: str, c: Change, name: Shown, currency: Shown = str) -> Described:
    """One change in words; `name` makes outside text inert for the view."""
    title = f"{kind[:-1]} {name(c.name)} {c.status.value}"
    if c.receives_changed:
        title += " (changes what people receive)"
    out = Described(title)
    out.lines += [
        f"{name(f.field)}: {name(f.before) if f.before else '(not set)'} → "
        f"{name(f.after) if f.after else '(not set)'}"
        for f in c.fields
    ]
    out.lines += [f"needs attention: {name(a)}" for a in c.attention]
    if c.audience is not None:
        a = c.audience
        out.lines.append(
            f"recipients: +{a.added:,} added, -{a.removed:,} removed"
            + (f"; added e.g. {', '.join(name(x) for x in a.added_samples)}" if a.added else "")
            + (
                f"; removed e.g. {', '.join(name(x) for x in a.removed_samples)}"
                if a.removed
                else ""
            )
        )
        out.lines += [f"now excludes {name(x)}" for x in a.exclusions_added]
        out.lines += [f"no longer excludes {name(x)}" for x in a.exclusions_removed]
    if kind == "schedules":
        out.lines += _schedule_lines(c, name, currency)
    for x in c.samples:
        for side, rendered in (("before", x.before), ("after", x.after)):
            measured = _measure(rendered, currency)
            header = f"to {name(x.masked_phone)} ({name(x.schedule)}), {side}: {measured}"
            out.texts.append((header, "" if rendered.text is None else rendered.text))
    return out


def _measure(x: SideText, currency: Shown) -> str:
    if x.text is None:
        return f"skipped: {x.skipped}"
    cost = "" if x.cost is None else f", about {x.cost:.4f} {currency(x.currency or '')}"
    return f"{x.encoding}, {plural(x.segments, 'segment')}{cost}"


def _schedule_lines(c: Change, name: Shown, currency: Shown) -> list[str]:
    lines = [
        f"next fires: {_fires_phrase(c.before, name)} → {_fires_phrase(c.after, name)}",
        f"next occurrence: {_sends(c.before, currency)} → {_sends(c.after, currency)}",
    ]
    before, after = c.before, c.after
    if after is not None and after.next is not None:
        was = Counter[SkipReason]()
        if before is not None and before.next is not None:
            was = before.next.skip_counts
        more = [r for r, n in after.next.skip_counts.items() if n > was[r]]
        for k in [k for k in after.next.skips if k.reason in more][:SKIPS_SHOWN]:
            lines.append(f"now skipped: {name(str(k.where))}: {k.reason.label}: {name(k.detail)}")
    return lines


def _fires_phrase(s: ScheduleForecast | None, name: Shown) -> str:
    if s is None:
        return "(none: not in this config)"
    if not s.triggered:
        return "once"
    if not s.fires:
        return "none in the horizon"
    more = ", ..." if s.fire_count > FIRES_SHOWN else ""
    return ", ".join(name(f) for f in s.fires[:FIRES_SHOWN]) + more


def _sends(s: ScheduleForecast | None, currency: Shown) -> str:
    if s is not None and not s.triggered and s.next is None:  # no next: it is due now
        return ONCE_DUE if s.enabled else "once if enabled (disabled)"
    if s is None or s.next is None:
        return "nothing"
    nxt = s.next
    cost = cost_text(next_cost(s), currency)
    skipped = f", {nxt.skipped:,} skipped ({skip_counts(nxt.skip_counts)})" if nxt.skipped else ""
    disabled = "" if s.enabled else " if enabled (disabled)"
    return (
        f"{nxt.to_send:,} to send{disabled}, {plural(nxt.segments, 'segment')}"
        + (f", about {cost}" if cost and nxt.to_send else "")
        + skipped
    )


def diff_text(diff: ConfigDiff) -> str:
    """The change, for a terminal (rich markup; outside text escaped), before the plan."""
    lines = [f"[bold]Change:[/] {headline(diff, shown)}", ""]
    for problem in (diff.base_problems or [])[:20]:
        lines.append(f"  {shown(problem)}")
    for section in diff.sections:
        for c in section.changes:
            d = describe(section.kind, c, shown, shown)
            lines.append(f"[bold]{d.title}[/]")
            lines += [f"  {line}" for line in d.lines]
            lines += [f"  {header}:\n      {shown(clip(text))}" for header, text in d.texts]
            lines.append("")
    return "\n".join(lines) + "\n"
