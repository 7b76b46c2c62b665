"""`smsops suppressions list|add|remove|import|export`: the ledger's suppression list by hand.

The list is the one an inbound STOP writes (engine/hearing.py; its rules in
ledger/suppressions.py). By hand, `add` and `remove` record the source
`cli`, `import` the source `import`. Numbers are read as E.164 (with
`--region` for national ones) and shown masked unless `--unmask`. A bad
number refuses the whole command, naming it (or its CSV row): nothing is
written.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from smsops.cli.common import EXIT_OK, add_ledger, open_ledger_at, open_out
from smsops.cli.subcommands import Commands
from smsops.core.errors import UsageError
from smsops.core.words import plural

if TYPE_CHECKING:
    from smsops.ledger.base import Ledger
    from smsops.ledger.suppressions import OptEvent

IMPORT_MAX_BYTES = 64 * 1024 * 1024  # a CSV to import (the size of an audience CSV's bound)
SHOWN_ERRORS = 20  # bad rows named; the rest counted
EXPORTED = ("number", "at", "source", "keyword")


def _open(args: argparse.Namespace, *, write: bool = False) -> Ledger:
    from smsops.config.settings import load_settings

    location = load_settings(ledger=args.ledger).ledger
    command = f"smsops suppressions {args.action}"
    if write:
        return open_ledger_at(location, command, create_on_write=True)
    return open_ledger_at(location, command, readonly=True, must_exist=True)


def _change(args: argparse.Namespace, numbers: list[str], action: str, source: str) -> list[bool]:
    from smsops.ledger.suppressions import OptAction, OptEvent

    now = datetime.now(UTC)
    events = [OptEvent(n, OptAction(action), now, source, "") for n in numbers]
    ledger = _open(args, write=True)
    try:
        return ledger.opt(events)
    finally:
        ledger.close()


def _region(args: argparse.Namespace) -> str | None:
    """`--region` read as a config's `default_region` is (any case), before any ledger opens."""
    if args.region is None:
        return None
    from smsops.core.phone import region_code

    try:
        return region_code(args.region)
    except ValueError as exc:
        raise UsageError(f"--region: {exc}") from None


def _by_hand(args: argparse.Namespace) -> int:
    from smsops.core.phone import PhoneNumber, normalize, shown
    from smsops.ledger.suppressions import CLI, OptAction

    numbers, problems, region = [], [], _region(args)
    for text in args.numbers:
        found = normalize(text, region)
        if isinstance(found, PhoneNumber):
            numbers.append(found.e164)
        else:  # a number it could not read is still someone's: masked, as in a plan
            problems.append(f"{shown(text)!r}: {found}")
    if problems:
        raise UsageError(
            "nothing was changed: " + "; ".join(problems) + " (give E.164 numbers such as "
            "+447400123456, or --region for national ones)"
        )
    action = OptAction.OUT if args.action == "add" else OptAction.IN
    changed = _change(args, numbers, action.value, CLI)
    verb = "added" if action is OptAction.OUT else "removed"
    print(f"{plural(sum(changed), 'number')} {verb}, {len(changed) - sum(changed):,} unchanged")
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from smsops.core.errors import FileRefused
    from smsops.core.files import read_regular
    from smsops.core.phone import PhoneNumber, normalize
    from smsops.ledger.suppressions import IMPORT, OptAction

    path: Path = args.file
    region = _region(args)
    try:
        # Read whole and bounded, never waiting on a FIFO: st_size is 0 for one (and for
        # /dev/zero, which was then read until the process ran out of memory).
        content = read_regular(path, IMPORT_MAX_BYTES, "import a CSV file").decode("utf-8-sig")
        with io.StringIO(content, newline="") as file:
            reader = csv.DictReader(file)
            if args.column not in (reader.fieldnames or []):
                raise UsageError(
                    f"{path}: no column {args.column!r} in its header row "
                    f"({', '.join(reader.fieldnames or []) or 'none'}); name it with --column"
                )
            numbers: list[str] = []
            problems: list[str] = []
            for row in reader:
                found = normalize(row.get(args.column) or "", region)
                if isinstance(found, PhoneNumber):
                    numbers.append(found.e164)
                else:  # the row number as a spreadsheet shows it: the header is row 1
                    problems.append(f"{path}:{reader.line_num}: {found}")
    except FileRefused as refused:
        raise UsageError(f"cannot import {str(path)!r}: it {refused.reason}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot read {str(path)!r}: {reason}") from None
    if problems:
        more = len(problems) - SHOWN_ERRORS
        named = problems[:SHOWN_ERRORS] + ([f"... and {more} more rows"] if more > 0 else [])
        raise UsageError(
            "nothing was imported; fix these rows (E.164 numbers, or --region for national "
            "ones):\n  " + "\n  ".join(named)
        )
    changed = _change(args, list(dict.fromkeys(numbers)), OptAction.OUT.value, IMPORT)
    print(
        f"{plural(sum(changed), 'number')} added, {len(numbers) - sum(changed):,} already on "
        "the list"
    )
    return EXIT_OK


def _shown(event: OptEvent, unmask: bool) -> dict[str, Any]:
    from smsops.core.phone import mask

    row = asdict(event)
    row["number"] = event.number if unmask else mask(event.number)
    row["action"] = event.action.value
    row["at"] = event.at.isoformat()
    return row


def _list(args: argparse.Namespace) -> int:
    from smsops.core.terminal import printable

    ledger = _open(args)
    try:
        events = ledger.opt_history() if args.history else ledger.suppressions()
    finally:
        ledger.close()
    rows = [_shown(event, args.unmask) for event in events]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no opt-out events" if args.history else "the suppression list is empty")
    for row in rows:
        said = f" ({row['keyword']})" if row["keyword"] else ""
        what = f"{row['action']:<8} " if args.history else ""
        print(printable(f"{row['at']} {what}{row['number']} via {row['source']}{said}"))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    ledger = _open(args)
    try:
        rows = [_shown(event, args.unmask) for event in ledger.suppressions()]
    finally:
        ledger.close()
    if args.out is None:
        _write(rows, sys.stdout)
    else:
        with open_out(args.out) as file:
            _write(rows, file)
    return EXIT_OK


def _write(rows: list[dict[str, Any]], file: IO[str]) -> None:
    from smsops.core.terminal import printable

    out = csv.DictWriter(file, EXPORTED, extrasaction="ignore", lineterminator="\n")
    out.writeheader()
    for row in rows:  # a keyword is a person's text: no control characters in the file
        out.writerow({k: printable(str(v)) for k, v in row.items()})


def register(commands: Commands) -> None:
    @commands.command(
        "suppressions",
        help="list, add, remove, import or export the numbers that opted out (STOP)",
        description="The ledger's suppression list: numbers that replied STOP (or were added "
        "by hand). Plans skip them as opted_out for marketing templates, and for others when "
        "the schedule sets respect_opt_out. Every change is kept in the list's history.",
    )
    def _top_arguments(top: argparse.ArgumentParser) -> None:
        actions = top.add_subparsers(dest="action", required=True, metavar="ACTION")

        listing = actions.add_parser("list", help="the numbers on the list; masked unless --unmask")
        listing.add_argument("--history", action="store_true", help="every opt-out and opt-in")
        listing.add_argument("--format", choices=("text", "json"), default="text")
        listing.add_argument("--unmask", action="store_true", help="show full phone numbers")
        add_ledger(listing)
        listing.set_defaults(handler=_list)

        for name, said in (("add", "put numbers on the list"), ("remove", "take numbers off it")):
            change = actions.add_parser(name, help=f"{said} (source: cli)")
            change.add_argument("numbers", nargs="+", metavar="NUMBER")
            change.add_argument("--region", metavar="CC", help="for national numbers, e.g. GB")
            add_ledger(change)
            change.set_defaults(handler=_by_hand)

        imported = actions.add_parser(
            "import", help="add every number of a CSV file (source: import); all or nothing"
        )
        imported.add_argument("file", type=Path, metavar="FILE")
        imported.add_argument("--column", default="phone", help="the numbers' column (phone)")
        imported.add_argument("--region", metavar="CC", help="for national numbers, e.g. GB")
        add_ledger(imported)
        imported.set_defaults(handler=_import)

        export = actions.add_parser(
            "export", help="the list as CSV; numbers masked unless --unmask"
        )
        export.add_argument("--out", type=Path, metavar="FILE", help="write to FILE, not stdout")
        export.add_argument(
            "--unmask", action="store_true", help="full phone numbers (handle the file with care)"
        )
        add_ledger(export)
        export.set_defaults(handler=_export)
