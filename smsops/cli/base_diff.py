"""`plan --base REF` / `--base-config DIR`: load the base and diff it against the plan's config."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from smsops.cli.common import cache_dir

if TYPE_CHECKING:
    from smsops.config.loader import Config
    from smsops.engine.diff import ConfigDiff, Sides


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


def base_diff(args: argparse.Namespace, head: Config, sides: Sides) -> ConfigDiff:
    """The diff of `head` against the base the arguments name (checked out, then removed)."""
    from smsops.config.base_ref import config_at_ref
    from smsops.core.errors import ConfigError
    from smsops.engine.diff import invalid_base, make_diff
    from smsops.engine.project import load_project

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
            return invalid_base(name, shown)
        return make_diff(name, base, head, sides)
