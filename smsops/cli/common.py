"""What several commands share: --at, --ledger, printing with or without colour."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TextIO, cast

from smsops.core import secrets
from smsops.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from smsops.config.loader import Config
    from smsops.core.envref import Placeholders
    from smsops.engine.plan import LedgerSeen, Plan
    from smsops.ledger.base import Ledger
    from smsops.sandbox.server import Sandbox

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2
EXIT_PIPE = 128 + 13  # stdout's reader went away: what a shell shows for SIGPIPE
# Sandbox sends never go into the real ledger: they would mark real messages as sent.
SANDBOX_LEDGER = ".smsops/sandbox-ledger.sqlite"
# Under --sandbox every ${env:...} is this value, the run server's tokens too (its status
# page's login): no secret (it is written here), yet as long as a token must be
# (config/tokens.py), so a sandbox config passes the rule real ones do.
SANDBOX_SECRET = "sandbox-secret-is-no-secret-0123456789"  # noqa: S105 - see above


def instant(text: str) -> datetime:
    """An ISO 8601 time for --at; a time without a zone is UTC."""
    from smsops.core.units import YEARS  # not at import: --help does not parse times

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
        help=(
            "a path, sqlite:///path or postgresql://user@host/db "
            "(default: $SMSOPS_LEDGER, else .smsops/ledger.sqlite)"
        ),
    )


def console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A rich console: colour only on a terminal, never with NO_COLOR (rich reads it)."""
    from rich.console import Console

    class PipeAwareConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 here; main() ends quietly with the Unix status instead.
            self.quiet = True
            raise BrokenPipeError

    target = file or (sys.stderr if stderr else sys.stdout)
    return PipeAwareConsole(file=target, highlight=False, soft_wrap=True)


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more (--limit, --samples)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} must be a whole number, 0 or more")
    return value


def ledger_location(args: argparse.Namespace) -> str:
    """--ledger, else (not in sandbox mode) SMSOPS_LEDGER, else the default."""
    from smsops.config.settings import ledger_setting

    if getattr(args, "sandbox", False) and args.ledger is None:
        return SANDBOX_LEDGER
    return ledger_setting(args.ledger)


def cache_dir() -> Path:
    """Normalised CSV numbers and CSV snapshots: SMSOPS_CACHE_DIR, else ~/.cache/smsops."""
    from smsops.config.settings import cache_dir_setting

    return cache_dir_setting()


def open_ledger_at(
    location: str,
    command: str,
    *,
    readonly: bool = False,
    must_exist: bool = False,
    create_on_write: bool = False,
) -> Ledger:
    """The ledger at `location`, waiting `SMSOPS_LEDGER_WAIT` seconds for another writer.

    `command` is how this process is named to another writer that finds the
    ledger locked. `must_exist`: a missing file is an error (a read of
    nothing would only mislead), not an empty ledger. `create_on_write`: a
    missing file is created by the first write, not by opening (`apply`
    stopping before it sends leaves no empty ledger behind).
    """
    from smsops.config.settings import ledger_wait_setting
    from smsops.ledger.open import ledger_path, open_ledger

    path = ledger_path(location)
    if must_exist and path is not None and not path.exists():
        raise UsageError(
            f"no ledger at {str(path)!r} (nothing applied there yet); choose one with --ledger "
            "or SMSOPS_LEDGER"
        )
    wait = ledger_wait_setting()
    return open_ledger(
        location, readonly=readonly, wait=wait, command=command, create_on_write=create_on_write
    )


def ledger_seen(plan: Plan, location: str, ledger: Ledger) -> tuple[LedgerSeen, dict[str, int]]:
    """The ledger `plan` was made against (name, rows), and its uncertain rows per schedule.

    One grouped read, however big the ledger (`Ledger.stats_and_deliveries`):
    its counts give both, and the expired sends so far that are noted on
    `plan`, and the delivery of each schedule's last occurrence sent. `plan`
    shows the ledger in the plan, `apply` on stderr (see ApplyHooks): a
    reader of either sees which ledger decides what is sent.
    """
    from smsops.engine.plan import LedgerSeen
    from smsops.ledger.base import Status
    from smsops.ledger.counts import per_schedule
    from smsops.ledger.open import ledger_name

    stats, deliveries = ledger.stats_and_deliveries([s.schedule for s in plan.schedules])
    plan.note_expired(per_schedule(stats, Status.EXPIRED))
    plan.note_deliveries(deliveries)
    rows = sum(sum(counts.values()) for counts in stats.values())
    return LedgerSeen(ledger_name(location), rows), per_schedule(stats, Status.UNCERTAIN)


def warn_uncertain(counts: dict[str, int]) -> None:
    """Open `uncertain` rows (per schedule) and how to decide them, on stderr: until a person does.

    `counts` is `Ledger.uncertain_counts()`; printed after the plan, so a
    terminal shows it last and a JSON or markdown plan on stdout stays clean.
    """
    from rich.markup import escape

    if not counts:
        return
    err = console(stderr=True)
    total = sum(counts.values())
    per = ", ".join(f"{schedule} {n}" for schedule, n in sorted(counts.items()))
    err.print(
        f"[yellow]warning: {total} uncertain send{'s' * (total != 1)} may or may not have gone "
        f"out and wait for a decision[/] ({escape(per)}). "
        "Look: smsops ledger list --status uncertain; decide: "
        "smsops ledger resolve --as sent|failed --schedule NAME --reason TEXT"
    )


def add_sandbox(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help=f"send to the built-in emulator; ledger {SANDBOX_LEDGER} unless --ledger is given",
    )


def start_sandbox(
    stack: ExitStack,
    hooks_at: tuple[str, int] | None = None,
    started: list[Sandbox] | None = None,
) -> tuple[Callable[[Config], Config], Placeholders]:
    """The in-process emulator (stopped with `stack`): a config rewriter and placeholder secrets.

    Requests are built without a single real secret, so none reaches the emulator.
    `hooks_at` (`run`'s HOST, PORT): the sandbox posts receipts and inbound texts to
    that server's /hooks (sandbox/wiring.py), set again at each config load.
    `started`: the sandbox is appended to it (a caller that reads what it received).
    """
    from smsops.core.envref import Placeholders
    from smsops.engine.project import pointed_at
    from smsops.sandbox.server import Sandbox
    from smsops.sandbox.wiring import hooked, loopback_base

    sandbox = stack.enter_context(Sandbox())
    if started is not None:
        started.append(sandbox)
    err = console(stderr=True)
    err.print(f"sandbox: every provider points at {sandbox.url} (nothing leaves this machine)")
    env = Placeholders(SANDBOX_SECRET)
    run_url = hooks_at and loopback_base(*hooks_at)
    if hooks_at is not None and run_url is None:
        err.print("[yellow]sandbox: no receipts nor texts: --listen is not on loopback[/]")

    def point(config: Config) -> Config:
        config = pointed_at(config, sandbox.base_url)
        if run_url is None:
            return config
        config, targets = hooked(config, run_url, sandbox.base_url, env)
        sandbox.state.loop.set_targets(targets)
        return config

    if run_url is not None:
        err.print(
            f"sandbox: receipts and texts go to {run_url}/hooks/; "
            f"a person texts: POST {sandbox.url}/_sandbox/inbound"
        )
    return point, env


def open_out(path: Path) -> IO[str]:
    """A file to write output to, or a clear error naming it."""
    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}") from None


def failed_markdown(args: argparse.Namespace, summary: str, lines: list[str]) -> None:
    """A command asked for `--format markdown` fails in markdown: a comment that replaces the plan.

    Written where its output goes (`--report FILE`, else stdout), so CI posts
    the error under the plan comment's marker instead of leaving the last plan.
    """
    if getattr(args, "format", None) != "markdown":
        return
    from smsops.report.failure_markdown import failure_markdown

    text = secrets.scrub(failure_markdown(args.command, summary, lines))  # a file is no stream
    report: Path | None = getattr(args, "report", None)
    if report is None:
        sys.stdout.write(text)
        return
    try:
        with open_out(report) as file:
            file.write(text)
    except (UsageError, OSError) as exc:  # the error above is the one to see
        print(f"error: the failure was not written to the report: {exc}", file=sys.stderr)
        return
    print(f"failure written to {report}", file=sys.stderr)


class ScrubbedStream:
    """stdout or stderr, scrubbing every registered secret from what is written.

    The last guard where text leaves the CLI: every path that scrubs outside
    text where it enters can be forgotten by a future change; this cannot.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(secrets.scrub(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self.stream, name)


@contextmanager
def scrubbed_output() -> Iterator[None]:
    """stdout and stderr scrubbed while the block runs (a traceback, too: see below)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, ScrubbedStream(saved[0]))
    sys.stderr = cast(TextIO, ScrubbedStream(saved[1]))
    sys.excepthook = _scrubbed_excepthook  # an error nobody caught is printed after the block
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _scrubbed_excepthook(
    kind: type[BaseException], value: BaseException, trace: TracebackType | None
) -> None:
    import traceback  # not at import: only an error nobody caught needs it

    text = "".join(traceback.format_exception(kind, value, trace))
    sys.stderr.write(secrets.scrub(text))
