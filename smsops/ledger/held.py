"""What a round decided besides its sends: which schedules it held and why, what it skipped.

So `smsops status` reads the operator's view from the ledger alone (no
audience read, no plan): whoever plans and holds (`apply`, the daemon's
rounds) records it here, in the place the decision is made (engine/round.py,
daemon/runner.py).

- `holds`: one row per schedule a round held (its reason and detail, and
  since when: kept while the reason stays the same), deleted when a round of
  it goes ahead.
- `skips`: per (schedule, occurrence, part, reason), how many recipients the
  latest plan of that part skipped (opted out, invalid number, ...); the
  table is bounded by occurrences x parts x reasons, never by recipients.
  A part is a shard of the occurrence's audience (audience/shards.py), the
  units a replica plans on PostgreSQL (daemon/units.py), or `WHOLE` (-1, not
  a shard index) for a plan of the whole occurrence. Readers sum the parts.
  A plan of the whole replaces every row of the occurrence; a plan of some
  shards replaces those shards' rows and the whole's (its shards are in it):
  so rows of the whole and of shards never stand together, and no recipient
  is counted twice. Shard indices of one occurrence always mean the same
  shards: its count is the units table's, fixed by its first opener.

The SQL is shared by SQLite and PostgreSQL (`?` becomes `%s` there); times
are ISO 8601 text in UTC for SQLite and timestamptz for PostgreSQL. The
Python versions are the memory ledger's and the reference the SQL is
tested against (tests/ledger/test_held.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from smsops.core.errors import LedgerError
from smsops.ledger.recent import newest_occurrences

# Why a round held a schedule: its plan is over its guardrails, a secret its
# provider needs is not set, or a provider it sent with could not be reached.
HoldReason = Literal["guardrail", "secret", "provider"]
HOLD_REASONS: tuple[HoldReason, ...] = ("guardrail", "secret", "provider")
# schedule -> occurrence -> skip reason -> recipients skipped
Skips = dict[str, dict[str, dict[str, int]]]
# The part of a plan of the whole occurrence (a shard is 0 or more).
WHOLE = -1
# What a plan skipped: (schedule, occurrence, part) -> skip reason -> recipients skipped.
# Every part the plan kept is a key, an empty one too: its earlier rows are replaced.
SkipsNoted = Mapping[tuple[str, str, int], Mapping[str, int]]


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
# A migration of each backend (the same SQL): skips per part; the rows before it came
# from plans of the whole occurrence (-1: WHOLE, written out in the SQL, as below). A new
# table, as SQLite changes no primary key.
SKIP_PARTS = """
    CREATE TABLE skips_by_part (
        schedule text NOT NULL,
        occurrence text NOT NULL,
        part integer NOT NULL,
        reason text NOT NULL,
        count integer NOT NULL,
        PRIMARY KEY (schedule, occurrence, part, reason)
    );
    INSERT INTO skips_by_part (schedule, occurrence, part, reason, count)
        SELECT schedule, occurrence, -1, reason, count FROM skips;
    DROP TABLE skips;
    ALTER TABLE skips_by_part RENAME TO skips;
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
# Before a part's new counts: the whole's rows every part, a shard's its own and the whole's.
FORGET_SKIPS = (
    "DELETE FROM skips WHERE schedule = ? AND occurrence = ? AND (? = -1 OR part = ? OR part = -1)"
)
SKIP = (
    "INSERT INTO skips (schedule, occurrence, part, reason, count) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (schedule, occurrence, part, reason) DO UPDATE SET count = excluded.count"
)
# Each schedule's `?` newest occurrences with skips, every part and reason of each: seeks
# on the primary key (schedule, occurrence, part, reason), as recent.py's RECENT on the
# sends' index; `skips_of` sums the parts.
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
    """`RECENT_SKIPS` rows as nested counts, each occurrence's parts summed."""
    found: Skips = {}
    for schedule, occurrence, reason, count in rows:
        per = found.setdefault(str(schedule), {}).setdefault(str(occurrence), {})
        per[str(reason)] = per.get(str(reason), 0) + int(str(count))
    return found


def noted_rows(
    skips: SkipsNoted,
) -> Iterator[tuple[tuple[str, str, int, int], list[tuple[str, str, int, str, int]]]]:
    """Per part, in order: `FORGET_SKIPS`'s parameters, then `SKIP`'s (its nonzero counts)."""
    for (schedule, occurrence, part), counts in skips.items():
        rows = [(schedule, occurrence, part, r, n) for r, n in nonzero(counts).items()]
        yield (schedule, occurrence, part, part), rows


# schedule -> occurrence -> part -> skip reason -> recipients skipped (the memory ledger)
SkipParts = dict[str, dict[str, dict[int, dict[str, int]]]]


def note(every: SkipParts, skips: SkipsNoted) -> None:
    """`note_skips` on the memory ledger's rows: the SQL's replacement, in Python."""
    for (schedule, occurrence, part), counts in skips.items():
        parts = every.setdefault(schedule, {}).setdefault(occurrence, {})
        if part == WHOLE:
            parts.clear()
        else:
            parts.pop(WHOLE, None)
            parts.pop(part, None)
        if kept := nonzero(counts):
            parts[part] = kept
        if not parts:
            del every[schedule][occurrence]


def summed(parts: Mapping[int, Mapping[str, int]]) -> dict[str, int]:
    """An occurrence's counts, its parts summed (what `skips_of` reads)."""
    total: dict[str, int] = {}
    for counts in parts.values():
        for reason, n in counts.items():
            total[reason] = total.get(reason, 0) + n
    return dict(sorted(total.items()))


def newest(every: Mapping[str, Mapping[str, Mapping[str, int]]], last: int) -> Skips:
    """`RECENT_SKIPS` computed from every occurrence's counts (the Python reference)."""
    return {
        schedule: {o: dict(occurrences[o]) for o in sorted(occurrences, reverse=True)[:last]}
        for schedule, occurrences in every.items()
        if occurrences
    }


def nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {reason: n for reason, n in sorted(counts.items()) if n > 0}
