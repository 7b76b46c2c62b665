"""`smsops status CONFIG [--ledger L] [--format text|json]`: the operator's view in a terminal.

The same view as `smsops run`'s `GET /status.json` (engine/status.py), from
the config and the ledger alone, for people without the daemon's port: no
audience is read and nothing is planned. The ledger is opened read-only.
Whether a schedule is held is what the last round of it recorded in the
ledger (over its guardrails, a missing secret), and a secret missing from
this environment.
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
    ledger_location,
    open_ledger_at,
)
from smsops.cli.subcommands import Commands


def _status(args: argparse.Namespace) -> int:
    from smsops.engine.project import load_without_audiences
    from smsops.engine.status import status_of
    from smsops.ledger.open import ledger_name

    config = load_without_audiences(args.config)
    location = ledger_location(args)
    ledger = open_ledger_at(location, "smsops status", readonly=True, must_exist=True)
    try:
        now = datetime.now(UTC)
        shown = None if args.ledger is None else ledger_name(location)
        view = status_of(config, ledger, now, env=os.environ, ledger_arg=shown)
    finally:
        ledger.close()
    if args.format == "json":
        sys.stdout.write(view.to_json() + "\n")
    else:
        from smsops.report.status_format import status_text

        sys.stdout.write(status_text(view))
    return EXIT_OK


def register(commands: Commands) -> None:
    @commands.command(
        "status",
        help="what went out, what is stuck, what needs a person, what goes out next",
        description="The operator's view from the config and the ledger (read-only): per "
        "schedule enabled or held, next fires, its last occurrences' counts and delivery "
        "rate; uncertain rows with the command that resolves them; guardrails; recent "
        "opt-outs (masked); the runs holding leases.",
    )
    def _status_arguments(status: argparse.ArgumentParser) -> None:
        add_config(status)
        status.add_argument("--format", choices=("text", "json"), default="text")
        add_ledger(status)
        status.set_defaults(handler=_status)
