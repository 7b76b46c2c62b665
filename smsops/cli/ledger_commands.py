"""`smsops ledger list|stats|export` read the ledger; `resolve` records a person's decision.

`migrate` copies one ledger into another: its handler is ledger_migrate.py,
the copy itself smsops/ledger/copy.py; `prune` is ledger_prune.py (its parser
too). Over 250 lines because every other `ledger` subcommand's parser is
registered here, in one place, with its help.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from smsops.cli import ledger_migrate, ledger_prune
from smsops.cli.common import EXIT_OK, add_ledger, count, open_ledger_at, open_out
from smsops.cli.subcommands import Commands
from smsops.core.errors import UsageError

if TYPE_CHECKING:
    from smsops.ledger.base import Ledger, SendRecord


def _open(args: argparse.Namespace, *, write: bool = False) -> Ledger:
    from smsops.config.settings import ledger_setting

    location = ledger_setting(args.ledger)
    command = f"smsops ledger {args.action}"
    return open_ledger_at(location, command, readonly=not write, must_exist=True)


def _row(record: SendRecord, unmask: bool = True) -> dict[str, Any]:
    """A ledger row as plain data: every SendRecord field, in declaration order.

    Unless `unmask`, the recipient is masked and numbers in the error text, the receipt's
    and a person's resolution too (as `ledger list` shows them).
    """
    row = asdict(record)
    if not unmask:
        from smsops.core.phone import hide_number, mask, scrub_numbers

        row["recipient"] = mask(record.recipient)
        # the provider's words, and a person's, may hold the number
        for said in ("error", "receipt_error", "resolution"):
            if row[said]:
                row[said] = scrub_numbers(hide_number(row[said], record.recipient))
    row["status"] = record.status.value
    for name, value in row.items():  # every time as ISO 8601 text (receipt_at too)
        if isinstance(value, datetime):
            row[name] = value.isoformat()
    return row


def _records(ledger: Ledger, args: argparse.Namespace) -> Any:
    from smsops.ledger.base import Status

    return ledger.records(args.schedule, Status(args.status) if args.status else None)


def _list(args: argparse.Namespace) -> int:
    from smsops.core.phone import hide_number, mask, scrub_numbers
    from smsops.core.terminal import printable

    ledger = _open(args)
    try:
        for shown, record in enumerate(_records(ledger, args)):
            if args.limit and shown >= args.limit:
                print("... more rows; raise --limit or use `smsops ledger export`")
                break
            phone = record.recipient if args.unmask else mask(record.recipient)
            if record.resolution is not None:
                detail = f"resolved by {record.resolved_by}: {_clipped(record.resolution)}"
            else:  # a message id is the provider's, shown whole; an error may quote a number
                detail = record.error or ""
            if not args.unmask:
                detail = scrub_numbers(hide_number(detail, record.recipient))
            if record.resolution is None and record.provider_message_id:
                detail = record.provider_message_id
            line = (
                f"{record.updated_at:%Y-%m-%d %H:%M:%S} {record.status.value:<9} "
                f"{record.schedule} {record.occurrence} {phone} via {record.provider} "
                f"x{record.attempts} {detail}".rstrip()
            )
            print(printable(line))  # names from configs, replies from providers
    finally:
        ledger.close()
    return EXIT_OK


def _clipped(reason: str) -> str:
    """A reason stored before it was bounded (or by another tool), shortened for its line."""
    from smsops.ledger.rules import MAX_REASON

    if len(reason) <= MAX_REASON:
        return reason
    return f"{reason[:MAX_REASON]}... ({len(reason):,} characters; ledger export has them all)"


def _stats(args: argparse.Namespace) -> int:
    from smsops.core.terminal import printable

    ledger = _open(args)
    try:
        stats = ledger.stats()
    finally:
        ledger.close()
    everything = bool(stats)
    stats = {
        schedule: {status: n for status, n in counts.items() if args.status in (None, status)}
        for schedule, counts in stats.items()
        if args.schedule in (None, schedule)
    }
    stats = {schedule: counts for schedule, counts in stats.items() if counts}
    if args.format == "json":
        print(json.dumps(stats, indent=2, sort_keys=True))
        return EXIT_OK
    if not stats:
        print("no rows match" if everything else "the ledger is empty")
    from smsops.ledger.receipts import delivery_rate
    from smsops.report.wording import rate_text

    for schedule, counts in sorted(stats.items()):
        line = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
        if (rate := delivery_rate(counts)) is not None:
            line += f" (delivery rate {rate_text(rate)} of those with a final receipt)"
        print(printable(f"{schedule}: {line}"))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    ledger = _open(args)
    try:
        if args.out is None:
            _write(ledger, args, sys.stdout)
        else:
            with open_out(args.out) as file:
                _write(ledger, args, file)
    finally:
        ledger.close()
    return EXIT_OK


def _write(ledger: Ledger, args: argparse.Namespace, file: IO[str]) -> None:
    if args.format == "jsonl":
        from smsops.core.terminal import json_text

        for record in _records(ledger, args):
            file.write(json_text(_row(record, args.unmask)) + "\n")
        return
    from smsops.ledger.base import SendRecord

    columns = [column.name for column in fields(SendRecord)]
    writer = csv.DictWriter(file, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in _records(ledger, args):
        row = _row(record, args.unmask)
        writer.writerow({k: _inert(row[k]) if k in _OUTSIDE_TEXT else row[k] for k in row})


# Columns whose text came from a provider or a person, not from smsops.
_OUTSIDE_TEXT = {
    "provider_message_id", "error", "resolution", "resolved_by", "receipt_code", "receipt_error",
}  # fmt: skip


def _inert(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula (`=HYPERLINK(...)`) gets a leading `'`.

    Only in columns of outside text: recipients (`+44...`) stay as they are.
    """
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


def _resolve(args: argparse.Namespace) -> int:
    from datetime import UTC

    from smsops.ledger.base import Decision, Status
    from smsops.ledger.rules import reason_problem

    if args.occurrence is not None and args.schedule is None:
        raise UsageError("--occurrence needs --schedule (keys name their rows already)")
    reason = args.reason.strip()
    if not reason:
        raise UsageError("--reason must say why (it is kept in each row)")
    if problem := reason_problem(reason):
        raise UsageError(f"--reason {problem}; nothing was changed")
    decision = Decision(Status(args.decision), reason, _who(), datetime.now(UTC))
    ledger = _open(args, write=True)
    try:
        changed = ledger.resolve(
            decision, keys=args.key or (), schedule=args.schedule, occurrence=args.occurrence
        )
    finally:
        ledger.close()
    per: dict[str, int] = {}
    for record in changed:
        per[record.schedule] = per.get(record.schedule, 0) + 1
    counts = ", ".join(f"{schedule} {n}" for schedule, n in sorted(per.items()))
    print(
        f"resolved {len(changed)} uncertain row{'s' * (len(changed) != 1)} as "
        f"{decision.status.value} ({counts}); the reason is kept in each row"
    )
    if decision.status is Status.FAILED:
        print("as failed they are sent again by the next apply while their window is open")
    return EXIT_OK


def _who() -> str:
    """`user@host` of the person deciding, for the row."""
    import getpass
    import os
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container uid with no name
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _filters(parser: argparse.ArgumentParser) -> None:
    # the policy table alone: ledger.base (records, hashing) is not needed for --help
    from smsops.ledger.policy import Status

    parser.add_argument("--schedule", metavar="NAME", help="only this schedule")
    parser.add_argument(
        "--status", choices=[s.value for s in Status], help="only rows with this status"
    )
    add_ledger(parser)


def register(commands: Commands) -> None:
    @commands.command(
        "ledger",
        help="list, count, export, resolve, migrate or prune the send ledger",
        description="Read the send ledger, record decisions in it, or copy it into another.",
    )
    def _ledger_arguments(ledger: argparse.ArgumentParser) -> None:
        actions = ledger.add_subparsers(dest="action", required=True, metavar="ACTION")

        listing = actions.add_parser("list", help="rows, newest state first by key; numbers masked")
        _filters(listing)
        listing.add_argument("--limit", type=count, default=100, help="at most N rows (0: all)")
        listing.add_argument("--unmask", action="store_true", help="show full phone numbers")
        listing.set_defaults(handler=_list)

        stats = actions.add_parser("stats", help="counts per schedule and status")
        _filters(stats)
        stats.add_argument("--format", choices=("text", "json"), default="text")
        stats.set_defaults(handler=_stats)

        export = actions.add_parser(
            "export", help="every row as CSV or JSON lines; numbers masked unless --unmask"
        )
        _filters(export)
        export.add_argument(
            "--unmask", action="store_true", help="full phone numbers (handle the file with care)"
        )
        export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
        export.add_argument("--out", type=Path, metavar="FILE", help="write to FILE, not stdout")
        export.set_defaults(handler=_export)

        from smsops.ledger.policy import RESOLVE_TO

        resolve = actions.add_parser(
            "resolve",
            help="record a person's decision on uncertain rows: sent or failed",
            description="Uncertain sends may or may not have gone out; after checking with the "
            "provider, record what happened. Only uncertain rows change (anything else is refused "
            "and nothing is changed); the reason, who and when are kept in each row. As sent: "
            "never sent again. As failed: sent again by the next apply while the window is open.",
        )
        resolve.add_argument(
            "--as", dest="decision", required=True, choices=[s.value for s in RESOLVE_TO]
        )
        which = resolve.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--key",
            action="extend",
            nargs="+",
            metavar="KEY",
            help="these rows (see ledger export)",
        )
        which.add_argument(
            "--schedule", metavar="NAME", help="every uncertain row of this schedule"
        )
        resolve.add_argument(
            "--occurrence", metavar="O", help="with --schedule: only this occurrence"
        )
        resolve.add_argument("--reason", required=True, help="why: kept in each row")
        add_ledger(resolve)
        resolve.set_defaults(handler=_resolve)

        migrate = actions.add_parser(
            "migrate",
            help="copy a ledger into another (SQLite <-> PostgreSQL), verified; safe to re-run",
            description="Copy every row of one ledger into another, every column as it is, "
            "then verify keys and a checksum of each row. The source is only read; the target "
            "is created or upgraded as apply does. A send already in the target is skipped when "
            "identical and reported as a conflict (never overwritten, exit 1) when not. The "
            "other tables that record something (the suppression list and its history, parked "
            "receipts, holds, skips, the prune watermark, one-time codes) are copied too, merged "
            "with the target's rows by the ledger's own rules (a number's newest opt-out or "
            "opt-in word wins; docs/commands/ledger.md). Stop the processes that write either "
            "ledger first.",
        )
        migrate.add_argument(
            "--from",
            dest="source",
            required=True,
            metavar="LOCATION",
            help="the ledger to copy: a path, sqlite:///path or postgresql://...",
        )
        migrate.add_argument(
            "--to",
            dest="target",
            required=True,
            metavar="LOCATION",
            help="the ledger to copy into (created if missing)",
        )
        migrate.set_defaults(handler=ledger_migrate.run)
        ledger_prune.register(actions)
