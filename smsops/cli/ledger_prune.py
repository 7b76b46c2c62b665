"""`smsops ledger prune [CONFIG] --before DATE [--archive FILE] [--plan FILE]... [--yes]`.

Without `--yes` it is a dry run: it opens the ledger read-only, shows what
would go and what stays (counts per schedule, never a number) and changes
nothing; `--yes` removes (as `apply --yes` sends). The rules are
engine/retention.py's; the storage's own checks ledger/pruning.py's.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from smsops.cli.common import EXIT_ERROR, EXIT_OK, add_ledger, cache_dir, instant, open_ledger_at
from smsops.core.errors import UsageError
from smsops.core.words import plural

if TYPE_CHECKING:
    from datetime import timedelta

    from smsops.engine.retention import Done, Selection
    from smsops.engine.saved_plan import SavedPlan
    from smsops.ledger.pruning import Pruning

COMMAND = "smsops ledger prune"


def run(args: argparse.Namespace) -> int:
    from smsops.config.settings import ledger_setting
    from smsops.core.terminal import printable
    from smsops.engine import retention
    from smsops.engine.saved_plan import read_plan_file
    from smsops.ledger.open import ledger_name
    from smsops.ledger.pruning import Pruning, undated

    now = datetime.now(UTC)
    if args.before > now:
        raise UsageError(
            f"--before {args.before.isoformat()} is in the future; prune removes what is older "
            "than a past time (nothing was removed)"
        )
    location = ledger_setting(args.ledger)
    archive = _archive_location(args.archive, location)
    windows = _windows(args.config)
    plans: list[SavedPlan] = [read_plan_file(path) for path in args.plan or ()]
    cutoff = retention.cutoff(args.before, now, plans)
    ledger = open_ledger_at(location, COMMAND, readonly=not args.yes, must_exist=True)
    try:
        if not isinstance(ledger, Pruning):  # pragma: no cover - every backend prunes
            raise UsageError(f"{ledger_name(location)} cannot be pruned")
        found = list(ledger.settled_occurrences(cutoff))
        dated = (item.schedule for item in found if not undated(item.schedule))
        selection = retention.select(
            found,
            before=args.before,
            now=now,
            windows=windows,
            plans=plans,
            newest=retention.newest_occurrences(ledger, dated),
        )
        for line in _selection_report(selection, ledger_name(location), args.before):
            print(printable(line))
        if not args.yes:
            print("dry run: nothing was removed; run again with --yes to remove them")
            return EXIT_OK
        if not selection.chosen:
            print("nothing to remove; nothing was changed")
            return EXIT_OK
        return _prune(ledger, selection, cutoff, archive)
    finally:
        ledger.close()


def _prune(ledger: Pruning, selection: Selection, cutoff: datetime, archive: str | None) -> int:
    from smsops.core.terminal import printable
    from smsops.engine import retention
    from smsops.ledger.copy import CopyTarget

    target = open_ledger_at(archive, COMMAND) if archive is not None else None
    try:
        if target is not None and not isinstance(target, CopyTarget):  # pragma: no cover
            raise UsageError(f"{archive} cannot take archived rows")
        try:
            done = retention.prune(ledger, selection.chosen, cutoff, target)
        except retention.ArchiveFailed as failed:
            print(
                f"archive {archive} did not verify ({plural(failed.outcome.missing_count, 'row')} "
                f"missing, "
                f"{failed.outcome.total_conflicts} held there in another version): stopped; "
                f"{plural(failed.removed, 'row')} archived and verified earlier were removed, "
                "nothing else. "
                "Use a new archive file and run again"
            )
            return EXIT_ERROR
    finally:
        if target is not None:
            target.close()
    for line in _done_report(done, archive):
        print(printable(line))
    return EXIT_OK


def _archive_location(archive: str | None, location: str) -> str | None:
    """--archive as a ledger location: a SQLite file, never the ledger being pruned.

    Taken as given (a str, not a Path, which would fold `postgresql://` into
    a relative path and create it).
    """
    if archive is None:
        return None
    from smsops.ledger.open import ledger_identity, ledger_path

    path = None if "://" in archive else ledger_path(archive)
    if path is None:
        raise UsageError("--archive: give a file path (the archive is a SQLite ledger file)")
    if path.exists() and not path.is_file():
        raise UsageError(f"--archive {archive!r} is not a regular file; give a file path")
    if ledger_identity(archive) == ledger_identity(location):
        raise UsageError("--archive names the ledger being pruned; give another file")
    return archive


def _windows(config: Path | None) -> dict[str, timedelta | None]:
    """Each schedule's window in the config (none given: every schedule's is unknown)."""
    if config is None:
        return {}
    from smsops.engine.project import load_project

    loaded = load_project(config, cache_dir())
    return {name: schedule.effective_window for name, schedule in loaded.schedules.items()}


def _selection_report(selection: Selection, name: str, before: datetime) -> list[str]:
    per = selection.per_schedule()
    rows = sum(r for _, r in per.values())
    lines = [
        f"{name}: {plural(len(selection.chosen), 'occurrence')} ({plural(rows, 'row')}) "
        "settled before "
        f"{before.isoformat()} may be removed"
    ]
    lines.extend(
        f"  {schedule}: {plural(n, 'occurrence')}, {plural(r, 'row')}"
        for schedule, (n, r) in sorted(per.items())
    )
    for reason, count in sorted(selection.kept.items()):
        lines.append(f"  kept {plural(count, 'occurrence')}: {reason.value}")
    return lines


def _done_report(done: Done, archive: str | None) -> list[str]:
    months = f" ({done.pruned.months} month partitions emptied whole)" if done.pruned.months else ""
    lines = [f"removed {plural(done.pruned.rows, 'row')}{months}"]
    if done.archive is not None and archive is not None:
        copied = sum(done.archive.copied.values())
        already = sum(done.archive.already.values())
        lines.append(
            f"archived first to {archive}: {plural(copied, 'row')} copied, {already:,} already "
            "there, "
            f"{done.archive.verified} verified (read back, a sha256 of every field); "
            f"`smsops ledger migrate --from {archive} --to LEDGER` brings them back"
        )
    return lines


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prune = actions.add_parser(
        "prune",
        help="remove occurrences settled before a date (dry run unless --yes), archived first",
        description="Remove the rows of occurrences older than --before that no plan needs: "
        "never an occurrence whose window is open or closed under a day ago, with a pending or "
        "uncertain row, the newest of its schedule, `once`, or named by a --plan file. "
        "Without --yes nothing is removed: the counts are shown. CONFIG gives the schedules' "
        "windows (without it each counts 31 days, the longest a config may set).",
    )
    prune.add_argument(
        "config", nargs="?", type=Path, metavar="CONFIG", help="a directory or a file"
    )
    prune.add_argument(
        "--before",
        required=True,
        type=instant,
        metavar="DATE",
        help="occurrences before this (ISO 8601 date or time; no zone: UTC)",
    )
    prune.add_argument(
        "--archive",
        metavar="FILE",
        help="first copy the rows into this SQLite ledger file, verified (ledger migrate reads it)",
    )
    prune.add_argument(
        "--plan",
        action="append",
        type=Path,
        metavar="FILE",
        help="a saved plan (plan --out): its occurrences and what was due at its time stay",
    )
    prune.add_argument("--yes", action="store_true", help="remove them (default: a dry run)")
    add_ledger(prune)
    prune.set_defaults(handler=run)
