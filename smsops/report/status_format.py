"""`smsops status` as text: the operator's view (engine/status.py) in 80 columns.

Every string from the config or the ledger (names, occurrence labels, hold
details, commands) is printed through `core.terminal.printable`: a name
can never recolour the terminal or print a line that looks like ours.
A resolve command too long for a line is continued with ` \\` between its
flags, so it still pastes into a shell as one command.
"""

from __future__ import annotations

import shlex
import textwrap
from datetime import UTC, datetime

from smsops.core.terminal import printable
from smsops.core.words import plural
from smsops.engine.status import Counts, ScheduleStatus, StatusView

WIDTH = 80
# Column heads of an occurrence's counts, each the ledger status it shows.
_COLUMNS = (
    ("sent", "sent"),
    ("deliv", "delivered"),
    ("undel", "undelivered"),
    ("fail", "failed"),
    ("uncrt", "uncertain"),
    ("expd", "expired"),
    ("pend", "pending"),
)
_CELL = 6
_OCCURRENCE = 26
LEGEND = (
    "  (rows per status of each schedule's newest occurrences: sent = no receipt yet,\n"
    "  deliv/undel = delivered/undelivered, fail, uncrt = uncertain, expd = expired,\n"
    "  pend = in flight; rate = delivered / (delivered + undelivered); skipped: the\n"
    "  recipients its latest plan left out, by reason: they have no row)"
)


def status_text(view: StatusView) -> str:
    lines = [f"smsops status at {_when(view.generated_at)}", "", "Schedules", LEGEND]
    if not view.schedules:
        lines.append("  (none in this config)")
    for schedule in view.schedules:
        lines.extend(_schedule(schedule))
    lines.extend(["", "Needs a person"])
    lines.extend(_needs_person(view) or ["  nothing"])
    lines.extend(["", "Runs on this ledger (leases)"])
    if not view.replicas:
        lines.append("  none registered")
    for run in view.replicas:
        state = "live" if run.live else "stopped" if run.stopped else "lapsed"
        lines.append(f"  {printable(run.run)} ({printable(run.command)})")
        lines.append(
            f"    renewed {_when(run.renewed_at)}, lease ends {_when(run.lease_ends)}: {state}"
        )
    return "\n".join(lines) + "\n"


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _schedule(schedule: ScheduleStatus) -> list[str]:
    name = printable(schedule.name)
    if not schedule.enabled:
        state = "disabled"
    elif schedule.held:
        state = "HELD"
    else:
        state = "sending"
    lines = ["", f"  {name}: {state}"]
    for h in schedule.held:
        since = "" if h.since is None else f" since {_when(h.since)}"
        if h.since is None and h.reason == "secret":  # no round recorded it: this shell's
            since = ", in this environment"
        lines.append(f"    held ({h.reason}{since}): {printable(h.detail)}")
    if schedule.next_fires:
        lines.append("    next: " + ", ".join(_when(f) for f in schedule.next_fires))
    if not schedule.recent:
        lines.append("    no sends in the ledger yet")
        return lines
    head = "    " + "occurrence".ljust(_OCCURRENCE)
    head += "".join(label.rjust(_CELL) for label, _ in _COLUMNS) + "rate".rjust(_CELL)
    lines.append(head)
    for shown in schedule.recent:
        lines.append(
            "    " + printable(shown.occurrence).ljust(_OCCURRENCE) + _counts(shown.counts)
        )
        if shown.skips:
            said = ", ".join(f"{reason.label} {n:,}" for reason, n in shown.skips.items())
            lines += textwrap.wrap(
                f"skipped {shown.counts.skipped:,}: {said}",
                WIDTH,
                initial_indent="      ",
                subsequent_indent="        ",
            )
    return lines


def _counts(counts: Counts) -> str:
    cells = "".join(f"{getattr(counts, status):,}".rjust(_CELL) for _, status in _COLUMNS)
    rate = "-" if counts.delivery_rate is None else f"{counts.delivery_rate:.0%}"
    return cells + rate.rjust(_CELL)


def _needs_person(view: StatusView) -> list[str]:
    needs = view.needs_person
    lines: list[str] = []
    for group in needs.uncertain:
        where = f"{printable(group.schedule)} {printable(group.occurrence)}"
        lines.append(f"  {group.rows:,} uncertain: {where}; decide, then run one of:")
        lines.extend(_command(group.resolve_sent))
        lines.extend(_command(group.resolve_failed))
    if needs.uncertain_truncated:
        lines.append("  more uncertain occurrences: see `smsops ledger stats`")
    for over in needs.over_limits:
        limits = "; ".join(printable(limit) for limit in over.limits)
        lines.append(f"  {printable(over.schedule)} is over its guardrails: {limits}")
    if needs.suppressions_total:
        lines.append(
            f"  {plural(needs.suppressions_total, 'number')} opted out in the last 7 days:"
        )
        lines += [
            f"    {s.number} at {_when(s.at)} via {printable(s.source)}" for s in needs.suppressions
        ]
    return lines


def _command(command: str) -> list[str]:
    """`command` as lines of at most WIDTH where it can be split between its flags."""
    words = shlex.split(command)
    parts = [shlex.join(words[:3])]
    parts += [shlex.join(words[i : i + 2]) for i in range(3, len(words), 2)]
    lines, current = [], "    " + parts[0]
    for part in parts[1:]:
        if len(current) + 1 + len(part) + 2 > WIDTH:
            lines.append(current + " \\")
            current = "      " + part
        else:
            current += " " + part
    return [printable(line) for line in [*lines, current]]
