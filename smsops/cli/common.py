"""What several commands share: --at, --ledger, printing with or without colour."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from smsops.core.errors import UsageError
from smsops.core.units import YEARS

if TYPE_CHECKING:
    from rich.console import Console

    from smsops.config.loader import Config
    from smsops.core.envref import Placeholders

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2
# Sandbox sends never go into the real ledger: they would mark real messages as sent.
SANDBOX_LEDGER = ".smsops/sandbox-ledger.sqlite"


def instant(text: str) -> datetime:
    """An ISO 8601 time for --at; a time without a zone is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2027-03-01T09:00:00Z"
        ) from None
    if not YEARS[0] <= value.year <= YEARS[1]:  # date arithmetic near year 1 or 9999 overflows
        raise argparse.ArgumentTypeError(
            f"{text!r}: the year must be from {YEARS[0]} to {YEARS[1]}, like a config's `at`"
        )
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, metavar="CONFIG", help="a directory or a file")


def add_at(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--at", type=instant, metavar="T", help=f"{what} as of this time (ISO 8601; default now)"
    )


def add_ledger(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        metavar="LOCATION",
        help="a path or sqlite:///path (default: $SMSOPS_LEDGER, else .smsops/ledger.sqlite)",
    )


def console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A rich console: colour only on a terminal, never with NO_COLOR (rich reads it)."""
    from rich.console import Console

    target = file or (sys.stderr if stderr else sys.stdout)
    return Console(file=target, highlight=False, soft_wrap=True)


def ledger_location(args: argparse.Namespace) -> str:
    """--ledger, else (not in sandbox mode) SMSOPS_LEDGER, else the default."""
    from smsops.config.settings import load_settings

    if getattr(args, "sandbox", False) and args.ledger is None:
        return SANDBOX_LEDGER
    return load_settings(ledger=args.ledger).ledger


def add_sandbox(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help=f"send to the built-in emulator; ledger {SANDBOX_LEDGER} unless --ledger is given",
    )


def start_sandbox(stack: ExitStack) -> tuple[Callable[[Config], Config], Placeholders]:
    """The in-process emulator (stopped with `stack`): a config rewriter and placeholder secrets.

    Requests are built without a single real secret, so none reaches the emulator.
    """
    from smsops.core.envref import Placeholders
    from smsops.engine.project import pointed_at
    from smsops.sandbox.server import Sandbox

    sandbox = stack.enter_context(Sandbox())
    console(stderr=True).print(
        f"sandbox: every provider points at {sandbox.url} (nothing leaves this machine)"
    )
    return (lambda config: pointed_at(config, sandbox.base_url)), Placeholders("sandbox-secret")


def open_out(path: Path) -> IO[str]:
    """A file to write output to, or a clear error naming it."""
    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}") from None
