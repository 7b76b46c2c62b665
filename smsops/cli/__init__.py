"""The command line: the only place that catches errors and prints them.

argparse, not typer: `smsops --help` must start in well under 120 ms, so
heavy modules are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from smsops import __version__
from smsops.cli import config_commands, ledger_commands, plan_commands, run_command
from smsops.cli.common import EXIT_ERROR
from smsops.core.errors import ConfigError, SmsopsError
from smsops.core.terminal import printable


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsops",
        description="Declarative SMS runner: validate, plan and apply messages kept as YAML.",
    )
    parser.add_argument("--version", action="version", version=f"smsops {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_commands.register(commands)
    plan_commands.register(commands)
    run_command.register(commands)
    ledger_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(printable(str(problem)), file=sys.stderr)  # quotes config text
        count = len(exc.problems)
        print(f"{count} problem{'s' * (count != 1)} found; nothing was sent.", file=sys.stderr)
        return EXIT_ERROR
    except SmsopsError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
