"""`plan` (reads the ledger, never writes) and `apply` (sends what the plan says)."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from smsops.cli.base_diff import add_base
from smsops.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PENDING,
    add_at,
    add_config,
    add_ledger,
    add_sandbox,
    cache_dir,
    console,
    ledger_location,
    ledger_seen,
    open_ledger_at,
    open_out,
    start_sandbox,
    warn_uncertain,
)
from smsops.cli.saved_plan_commands import (
    PlanSelection,
    add_apply_flags,
    check_outputs,
    checked_plan,
    write_plan,
)
from smsops.cli.subcommands import Commands
from smsops.core.errors import UsageError

if TYPE_CHECKING:
    from smsops.engine.apply import ApplyReport
    from smsops.engine.diff import ConfigDiff
    from smsops.engine.forecast import Forecast
    from smsops.engine.plan import Plan


def _formatted(
    plan: Plan, fmt: str, forecast: Forecast | None = None, diff: ConfigDiff | None = None
) -> str:
    # Each format's module when it is asked for: the diff's (engine.diff, pydantic
    # models) only with --base, ~6 ms of every plan and apply without it.
    if fmt == "json":
        from smsops.core.terminal import json_text
        from smsops.report.forecast_format import forecast_json
        from smsops.report.plan_format import as_json

        ahead = None if forecast is None else forecast_json(forecast)
        out = as_json(plan, ahead)
        if diff is not None:
            from smsops.report.diff_format import diff_json

            out["diff"] = diff_json(diff)
        return json_text(out, indent=2) + "\n"
    if fmt == "markdown":
        from smsops.report.plan_markdown import as_markdown

        changes = ""
        if diff is not None:
            from smsops.report.diff_markdown import diff_markdown

            changes = diff_markdown(diff)
        if forecast is None:
            return as_markdown(plan, "", changes)
        from smsops.report.forecast_markdown import forecast_markdown

        return as_markdown(plan, forecast_markdown(forecast), changes, forecast.needs_approval())
    from smsops.report.plan_format import as_text

    changed = ""
    if diff is not None:
        from smsops.report.diff_format import diff_text

        changed = diff_text(diff)
    if forecast is None:
        return changed + as_text(plan)
    from smsops.report.forecast_format import forecast_text

    return changed + as_text(plan) + forecast_text(forecast)


def _show(text: str, fmt: str, out: Path | None = None) -> None:
    """Text is rich markup (colour on terminals only); markdown and JSON are printed as is."""
    if out is not None:
        with open_out(out) as file:
            if fmt == "text":
                console(file).print(text, end="")
            else:
                file.write(text)
        return
    if fmt == "text":
        console().print(text, end="")
    else:
        sys.stdout.write(text)


def _plan(args: argparse.Namespace) -> int:
    from smsops.cli.base_diff import planned_with_base, wanted
    from smsops.cli.progress import for_logs
    from smsops.engine.forecast import HORIZON, plan_with_forecast
    from smsops.engine.owner import stale_rule
    from smsops.engine.planner import PlanOptions
    from smsops.engine.project import load_project
    from smsops.engine.targets import targets

    check_outputs(args)  # before anything, so no failure report lands on a config file
    config = load_project(args.config, cache_dir())
    chosen = targets(config, args.schedule)
    location = ledger_location(args)
    ledger = open_ledger_at(location, "smsops plan", readonly=True)
    try:
        line = for_logs("plan", "audience rows read")  # CI: how far a long plan is
        options = PlanOptions(
            only=chosen.due_now(config),
            cache_dir=cache_dir(),
            progress=None if line is None else line.advance,
            keep_sends=args.out is not None,  # a plan file lists every send
        )
        at = args.at or datetime.now(UTC)
        stale = stale_rule(ledger, datetime.now(UTC))
        horizon = args.horizon or HORIZON
        diff = None
        if wanted(args):  # the base is planned against the same ledger, read-only too
            sides = (ledger, at, horizon, stale, options)
            plan, ahead, diff = planned_with_base(args, config, sides, chosen.considered)
        else:
            plan, ahead = plan_with_forecast(
                config, ledger, at, horizon, stale, chosen.considered, options
            )
        plan.not_considered = chosen.not_considered
        plan.ledger, uncertain = ledger_seen(plan, location, ledger)
    finally:
        ledger.close()
    if args.out is not None:
        write_plan(args.out, plan, config, location)
    if args.out is None or args.report is not None:
        _show(_formatted(plan, args.format, ahead, diff), args.format, args.report)
    warn_uncertain(uncertain)
    if args.report is not None:
        from smsops.core.terminal import printable
        from smsops.report.plan_format import summary_line

        print(f"plan written to {args.report}: {summary_line(plan, printable)}", file=sys.stderr)
    pending = plan.to_send if diff is None else diff.receives_changed
    return EXIT_PENDING if args.detailed_exitcode and pending else EXIT_OK


def _apply(args: argparse.Namespace) -> int:
    from smsops.cli.apply_round import ApplyHooks, run_loop
    from smsops.core.envref import Placeholders
    from smsops.engine.project import load_project
    from smsops.engine.round import Round
    from smsops.providers.redaction import REDACTED

    if args.unmask and not args.dry_run:
        raise UsageError("--unmask only changes what --dry-run prints; add --dry-run")
    from smsops.engine.targets import check_schedules, targets

    config = load_project(args.config, cache_dir())
    chosen = targets(config, args.schedule)

    def show(plan: Plan) -> None:
        from smsops.report.plan_format import as_text

        plan.not_considered = chosen.not_considered
        # With --plan, the count shown last is of the plan file's sends: what is sent.
        _show(as_text(plan, None if select is None else select.shown(plan)), "text")

    check_schedules(args.approve, config, "--approve")
    location = ledger_location(args)
    # A plan file is refused (drift, ledger, age) before anything starts or is written:
    # no sandbox, no ledger file.
    saved = None if args.plan is None else checked_plan(args, config, location)
    with ExitStack() as stack:
        env: dict[str, str] | Placeholders = dict(os.environ)
        if args.sandbox:
            point, env = start_sandbox(stack)
            config = point(config)
        if args.dry_run:
            env = Placeholders(REDACTED)
        ledger = open_ledger_at(
            location, "smsops apply", readonly=args.dry_run, create_on_write=True
        )
        stack.callback(ledger.close)
        hooks = ApplyHooks(args, location, ledger, show)
        select: PlanSelection | None = None
        if saved is not None:
            considered = chosen.considered if chosen.targeted else None
            select = PlanSelection(saved, ledger, considered, args.plan)
        round_ = Round(
            config,
            ledger,
            env,
            hooks,
            resend_uncertain=args.resend_uncertain,
            dry_run=args.dry_run,
            cache_dir=cache_dir(),
            select=select,
            approved=frozenset(args.approve),
        )
        ready = round_.prepare(args.at or datetime.now(UTC), chosen.due_now(config))
        # A planned send that reads differently now was not sent: an error to see.
        changed = EXIT_ERROR if select is not None and select.changed else EXIT_OK
        if not ready:
            return changed  # nothing to send, or a dry run: the hooks said so
        report = run_loop(round_.send())
    if report is None:  # stopped before the first claim
        return changed
    _summary(report)
    failing = (
        changed or report.failed or report.uncertain or report.not_started or report.ledger_error
    )
    failing = failing or report.refused
    return EXIT_ERROR if failing else EXIT_OK


def _summary(report: ApplyReport) -> None:
    from smsops.core.terminal import printable
    from smsops.report.wording import plural

    out = console()
    cost = " + ".join(f"{v:.4f} {printable(c)}" for c, v in sorted(report.cost.items()))
    line = (
        f"Applied: {report.sent} sent, {report.failed} failed, {report.uncertain} uncertain "
        f"({plural(report.segments, 'segment')}{', about ' + cost if cost else ''})."
    )
    out.print(line, style="bold", markup=False)  # a currency is config text
    if report.expired:
        out.print(
            f"[red]{report.expired} expired: window closed[/] before they could go out; "
            "recorded expired, never sent (smsops ledger list --status expired)."
        )
    if report.taken:
        out.print(f"{report.taken} were claimed by another run first and left to it.")
    if report.not_started:
        out.print(f"[red]{report.not_started} not sent: stopped[/]; the next apply sends them.")
    for problem in report.problems:
        out.print(f"  {printable(problem)}", markup=False)  # provider replies, config names
    if report.ledger_error:
        from rich.markup import escape

        out.print(
            f"[red]The ledger could not be written[/]: {escape(printable(report.ledger_error))}"
        )
        out.print("Sending stopped there: nothing is sent without its row in the ledger.")
    if report.unsettled:
        out.print(
            f"[red]{plural(report.unsettled, 'result')} could not be written[/]: those rows stay "
            "pending "
            "and the next apply marks them uncertain (they may have gone out); then decide "
            "them with `smsops ledger resolve`."
        )


def horizon(text: str) -> timedelta:
    """A --horizon: a duration (7d, 36h) within the forecast's bounds."""
    from smsops.core.units import parse_duration
    from smsops.engine.forecast import horizon_problem

    try:
        value = parse_duration(text)
    except ValueError:
        value = timedelta(0)
    problem = horizon_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: {problem}")
    return value


def add_schedule(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--schedule",
        action="append",
        default=[],
        metavar="NAME",
        help=f"{what} only this schedule (repeatable); the others are counted as not considered",
    )


def register(commands: Commands) -> None:
    @commands.command(
        "plan",
        help="show what apply would send now (reads the ledger, never writes)",
        description="Compare what should have been sent by now with the ledger: messages to "
        "send, already sent, uncertain, failed and skipped (with reasons), next fire times, "
        "segments and cost.",
    )
    def _plan_arguments(plan: argparse.ArgumentParser) -> None:
        add_config(plan)
        add_at(plan, "plan")
        plan.add_argument("--format", choices=("text", "markdown", "json"), default="text")
        plan.add_argument(
            "--detailed-exitcode",
            action="store_true",
            help="exit 0 when nothing is to send, 2 when sends are pending, 1 on error",
        )
        plan.add_argument(
            "--out", type=Path, metavar="FILE", help="write a plan file for apply --plan (see show)"
        )
        plan.add_argument(
            "--report", type=Path, metavar="FILE", help="write the plan view (--format) to FILE"
        )
        plan.add_argument(
            "--horizon",
            type=horizon,
            metavar="DURATION",
            help="how far ahead the forecast looks, from 1h to 31d (default: 7d)",
        )
        add_schedule(plan, "plan")
        add_base(plan)
        add_ledger(plan)
        plan.set_defaults(handler=_plan)

    @commands.command(
        "apply",
        help="send exactly the messages the plan says are missing",
        description="Show the plan, ask, then send each due message once: claimed in the "
        "ledger before the request, settled after.",
    )
    def _apply_arguments(apply: argparse.ArgumentParser) -> None:
        add_config(apply)
        add_at(apply, "apply")
        apply.add_argument("--yes", action="store_true", help="send without asking")
        apply.add_argument(
            "--dry-run",
            action="store_true",
            help="print every request (secrets hidden, numbers masked), send none",
        )
        apply.add_argument(
            "--unmask", action="store_true", help="with --dry-run: show full phone numbers"
        )
        add_sandbox(apply)
        add_schedule(apply, "apply")
        apply.add_argument(
            "--approve",
            action="append",
            default=[],
            metavar="SCHEDULE",
            help="send this schedule even if its plan is over its limits (repeatable)",
        )
        apply.add_argument(
            "--resend-uncertain",
            action="store_true",
            help="also resend messages that may have gone out before (risking a double send)",
        )
        add_apply_flags(apply)
        add_ledger(apply)
        apply.set_defaults(handler=_apply)
