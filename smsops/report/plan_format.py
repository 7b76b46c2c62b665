"""A plan as JSON (stable) and as rich-markup text (terminals); shared wording.

Phone numbers are always masked (samples carry masked numbers only). In the
text, every string from a config or its data is shown with its controls
escaped (`smsops.core.terminal.printable`), then escaped for rich markup.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.markup import escape

from smsops.core.skips import SkipReason
from smsops.core.terminal import printable
from smsops.engine.plan import Disposition, LedgerSeen, OverLimit, Plan, SchedulePlan
from smsops.ledger.receipts import LastDelivery
from smsops.report.wording import (
    cost_phrase,
    delivery_text,
    encodings_text,
    exclusions_text,
    plural,
    skip_counts,
)

JSON_FORMAT_VERSION = 1
SKIPS_SHOWN = 10
SAMPLE_CHARS = 320


def utc(moment: datetime) -> str:
    """A time in a plan view: UTC to the second, as documented (`2027-03-02T09:00:00Z`);
    a plan at now carries microseconds no reader wants."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def instant(plan: Plan) -> str:
    return utc(plan.at)


def costs(schedules: list[SchedulePlan]) -> dict[str, Decimal]:
    """Total cost of the sends per currency, exact (the config's prices in decimal)."""
    total: dict[str, Decimal] = {}
    for s in schedules:
        cost = s.exact_cost
        if cost is not None and s.currency is not None:
            total[s.currency] = total.get(s.currency, Decimal(0)) + cost
    return dict(sorted(total.items()))


def cost_text(by_currency: Mapping[str, float | Decimal], shown: Callable[[str], str] = str) -> str:
    """`0.1579 USD + 1.2000 EUR`; `shown` spells a currency (it comes from the config)."""
    return " + ".join(f"{value:.4f} {shown(currency)}" for currency, value in by_currency.items())


def as_json(plan: Plan, forecast: dict[str, Any] | None = None) -> dict[str, Any]:
    """The documented, stable JSON form of `smsops plan --format json`.

    `forecast`: its JSON (report/forecast_format.py). It, `not_considered` and
    each schedule's `last_delivery` were added to format_version 1 without a
    bump: new members only, none changed meaning (a reader that ignores members
    it does not know is unaffected).
    """
    return {
        "format_version": JSON_FORMAT_VERSION,
        "at": instant(plan),
        "to_send": plan.to_send,
        "summary": {
            **{d.value: plan.total(d) for d in Disposition},
            "skipped": sum(s.skipped for s in plan.schedules),
            "segments": sum(s.segments for s in plan.schedules),
            "cost": costs(plan.schedules),
        },
        "needs_approval": [s.schedule for s in plan.schedules if s.over_limits],
        "schedules": [_schedule_json(s) for s in plan.schedules],
        "ledger": None if plan.ledger is None else vars(plan.ledger),
        "providers": [{**vars(p), "env": list(p.env)} for p in plan.providers],
        "not_considered": plan.not_considered,
        "forecast": forecast,
    }


def _schedule_json(s: SchedulePlan) -> dict[str, Any]:
    return {
        "schedule": s.schedule,
        "template": s.template,
        "audience": s.audience,
        "providers": s.providers,
        "occurrences": s.occurrences,
        "recipient_local": s.recipient_local,
        "next_fires": s.next_fires,
        "to_send": s.to_send,
        "counts": {d.value: s.counts[d] for d in Disposition},
        "expired_so_far": s.expired_so_far,
        "exclusions": s.exclusions,
        "template_changed": s.changed,
        "template_checked": s.checked,
        "needs_approval": over_json(s.over_limits),
        **rendered_json(s, occurrence=True),
        "last_delivery": delivery_json(s.last_delivery),
    }


def delivery_json(last: LastDelivery | None) -> dict[str, Any] | None:
    """The last occurrence sent and its receipts; `occurrence` and `rate` null while there is
    none (never sent; no final receipt yet), never a made-up 0."""
    if last is None:
        return None
    return {
        "occurrence": last.occurrence,
        "sent": last.sent,
        "delivered": last.delivered,
        "undelivered": last.undelivered,
        "awaiting": last.awaiting,
        "rate": None if last.rate is None else round(last.rate, 6),
    }


def over_json(over: list[OverLimit]) -> list[dict[str, Any]]:
    """The limits a plan (or a forecast's next fire) is over: due now and forecast alike."""
    return [
        {"limit": o.limit, "allowed": o.allowed, "figure": o.figure, "detail": o.detail}
        for o in over
    ]


def rendered_json(s: SchedulePlan, *, occurrence: bool) -> dict[str, Any]:
    """Segments, encodings, cost, samples and skips: shared by plan and render JSON."""
    return {
        "segments": s.segments,
        "encodings": dict(sorted(s.encodings.items())),
        "cost": s.exact_cost,  # a JSON number with its exact digits (core/terminal.json_text)
        "currency": s.currency,
        "samples": [
            {
                "masked_phone": x.masked_phone,
                **({"occurrence": x.occurrence} if occurrence else {}),
                "encoding": x.encoding,
                "segments": x.segments,
                "text": x.text,
            }
            for x in s.samples
        ],
        "skipped": {reason.value: n for reason, n in sorted(s.skip_counts.items())},
        "skips": [
            {"reason": k.reason.value, "detail": k.detail, "where": str(k.where)} for k in s.skips
        ],
    }


def breakdown(s: SchedulePlan) -> str:
    parts = [
        f"{s.counts[d]:,} {d.label}"
        for d in (Disposition.NEW, Disposition.RETRY, Disposition.RESEND)
        if s.counts[d]
    ]
    return ", ".join(parts)


def due(s: SchedulePlan) -> str:
    if not s.occurrences:
        return "nothing due"
    local = " (recipient-local)" if s.recipient_local else ""
    return ", ".join(s.occurrences) + local


def summary_line(plan: Plan, shown: Callable[[str], str] = str) -> str:
    """One line for the end of a plan and the top of an apply (`shown` as in `cost_text`)."""
    segments = sum(s.segments for s in plan.schedules)
    cost = cost_text(costs(plan.schedules), shown)
    line = f"{plural(plan.to_send, 'message')} to send ({plural(segments, 'segment')}"
    line += f", about {cost})" if cost and plan.to_send else ")"
    others = [
        f"{plan.total(d):,} {d.label}"
        for d in (
            Disposition.SENT,
            Disposition.UNCERTAIN,
            Disposition.FAILED,
            Disposition.EXPIRED,
            Disposition.IN_FLIGHT,
        )
        if plan.total(d)
    ]
    skipped = sum(s.skipped for s in plan.schedules)
    if skipped:
        others.append(f"{skipped:,} skipped")
    return line + (": " + ", ".join(others) if others else "") + "."


def nothing_to_send(plan: Plan) -> str:
    """Why `apply` sends nothing, from the plan's own counts: what the ledger already
    has, and what was skipped and why (quiet hours: until when, in which zone)."""
    had = [f"{plan.total(d):,} {d.label}" for d in Disposition if not d.sends and plan.total(d)]
    done = sum(plan.total(d) for d in Disposition if not d.sends)
    skipped: Counter[SkipReason] = Counter()
    for s in plan.schedules:
        skipped.update(s.skip_counts)
    parts = []
    if done:
        parts.append(
            f"the ledger already has {'all ' if not skipped else ''}"
            f"{plural(done, 'due message')} ({', '.join(had)})"
        )
    if skipped:
        part = f"{plural(skipped.total(), 'due message')} skipped ({skip_counts(skipped)})"
        quiet = next(
            (k for s in plan.schedules for k in s.skips if k.reason is SkipReason.QUIET_HOURS),
            None,
        )
        parts.append(part + (f": {quiet.detail}" if quiet is not None else ""))
    if not parts:
        due = any(s.occurrences for s in plan.schedules)
        parts.append("no recipient is due" if due else "no schedule is due now")
    return f"Nothing to send: {'; '.join(parts)}."


def approval_needed(plan: Plan, name: Callable[[str], str] | None = None) -> str | None:
    """The sentence every view gives schedules over their limits (None: there are none);
    with `name`, the schedules are listed, each spelled by it."""
    return approval_sentence([s.schedule for s in plan.schedules if s.over_limits], name)


def approval_sentence(
    over: list[str], name: Callable[[str], str] | None = None, *, forecast: bool = False
) -> str | None:
    """`approval_needed`'s sentence for the schedules `over`; `forecast`: over at their
    next fires (the forecast), not now."""
    if not over:
        return None
    names = f" ({', '.join(map(name, over))})" if name is not None else ""
    their = "its" if len(over) == 1 else "their"
    when = f" at {their} next fires" if forecast else ""
    return (
        f"Needs approval{when}: {plural(len(over), 'schedule')} over {their} limits{names}: "
        "apply sends nothing without --approve SCHEDULE for each; run holds them."
    )


def shown(text: str) -> str:
    """Outside text as rich markup that prints it inert: controls escaped, then markup."""
    return escape(printable(text))


def ledger_rows(ledger: LedgerSeen) -> str:
    return plural(ledger.rows, "row")


def as_text(plan: Plan, summary: str | None = None) -> str:
    """Rich markup for a terminal; every user-supplied text is escaped.

    `summary`: markup for the last lines instead of the plan's own count (`apply
    --plan` sends the plan file's sends, not all that are due)."""
    lines = [f"[bold]smsops plan at {instant(plan)}[/]"]
    if plan.ledger is not None:
        lines.append(f"against ledger {shown(plan.ledger.name)} ({ledger_rows(plan.ledger)})")
    lines.append("")
    for s in plan.schedules:
        via = " -> ".join(s.providers)
        lines.append(
            f"[bold]{shown(s.schedule)}[/]  template {shown(s.template)} -> "
            f"audience {shown(s.audience)} via {shown(via)}"
        )
        lines.append(f"  due: {due(s)}")
        lines.extend(text_sends(s))
        lines.extend(f"  [bold red]! needs approval: {shown(str(o))}[/]" for o in s.over_limits)
        for marker, sentence in statuses(s):
            style = "red" if marker in "~!x" else "default"
            lines.append(f"  [{style}]{marker} {sentence}[/]")
        if s.exclusions:
            lines.append(f"  {exclusions_text(s.exclusions, shown)}")
        if s.last_delivery is not None:
            lines.append(f"  {delivery_text(s.last_delivery, shown)}")
        lines.extend(text_skips(s))
        if s.next_fires:
            lines.append(f"  next: {', '.join(s.next_fires)}")
        lines.append("")
    # Last, beside the summary: where all of the above goes, and what it reads.
    lines.extend(
        f"provider {shown(p.name)} ({shown(p.type)}) sends to {shown(p.destination)}, "
        f"reads {shown(', '.join(p.env) or 'nothing')}"
        for p in plan.providers
    )
    if plan.not_considered:
        lines.append(not_considered(plan))
    if held := approval_needed(plan, shown):
        lines.append(f"[bold red]{held}[/]")
    if summary is not None:
        return "\n".join(lines) + "\n" + summary
    lines.append(f"[bold]Plan:[/] {summary_line(plan, shown)}")
    return "\n".join(lines) + "\n"


def not_considered(plan: Plan) -> str:
    return f"{plural(plan.not_considered, 'schedule')} not considered (--schedule)"


def text_sends(s: SchedulePlan) -> list[str]:
    if not s.to_send:
        return []
    enc = encodings_text(s.encodings)
    cost = cost_phrase(s.exact_cost, s.currency, shown)
    lines = [
        f"  [green]+ {s.to_send:,} to send[/] ({breakdown(s)}): "
        f"{plural(s.segments, 'segment')}, {enc}{cost}"
    ]
    lines.extend(
        f"      {shown(x.masked_phone):<17} {x.encoding} {plural(x.segments, 'segment')}: "
        f"{shown(clip(x.text))}"
        for x in s.samples
    )
    return lines


def text_skips(s: SchedulePlan) -> list[str]:
    if not s.skipped:
        return []
    lines = [f"  [yellow]- {s.skipped:,} skipped[/]: {skip_counts(s.skip_counts)}"]
    lines.extend(
        f"      {shown(str(k.where))}: {k.reason.label}: {shown(k.detail)}"
        for k in s.skips[:SKIPS_SHOWN]
    )
    if s.skipped > SKIPS_SHOWN:
        lines.append(f"      ... and {s.skipped - SKIPS_SHOWN} more (--format json)")
    return lines


def statuses(s: SchedulePlan) -> list[tuple[str, str]]:
    """(marker, sentence) for what the ledger says beyond the sends."""
    found = []
    if s.counts[Disposition.SENT]:
        changed = ""
        if s.changed:
            some = f" of {s.checked:,} checked" if s.checked < s.counts[Disposition.SENT] else ""
            changed = f" ({s.changed:,}{some} would read differently today; not resent)"
        found.append(("=", f"{s.counts[Disposition.SENT]:,} already sent{changed}"))
    if s.counts[Disposition.UNCERTAIN]:
        found.append(
            (
                "~",
                f"{s.counts[Disposition.UNCERTAIN]:,} uncertain (may have gone out; resent only "
                "with --resend-uncertain)",
            )
        )
    if s.counts[Disposition.FAILED]:
        found.append(("!", f"{s.counts[Disposition.FAILED]:,} failed (rejected; not resent)"))
    if s.counts[Disposition.EXPIRED]:
        found.append(
            (
                "x",
                f"{s.counts[Disposition.EXPIRED]:,} expired (the window closed before they went "
                "out; never sent)",
            )
        )
    if s.counts[Disposition.IN_FLIGHT]:
        found.append(("*", f"{s.counts[Disposition.IN_FLIGHT]:,} in flight in another run"))
    if s.expired_so_far:
        found.append(
            (
                "x",
                f"{plural(s.expired_so_far, 'send')} of this schedule expired so far, every "
                "occurrence (smsops ledger list --status expired)",
            )
        )
    return found


def clip(text: str) -> str:
    """The first SAMPLE_CHARS characters, every character kept (escaped when shown)."""
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"
