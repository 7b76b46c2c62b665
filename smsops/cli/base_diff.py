"""`plan --base REF` / `--base-config DIR`: load the base and diff it against the plan's config."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from smsops.cli.common import cache_dir

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime, timedelta

    from smsops.config.loader import Config
    from smsops.engine.diff import ConfigDiff
    from smsops.engine.forecast import Forecast
    from smsops.engine.plan import Plan
    from smsops.engine.planner import LedgerView, PlanOptions
    from smsops.ledger.base import SendRecord

    # What the head is planned with: the ledger, the time, the horizon, staleness, options.
    Sides = tuple[LedgerView, datetime, timedelta, Callable[[SendRecord], bool], PlanOptions]


def add_base(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--base",
        metavar="REF",
        help="also show what changes against the config at this git ref (branch, tag, commit)",
    )
    group.add_argument(
        "--base-config",
        type=Path,
        metavar="DIR",
        help="also show what changes against the config in DIR",
    )


def wanted(args: argparse.Namespace) -> bool:
    return args.base is not None or args.base_config is not None


def planned_with_base(
    args: argparse.Namespace, head: Config, sides: Sides, names: list[str] | None
) -> tuple[Plan, Forecast, ConfigDiff]:
    """The head's plan and forecast, and its diff against the base the arguments name
    (checked out, then removed), planned together (engine/diff_pass.py)."""
    from smsops.config.base_ref import config_at_ref
    from smsops.core.errors import ConfigError
    from smsops.engine.diff import invalid_base
    from smsops.engine.diff_pass import plan_and_diff
    from smsops.engine.forecast import plan_with_forecast
    from smsops.engine.project import load_project

    ledger, at, horizon, stale, options = sides
    with ExitStack() as stack:
        if args.base is not None:
            name = str(args.base)
            path = stack.enter_context(config_at_ref(args.config, name))
            prefix, label = str(path if path.is_dir() else path.parent), f"{name}:"
        else:
            path = args.base_config
            name = str(path)
            prefix, label = "", ""
        try:
            base = load_project(path, cache_dir())
        except ConfigError as exc:
            # A problem names its file: in a checkout, as REF:path, not the temporary copy.
            shown = [
                str(p).replace(prefix + "/", label) if prefix else str(p) for p in exc.problems
            ]
            plan, ahead = plan_with_forecast(head, ledger, at, horizon, stale, names, options)
            return plan, ahead, invalid_base(name, shown)
        return plan_and_diff(name, base, head, ledger, at, horizon, stale, names, options)
