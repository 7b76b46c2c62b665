"""The command line: the only place that catches errors and prints them.

argparse, not typer: `smsops --help` must start in well under 120 ms, so
heavy modules are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, cast

from smsops import __version__
from smsops.cli import (
    config_commands,
    ledger_commands,
    otp_commands,
    plan_commands,
    run_command,
    saved_plan_commands,
    send_command,
    status_command,
    suppressions_commands,
)
from smsops.cli.common import EXIT_ERROR, EXIT_PIPE, failed_markdown, scrubbed_output
from smsops.cli.subcommands import Commands
from smsops.core.errors import ConfigError, SmsopsError
from smsops.core.terminal import printable


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 like every other error (docs/commands/README.md).

    argparse's own 2 is what `plan --detailed-exitcode` means by "sends
    pending": a typo in CI must never read as "this merge will send".
    Subcommand parsers are built from this class too (argparse uses the
    parent's class).
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(
        prog="smsops",
        description="Declarative SMS runner: validate, plan and apply messages kept as YAML.",
    )
    parser.add_argument("--version", action="version", version=f"smsops {__version__}")
    # each command's parser is built when used (smsops.cli.subcommands): --help lists names
    commands = cast(
        Commands,
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND", action=Commands),
    )
    config_commands.register(commands)
    plan_commands.register(commands)
    saved_plan_commands.register(commands)
    run_command.register(commands)
    send_command.register(commands)
    ledger_commands.register(commands)
    suppressions_commands.register(commands)
    otp_commands.register(commands)
    status_command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    with scrubbed_output():  # no secret leaves through stdout/stderr, whatever the path
        return _main(argv)


def console() -> int:
    """The `smsops` command (and `python -m smsops`): `main`, then a cheap exit.

    When a command returns, everything it loaded is still alive (modules, the
    config, pydantic's and Jinja's compiled schemas and templates), and the
    interpreter's last collection at exit walks all of it looking for cycles:
    ~25 ms of a 200 ms `validate`, ~30 ms of a plan (benchmarks §12, speed7).
    Nothing is left to find: the command has closed its ledger, clients and
    files itself, and output is flushed. Freezing the survivors leaves them out
    of that collection; reference counting still frees what it frees as modules
    are cleared, and the OS takes the rest. Not done in `main`, which tests call
    in process, where a freeze would keep every later cycle out of collection.
    """
    try:
        return main()
    finally:  # also when argparse exits (--help, a usage error)
        gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except ConfigError as exc:
        for problem in exc.problems:
            print(printable(str(problem)), file=sys.stderr)  # quotes config text
        count = len(exc.problems)
        summary = f"{count} problem{'s' * (count != 1)} found; nothing was sent."
        print(summary, file=sys.stderr)
        failed_markdown(args, summary, [str(p) for p in exc.problems])
        return EXIT_ERROR
    except SmsopsError as exc:
        # Our messages may span lines (a list of refused rows): each line made safe alone.
        lines = str(exc).splitlines() or [""]
        print("error: " + "\n".join(printable(line) for line in lines), file=sys.stderr)
        failed_markdown(args, "An error stopped it; nothing was sent.", lines)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in _WRITE_ERRORS:
            raise
        # An output file or stream that cannot take what we write (--out on a full disk)
        where = f" {printable(str(exc.filename))}" if exc.filename else ""
        print(f"error: cannot write{where}: {exc.strerror}", file=sys.stderr)
        return EXIT_ERROR


# Errors of a file or stream we write to; a bug's OSError still shows as one.
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS}


def _pipe_closed() -> int:
    """The reader of stdout went away (`smsops ledger export | head`): stop quietly.

    That is the Unix way (`yes | head`): no message, and the status a process
    ended by SIGPIPE reports in a shell (141). Output still buffered is
    dropped by pointing stdout at /dev/null, so the interpreter's last flush
    does not complain either.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_PIPE
