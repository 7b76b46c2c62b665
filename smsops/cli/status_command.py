"""`smsops status CONFIG [--ledger L] [--format text|json]`: the operator's view in a terminal.

The same view as `smsops run`'s `GET /status.json` (engine/status.py), from
the config and the ledger alone, for people without the daemon's port. The
ledger is opened read-only. Whether a schedule is over its guardrails is
decided as a round decides it: its plan due now is judged against its
limits (engine/limits.py), read-only like `smsops plan`.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from smsops.cli.common import (
    EXIT_OK,
    add_config,
    add_ledger,
    cache_dir,
    ledger_location,
    open_ledger_at,
)


def _status(args: argparse.Namespace) -> int:
    from smsops.engine.owner import stale_rule
    from smsops.engine.planner import PlanOptions, make_plan
    from smsops.engine.project import load_project
    from smsops.engine.status import status_of
    from smsops.ledger.open import ledger_name

    config = load_project(args.config, cache_dir())
    location = ledger_location(args)
    ledger = open_ledger_at(location, "smsops status", readonly=True, must_exist=True)
    try:
        now = datetime.now(UTC)
        options = PlanOptions(cache_dir=cache_dir())
        plan = make_plan(config, ledger, now, stale_rule(ledger, now), options)
        over = {s.schedule: [str(o) for o in s.over_limits] for s in plan.schedules}
        shown = None if args.ledger is None else ledger_name(location)
        view = status_of(config, ledger, now, env=os.environ, over_limits=over, ledger_arg=shown)
    finally:
        ledger.close()
    if args.format == "json":
        sys.stdout.write(view.to_json() + "\n")
    else:
        from smsops.report.status_format import status_text

        sys.stdout.write(status_text(view))
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="what went out, what is stuck, what needs a person, what goes out next",
        description="The operator's view from the config and the ledger (read-only): per "
        "schedule enabled or held, next fires, its last occurrences' counts and delivery "
        "rate; uncertain rows with the command that resolves them; guardrails; recent "
        "opt-outs (masked); the runs holding leases.",
    )
    add_config(status)
    status.add_argument("--format", choices=("text", "json"), default="text")
    add_ledger(status)
    status.set_defaults(handler=_status)
