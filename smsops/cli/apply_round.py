"""`apply`'s part of the engine's round: what it shows and asks between the steps.

Apart from `plan_commands` so the engine (httpx, the providers) is imported
only when `apply` runs, not for every command.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from smsops.cli.common import console, ledger_seen, warn_uncertain
from smsops.cli.progress import for_logs
from smsops.core.errors import UsageError
from smsops.core.words import plural
from smsops.engine.apply import ApplyReport, Sender
from smsops.engine.plan import Plan, Send
from smsops.engine.round import RoundHooks
from smsops.ledger.base import Ledger, SendRecord
from smsops.ledger.open import ledger_name


class ApplyHooks(RoundHooks):
    """What `apply` shows and asks between the steps of its round."""

    def __init__(
        self,
        args: argparse.Namespace,
        location: str,
        ledger: Ledger,
        show: Callable[[Plan], None],
    ) -> None:
        """`ledger` is read for what the plan says of it (`ledger_seen`), never written."""
        self.args, self.location, self.ledger, self.show = args, location, ledger, show
        self.out = console()
        self.plan_line = for_logs("plan", "audience rows read")  # CI only (None on a terminal)

    def planning(self, rows: int) -> None:
        if self.plan_line is not None:
            self.plan_line.advance(rows)

    def stale(self, records: list[SendRecord]) -> None:
        if records:
            self.out.print(
                f"[red]{plural(len(records), 'send')} {'was' if len(records) == 1 else 'were'} "
                "pending from a run that stopped mid-send[/]: "
                "now uncertain (they may have gone out); not resent unless "
                "--resend-uncertain"
            )

    def planned(self, plan: Plan) -> None:
        from smsops.core.terminal import printable
        from smsops.report.plan_format import ledger_rows, nothing_to_send

        seen, uncertain = ledger_seen(plan, self.location, self.ledger)
        # On stderr, the plan on stdout staying as `smsops plan` prints it.
        console(stderr=True).print(
            f"apply writes the ledger {printable(seen.name)} ({ledger_rows(seen)})", markup=False
        )
        self.show(plan)
        warn_uncertain(uncertain)
        if not plan.sends:
            self.out.print(nothing_to_send(plan), markup=False)

    def dry_run(self, sender: Sender, sends: list[Send]) -> None:
        from smsops.core.terminal import json_text

        for request in sender.requests(sends, unmask=self.args.unmask):
            print(json_text(request))
        self.out.print(
            f"dry run: {plural(len(sends), 'message')} not sent; the ledger is unchanged."
        )

    def confirm(self, count: int) -> None:
        if not self.args.yes:
            _confirm(count, ledger_name(self.location))

    @contextmanager
    def sending(self, sender: Sender, count: int) -> Iterator[None]:
        """A progress bar on terminals; a first SIGINT/SIGTERM stops claiming, in-flight settles."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        err = console(stderr=True)
        with (
            _stop_on_signal(sender),
            Progress(
                "sending",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
                disable=not err.is_terminal,
            ) as progress,
        ):
            task = progress.add_task("send", total=count)
            sender.on_settled = lambda n: progress.advance(task, n)
            report = sender.report
            line = for_logs(  # CI: a line at most every 10 s instead of the bar
                "apply",
                "sends done",
                total=count,
                detail=lambda: (
                    f"{report.sent:,} sent, {report.failed:,} failed, "
                    f"{report.uncertain:,} uncertain"
                    + (f", {report.expired:,} expired" if report.expired else "")
                ),
            )
            if line is not None:
                sender.on_settled = line.advance
            yield


@contextmanager
def _stop_on_signal(sender: Sender) -> Iterator[None]:
    """A first SIGINT/SIGTERM stops claiming, in-flight work settles; a second acts as usual."""
    loop = asyncio.get_running_loop()
    watched: list[signal.Signals] = []

    def on_signal(signum: int) -> None:
        print(
            "stopping: sending nothing new, settling what is in flight (interrupt again to abort)",
            file=sys.stderr,
        )
        sender.stop()
        for sig in watched:  # a second signal acts as usual
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            watched.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals on this platform
    try:
        yield
    finally:
        for sig in watched:
            loop.remove_signal_handler(sig)


def _confirm(count: int, location: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError("apply asks before sending; pass --yes to send without asking (CI)")
    try:
        answer = input(f"Send {plural(count, 'message')} (ledger {location})? Only 'yes' sends: ")
    except EOFError:  # Ctrl-D, or the terminal went away
        print(file=sys.stderr)
        raise UsageError("no answer (end of input); nothing was sent") from None
    if answer.strip() != "yes":
        raise UsageError("cancelled; nothing was sent")


def run_loop(main: Coroutine[Any, Any, ApplyReport | None]) -> ApplyReport | None:
    """uvloop where it exists (~4% more sends a second: apply is CPU-bound), else asyncio."""
    try:
        import uvloop
    except ImportError:  # Windows, PyPy
        return asyncio.run(main)
    return uvloop.run(main)
