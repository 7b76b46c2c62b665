"""`smsops ledger list|stats|export`: read the ledger (never write it)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from smsops.cli.common import EXIT_OK, add_ledger, open_out
from smsops.core.errors import UsageError

if TYPE_CHECKING:
    from smsops.ledger.base import Ledger, SendRecord


def _open(args: argparse.Namespace) -> Ledger:
    from smsops.config.settings import load_settings
    from smsops.ledger.open import ledger_path, open_ledger

    location = load_settings(ledger=args.ledger).ledger
    path = ledger_path(location)
    if path is not None and not path.exists():
        raise UsageError(
            f"no ledger at {str(path)!r} (nothing applied there yet); choose one with --ledger "
            "or SMSOPS_LEDGER"
        )
    return open_ledger(location, readonly=True)


def _row(record: SendRecord) -> dict[str, Any]:
    """A ledger row as plain data: every SendRecord field, in declaration order."""
    row = asdict(record)
    row["status"] = record.status.value
    row["created_at"] = record.created_at.isoformat()
    row["updated_at"] = record.updated_at.isoformat()
    return row


def _records(ledger: Ledger, args: argparse.Namespace) -> Any:
    from smsops.ledger.base import Status

    return ledger.records(args.schedule, Status(args.status) if args.status else None)


def _list(args: argparse.Namespace) -> int:
    from smsops.core.phone import mask, scrub_numbers
    from smsops.core.terminal import printable

    ledger = _open(args)
    try:
        for shown, record in enumerate(_records(ledger, args)):
            if args.limit and shown >= args.limit:
                print("... more rows; raise --limit or use `smsops ledger export`")
                break
            phone = record.recipient if args.unmask else mask(record.recipient)
            detail = record.provider_message_id or record.error or ""
            detail = detail if args.unmask else scrub_numbers(detail)
            line = (
                f"{record.updated_at:%Y-%m-%d %H:%M:%S} {record.status.value:<9} "
                f"{record.schedule} {record.occurrence} {phone} via {record.provider} "
                f"x{record.attempts} {detail}".rstrip()
            )
            print(printable(line))  # names from configs, replies from providers
    finally:
        ledger.close()
    return EXIT_OK


def _stats(args: argparse.Namespace) -> int:
    from smsops.core.terminal import printable

    ledger = _open(args)
    try:
        stats = ledger.stats()
    finally:
        ledger.close()
    if args.format == "json":
        print(json.dumps(stats, indent=2, sort_keys=True))
        return EXIT_OK
    if not stats:
        print("the ledger is empty")
    for schedule, counts in sorted(stats.items()):
        line = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
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
            file.write(json_text(_row(record)) + "\n")
        return
    from smsops.ledger.base import SendRecord

    columns = [column.name for column in fields(SendRecord)]
    writer = csv.DictWriter(file, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in _records(ledger, args):
        writer.writerow(_row(record))


def _filters(parser: argparse.ArgumentParser) -> None:
    from smsops.ledger.base import Status  # small: no I/O, no heavy imports

    parser.add_argument("--schedule", metavar="NAME", help="only this schedule")
    parser.add_argument("--status", choices=list(Status), help="only rows with this status")
    add_ledger(parser)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ledger = commands.add_parser(
        "ledger", help="list, count or export what was sent", description="Read the send ledger."
    )
    actions = ledger.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="rows, newest state first by key; numbers masked")
    _filters(listing)
    listing.add_argument("--limit", type=int, default=100, help="at most N rows (0: all)")
    listing.add_argument("--unmask", action="store_true", help="show full phone numbers")
    listing.set_defaults(handler=_list)

    stats = actions.add_parser("stats", help="counts per schedule and status")
    stats.add_argument("--format", choices=("text", "json"), default="text")
    add_ledger(stats)
    stats.set_defaults(handler=_stats)

    export = actions.add_parser(
        "export", help="every row as CSV or JSON lines (full numbers: handle with care)"
    )
    _filters(export)
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--out", type=Path, metavar="FILE", help="write to FILE, not stdout")
    export.set_defaults(handler=_export)
