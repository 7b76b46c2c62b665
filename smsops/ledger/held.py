"""What a round decided besides its sends: which schedules it held and why, what it skipped.

So `smsops status` reads the operator's view from the ledger alone (no
audience read, no plan): whoever plans and holds (`apply`, the daemon's
rounds) records it here, in the place the decision is made (engine/round.py,
daemon/runner.py).

- `holds`: one row per schedule a round held (its reason and detail, and
  since when: kept while the reason stays the same), deleted when a round of
  it goes ahead.
- `skips`: per (schedule, occurrence, reason), how many recipients the
  latest plan of that occurrence skipped (opted out, invalid number, ...):
  each plan of an occurrence replaces its rows, so the table is bounded by
  occurrences x reasons, never by recipients.

The SQL is shared by SQLite and PostgreSQL (`?` becomes `%s` there); times
are ISO 8601 text in UTC for SQLite and timestamptz for PostgreSQL. The
Python versions are the memory ledger's and the reference the SQL is
tested against (tests/ledger/test_held.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from smsops.core.errors import LedgerError
from smsops.ledger.recent import newest_occurrences

# Why a round held a schedule: its plan is over its guardrails, or a secret its
# provider needs is not set.
HoldReason = Literal["guardrail", "secret"]
HOLD_REASONS: tuple[HoldReason, ...] = ("guardrail", "secret")
# schedule -> occurrence -> skip reason -> recipients skipped
Skips = dict[str, dict[str, dict[str, int]]]


@dataclass(frozen=True)
class Hold:
    """A schedule a round held: why (`reason`, `detail`) and since when."""

    schedule: str
    reason: HoldReason
    detail: str
    since: datetime


# A migration of each backend: `{time}` in its type.
TABLES = """
    CREATE TABLE IF NOT EXISTS holds (
        schedule text PRIMARY KEY,
        reason text NOT NULL,
        detail text NOT NULL,
        since {time} NOT NULL
    );
    CREATE TABLE IF NOT EXISTS skips (
        schedule text NOT NULL,
        occurrence text NOT NULL,
        reason text NOT NULL,
        count integer NOT NULL,
        PRIMARY KEY (schedule, occurrence, reason)
    );
"""
# The same hold again keeps its first `since`; another reason or detail starts afresh.
HOLD = (
    "INSERT INTO holds (schedule, reason, detail, since) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (schedule) DO UPDATE SET reason = excluded.reason, detail = excluded.detail, "
    "since = excluded.since "
    "WHERE holds.reason <> excluded.reason OR holds.detail <> excluded.detail"
)
UNHOLD = "DELETE FROM holds WHERE schedule = ?"
HOLDS = "SELECT schedule, reason, detail, since FROM holds ORDER BY schedule"
FORGET_SKIPS = "DELETE FROM skips WHERE schedule = ? AND occurrence = ?"
SKIP = (
    "INSERT INTO skips (schedule, occurrence, reason, count) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (schedule, occurrence, reason) DO UPDATE SET count = excluded.count"
)
# Each schedule's `?` newest occurrences with skips, every reason of each: seeks on the
# primary key (schedule, occurrence, reason), as recent.py's RECENT on the sends' index.
RECENT_SKIPS = (
    newest_occurrences("skips")
    + """
SELECT skips.schedule, skips.occurrence, skips.reason, skips.count
FROM recent JOIN skips
  ON skips.schedule = recent.schedule AND skips.occurrence = recent.occurrence
"""
)


def hold_of(row: Iterable[object]) -> Hold:
    """A `HOLDS` row (the time as SQLite's text or PostgreSQL's timestamptz) as a `Hold`."""
    schedule, reason, detail, since = row
    when = since if isinstance(since, datetime) else datetime.fromisoformat(str(since))
    for known in HOLD_REASONS:  # what this smsops writes; anything else is not ours to show
        if reason == known:
            return Hold(str(schedule), known, str(detail), when)
    raise LedgerError(
        f"the ledger's hold of {schedule!r} has the reason {str(reason)!r}, which is none of "
        f"{', '.join(HOLD_REASONS)}: the ledger was changed by another program or a newer "
        "smsops; delete that row of the holds table to read it (nothing was changed)"
    )


def skips_of(rows: Iterable[Iterable[object]]) -> Skips:
    """`RECENT_SKIPS` rows as nested counts."""
    found: Skips = {}
    for schedule, occurrence, reason, count in rows:
        per = found.setdefault(str(schedule), {}).setdefault(str(occurrence), {})
        per[str(reason)] = int(str(count))
    return found


def newest(every: Mapping[str, Mapping[str, Mapping[str, int]]], last: int) -> Skips:
    """`RECENT_SKIPS` computed from every row (the memory ledger)."""
    return {
        schedule: {o: dict(occurrences[o]) for o in sorted(occurrences, reverse=True)[:last]}
        for schedule, occurrences in every.items()
        if occurrences
    }


def nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {reason: n for reason, n in sorted(counts.items()) if n > 0}
