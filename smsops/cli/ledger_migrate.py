"""`smsops ledger migrate --from L --to L`: open both ledgers, copy, print the counts.

The copy and its verification are smsops/ledger/copy.py (the sends) and
smsops/ledger/migrate.py (every other durable table); this opens the
source read-only and the target as a writing command does (creating or
upgrading it), and names both as `ledger_name` does (never a password).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from smsops.cli.common import EXIT_ERROR, EXIT_OK, open_ledger_at
from smsops.core.errors import UsageError
from smsops.core.words import plural

if TYPE_CHECKING:
    from smsops.ledger.copy import Outcome
    from smsops.ledger.migrate import Migration


def run(args: argparse.Namespace) -> int:
    """Copy --from into --to; 0 when every row is there and verified, 1 on a conflict."""
    from smsops.core.terminal import printable
    from smsops.ledger.memory import MemoryLedger
    from smsops.ledger.migrate import Target, migrate_ledger
    from smsops.ledger.open import MEMORY, ledger_name, ledger_path

    for flag, location in (("--from", args.source), ("--to", args.target)):
        if location == MEMORY:
            raise UsageError(f"{flag} {MEMORY} holds nothing to copy or keep; name a stored ledger")
    names = ledger_name(args.source), ledger_name(args.target)
    paths = ledger_path(args.source), ledger_path(args.target)
    same = (
        paths[0].resolve() == paths[1].resolve() if paths[0] and paths[1] else names[0] == names[1]
    )
    if same:
        raise UsageError(f"--from and --to both name {names[0]}; a ledger is copied into another")
    command = "smsops ledger migrate"
    source = open_ledger_at(args.source, command, readonly=True, must_exist=True)
    try:
        if isinstance(source, MemoryLedger):  # a PostgreSQL database smsops never wrote
            raise UsageError(
                f"{names[0]} holds no smsops ledger (no schema_version table); check --from"
            )
        target = open_ledger_at(args.target, command)  # creates or upgrades it, as apply does
        try:
            if not isinstance(target, Target):  # pragma: no cover - SQLite and PostgreSQL are
                raise UsageError(f"{names[1]} cannot take copied rows")
            migration = migrate_ledger(source, target)
        finally:
            target.close()
    finally:
        source.close()
    for line in [*_copy_report(migration.sends, names), *_tables_report(migration)]:
        print(printable(line))
    return EXIT_OK if migration.ok else EXIT_ERROR


def _tables_report(migration: Migration) -> list[str]:
    """Per durable table besides the sends: what went in, what was there, what a rule decided."""
    from smsops.ledger.tables import RUNTIME

    titles = ("copied", "already there", "merged", "target's kept")
    widths = [max(10, len(title) + 2) for title in titles]

    def line(first: str, cells: Sequence[object]) -> str:
        return f"  {first:<16}" + "".join(f"{c!s:>{w}}" for c, w in zip(cells, widths, strict=True))

    lines = ["other tables (merged by the ledger's rules; docs/commands/ledger.md)"]
    lines.append(line("table", titles))
    for name, t in migration.tables.items():
        lines.append(line(name, [t.copied, t.already, t.merged, t.kept]))
    if failed := [name for name, t in migration.tables.items() if not t.ok]:
        lines.append(
            f"verification FAILED for {', '.join(failed)}: rows were left to copy after their "
            "batch committed. Another process may be writing the target: stop it and run again"
        )
    else:
        rows = sum(t.verified for t in migration.tables.values())
        lines.append(f"verified: {plural(rows, 'row')} of these tables left nothing to copy")
    lines.append(f"not copied (the processes' own, not the ledger's record): {', '.join(RUNTIME)}")
    return lines


def _copy_report(outcome: Outcome, names: tuple[str, str]) -> list[str]:
    """The lines `ledger migrate` prints: counts per status, conflicts, the verification."""
    columns = {"copied": outcome.copied, "already there": outcome.already}
    columns["conflicts"] = outcome.conflicts
    widths = [max(10, len(title) + 2) for title in columns]

    def line(first: str, cells: list[object]) -> str:
        return f"  {first:<12}" + "".join(f"{c!s:>{w}}" for c, w in zip(cells, widths, strict=True))

    head = f"{names[0]} -> {names[1]}: {plural(outcome.rows, 'row')} in sends"
    lines = [head, line("status", list(columns))]
    for status in sorted(set().union(*columns.values())):
        lines.append(line(status, [counts.get(status, 0) for counts in columns.values()]))
    lines.append(line("total", [sum(counts.values()) for counts in columns.values()]))
    lines.extend(
        f"conflict {c.key} ({c.status}): the target's row differs in {', '.join(c.fields)}; "
        "left as it is"
        for c in outcome.conflict_keys
    )
    if (unlisted := outcome.total_conflicts - len(outcome.conflict_keys)) > 0:
        lines.append(f"... and {unlisted} more conflicts")
    if not outcome.verified_ok:
        first = ", ".join(outcome.missing) or "none"
        lines.append(
            f"verification FAILED: {outcome.missing_count} source rows missing from the target "
            f"(first: {first}), {outcome.differing} differing where {outcome.total_conflicts} "
            "conflicts were found. Another process may be writing the target: stop it and run "
            "again"
        )
        return lines
    lines.append(
        f"verified: {outcome.verified} rows identical in both (keys read back, a sha256 of "
        f"every field compared); checksum {outcome.checksums[0]}"
    )
    if outcome.total_conflicts:
        lines.append(
            f"{outcome.total_conflicts} conflicts: nothing was overwritten; decide which row is "
            "right, fix or delete the other (`smsops ledger export` shows both), and run again"
        )
    return lines
