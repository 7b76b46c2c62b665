"""Saved plans on the command line: `plan --out`, `show`, and `apply --plan`'s checks.

Apart from `plan_commands` so the flags and checks of saved plans live in
one place; `plan` and `apply` call in here (see `smsops.engine.saved_plan`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from smsops.cli.common import EXIT_OK, SANDBOX_LEDGER, console
from smsops.cli.subcommands import Commands
from smsops.core.errors import UsageError

if TYPE_CHECKING:
    from smsops.config.loader import Config
    from smsops.engine.plan import Plan, Send
    from smsops.engine.saved_plan import SavedPlan
    from smsops.ledger.base import Ledger

MAX_AGE = "1d"


def write_plan(out: Path, plan: Plan, config: Config, location: str) -> None:
    """`plan --out FILE`: the plan file apply --plan reads (`plan` was made with keep_sends)."""
    from smsops.config.fingerprint import content_digests
    from smsops.engine.saved_plan import MAX_SENDS, saved_from, write_plan_file
    from smsops.ledger.open import ledger_identity

    if len(plan.sends) > MAX_SENDS:
        raise UsageError(
            f"the plan has {len(plan.sends):,} sends, over the {MAX_SENDS:,} a plan file holds; "
            "write one plan file per schedule (--schedule NAME)"
        )
    identity = ledger_identity(location)
    saved = saved_from(plan, config.root, content_digests(config), identity, datetime.now(UTC))
    try:
        write_plan_file(out, saved)
    except OSError as exc:
        raise UsageError(f"cannot write {str(out)!r}: {exc.strerror}") from None
    print(
        f"plan file written to {out}: {len(saved.sends):,} sends; apply exactly them with "
        f"`smsops apply CONFIG --plan {out}`",
        file=sys.stderr,
    )


def check_outputs(args: argparse.Namespace) -> None:
    """`plan --out`/`--report`: refused (nothing written) when writing them would change the
    config, or when both name one file (the view would replace the plan file)."""
    import os

    from smsops.config.fingerprint import overwrites_config

    named = [(flag, path) for flag, path in (("--out", args.out), ("--report", args.report))]
    for flag, path in named:
        problem = None if path is None else overwrites_config(args.config, path)
        if problem is not None:
            args.report = None  # the failure comment (failed_markdown) goes to stdout instead
            raise UsageError(
                f"{flag} {path}: {problem}. Write it outside the config; nothing was written"
            )
    if args.out is not None and args.report is not None:
        out, report = os.path.realpath(args.out), os.path.realpath(args.report)
        if out == report or (
            os.path.exists(out) and os.path.exists(report) and os.path.samefile(out, report)
        ):
            args.report = None
            raise UsageError(
                f"--out and --report name the same file ({args.out}): the view would replace "
                "the plan file; give each its own file; nothing was written"
            )


def add_apply_flags(apply: argparse.ArgumentParser) -> None:
    apply.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="send only the still-unsent sends of this plan file (from plan --out)",
    )
    apply.add_argument(
        "--allow-drift",
        action="store_true",
        help="with --plan: apply although the config's files changed since (changed texts "
        "are still not sent)",
    )
    apply.add_argument(
        "--max-age",
        default=MAX_AGE,
        metavar="DURATION",
        help=f"with --plan: refuse a plan older than this (default {MAX_AGE}; e.g. 30m, 12h)",
    )


def checked_plan(args: argparse.Namespace, config: Config, location: str) -> SavedPlan:
    """The plan file of `apply --plan`, refused (UsageError) if it may not be applied here."""
    from smsops.config.fingerprint import content_digests, drifted
    from smsops.core.units import format_duration, parse_duration
    from smsops.engine.saved_plan import read_plan_file
    from smsops.ledger.open import ledger_identity

    try:
        max_age = parse_duration(args.max_age)
    except ValueError as exc:
        raise UsageError(f"--max-age: {exc}") from None
    saved = read_plan_file(args.plan)
    age = datetime.now(UTC) - saved.created
    if age < -timedelta(minutes=5):  # a little clock skew between CI machines is fine
        raise UsageError(
            f"{args.plan}: the plan was written in the future ({saved.created}); nothing was sent"
        )
    if age > max_age:
        raise UsageError(
            f"{args.plan}: the plan is {format_duration(age)} old, older than --max-age "
            f"{format_duration(max_age)}; plan again (or raise --max-age); nothing was sent"
        )
    here = ledger_identity(location)
    if saved.ledger != here:
        # Under --sandbox, "that --ledger" is the ledger of real sends: the emulator's sends
        # would be written there as sent, and those messages never sent for real.
        advice = (
            "--sandbox sends to the emulator, so never give it the ledger of real sends: "
            f"plan against its own (smsops plan CONFIG --ledger {SANDBOX_LEDGER} --out FILE)"
            if getattr(args, "sandbox", False)
            else "apply it with that --ledger, or plan again"
        )
        raise UsageError(
            f"{args.plan}: the plan was made against the ledger {saved.ledger}, not {here}; "
            f"{advice}; nothing was sent"
        )
    changes = drifted(saved.config.files, content_digests(config))
    if changes:
        said = "; ".join(changes)
        if not args.allow_drift:
            raise UsageError(
                f"{args.plan}: the config differs from the plan's: {said} since the plan. "
                "Plan again and review, or pass --allow-drift to send the planned sends whose "
                "text is unchanged; nothing was sent"
            )
        console(stderr=True).print(
            f"warning: the config differs from the plan's: {said} since the plan "
            "(--allow-drift: only planned sends whose text is unchanged go)",
            markup=False,
        )
    return saved


class PlanSelection:
    """`Round`'s `select` for `apply --plan`: the planned sends, and a word on the rest.

    `apply` shows the plan before the round selects: `shown` selects then (once
    per plan), so the count at the end of what is shown is what is sent.
    """

    def __init__(
        self, saved: SavedPlan, ledger: Ledger, considered: Collection[str] | None, file: Path
    ) -> None:
        self.saved, self.ledger, self.considered, self.file = saved, ledger, considered, file
        self.changed = 0
        self._chosen: tuple[Plan, list[Send], list[str]] | None = None

    def __call__(self, plan: Plan) -> list[Send]:
        sends, notes = self._choose(plan)
        out = console()
        for line in notes:  # none when `shown` said them
            out.print(line)
        self._chosen = (plan, sends, [])
        return sends

    def shown(self, plan: Plan) -> str:
        """Rich markup for after the plan: what of it is not sent, then what is."""
        from smsops.report.plan_format import shown
        from smsops.report.wording import plural

        sends, notes = self._choose(plan)
        self._chosen = (plan, sends, [])  # said here: not again when the round selects
        segments = sum(send.segments for send in sends)
        summary = (
            f"[bold]Plan:[/] {plural(len(sends), 'message')} to send from the plan file "
            f"{shown(str(self.file))} ({plural(segments, 'segment')}; "
            f"{plan.to_send:,} due now)."
        )
        return "\n".join([*notes, summary]) + "\n"

    def _choose(self, plan: Plan) -> tuple[list[Send], list[str]]:
        if self._chosen is not None and self._chosen[0] is plan:
            return self._chosen[1], self._chosen[2]
        from smsops.engine.saved_plan import select
        from smsops.report.wording import plural

        chosen = select(self.saved, plan, self.considered)
        notes = []
        if chosen.left_out:
            notes.append(
                f"{plural(chosen.left_out, 'planned send')} of schedules left out by "
                "--schedule: not sent."
            )
        settled = self.ledger.get(chosen.elsewhere)
        if settled:
            notes.append(
                f"{len(settled):,} of the plan's sends are already settled in the ledger "
                "(sent, failed, uncertain or in flight): not sent again."
            )
        if gone := len(chosen.elsewhere) - len(settled):
            notes.append(
                f"{plural(gone, 'planned send')} not due now (window closed, quiet hours or "
                "no longer in the config): not sent."
            )
        if chosen.not_planned:
            n = len(chosen.not_planned)
            notes.append(
                f"{plural(n, 'send')} due now {'is' if n == 1 else 'are'} not in the plan: "
                "not sent (plan again to review them)."
            )
        if chosen.changed:
            self.changed = len(chosen.changed)
            notes.append(
                f"[red]{plural(self.changed, 'planned send')} read differently now: not sent[/] "
                "(its text or providers changed since the plan; plan again to review them)."
            )
        self._chosen = (plan, chosen.sends, notes)
        return chosen.sends, notes


def _show(args: argparse.Namespace) -> int:
    from smsops.engine.saved_plan import read_plan_file
    from smsops.report.saved_plan_format import as_json, as_markdown, as_text

    saved = read_plan_file(args.file)
    views: dict[str, Callable[[SavedPlan], str]] = {
        "text": as_text,
        "markdown": as_markdown,
        "json": as_json,
    }
    sys.stdout.write(views[args.format](saved))
    return EXIT_OK


def register(commands: Commands) -> None:
    @commands.command(
        "show",
        help="show a plan file written by plan --out (numbers masked)",
        description="Read a plan file (validated as apply --plan reads it) and show what it "
        "would send: where it was planned, the config's files, every send by schedule.",
    )
    def _show_arguments(show: argparse.ArgumentParser) -> None:
        show.add_argument("file", type=Path, metavar="FILE", help="a plan file from plan --out")
        show.add_argument("--format", choices=("text", "markdown", "json"), default="text")
        show.set_defaults(handler=_show)
