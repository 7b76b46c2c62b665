"""What a ledger offers `smsops ledger prune`: its settled occurrences, their rows, their removal.

Which occurrences may go is not decided here (engine/retention.py holds
the rules: windows, saved plans, the newest of a schedule); the storage only
guarantees what it can check under its own lock, at the moment of the delete:

- an occurrence goes whole or not at all: rows are removed only where every
  row of the occurrence is settled (no `pending`, no `uncertain`: a run may
  still be sending it, a person has yet to decide it) and was last written
  before the cutoff, checked again by the delete itself. A row claimed or
  moved meanwhile is written at its writer's now, after the cutoff: its
  occurrence stays, whole;
- with `archived` (the keys an archive holds, committed and verified), a
  step of the delete that would remove a key not in it is rolled back and
  the prune stops: nothing goes that the archive does not hold. (A step is
  a batch of occurrences; on PostgreSQL, of one month: steps before it stay
  done, and all they removed was archived.)

- the prune watermark (`pruned`: per schedule, the newest occurrence time
  pruned) is raised in the transaction that deletes the occurrence's rows,
  with its `skips` rows: a reader sees the rows, or the watermark, never
  neither. An occurrence with no row left at or before its schedule's
  watermark is gone for good (`Known.pruned`): the planner never makes it
  due again, whatever window a later config gives it or `apply --at` asks.
- an occurrence with skips and no sends row (every recipient skipped: all
  opted out, say) is settled too, with no rows (`Settled.rows` 0, written
  `LONE_WRITTEN`): the same rules choose it, and its delete removes its
  skips and raises the watermark only while it still has no sends row
  (`FORGET_LONE_SKIPS`, checked by the delete itself).

Why per schedule, not one ledger-wide `pruned_before` time: a schedule added
after a prune (or one whose windows were kept longer) must still send its
occurrences older than another schedule's pruned ones; a per-schedule mark
stops only occurrences of the schedule that lost rows, and at or before the
newest it lost: those whose window had closed by the prune's rules anyway.

Suppressions, opt-out history, parked receipts and one-time codes are other
tables with their own rules (suppressions are kept for good; parked receipts
and codes bound themselves): prune removes send rows only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from smsops.core.errors import LedgerError
from smsops.core.reserved import API_MESSAGES, OTP_PREFIX
from smsops.core.words import plural
from smsops.ledger.base import Known, SendRecord, Status

# Statuses that keep their occurrence whatever its age: in flight, or awaiting a person.
UNDECIDED = frozenset({Status.PENDING, Status.UNCERTAIN})
Pair = tuple[str, str]  # (schedule, occurrence)

# The prune watermark (a migration of each backend: `{time}` in its type).
WATERMARK_TABLE = """
    CREATE TABLE IF NOT EXISTS pruned (
        schedule text PRIMARY KEY,
        through {time} NOT NULL
    );
"""
THROUGH = "SELECT through FROM pruned WHERE schedule = ?"
# A watermark only rises (the same SQL for SQLite's ISO text in UTC and timestamptz).
RAISE = (
    "INSERT INTO pruned (schedule, through) VALUES (?, ?) ON CONFLICT (schedule) DO UPDATE "
    "SET through = CASE WHEN excluded.through > pruned.through THEN excluded.through "
    "ELSE pruned.through END"
)
FORGET_SKIPS_OF = "DELETE FROM skips WHERE schedule = ? AND occurrence = ?"
# Occurrences with skips and no sends row, and their removal while they still have none.
LONE_SKIPS = (
    "SELECT DISTINCT k.schedule, k.occurrence FROM skips k WHERE NOT EXISTS ("
    "SELECT 1 FROM sends s WHERE s.schedule = k.schedule AND s.occurrence = k.occurrence)"
)
FORGET_LONE_SKIPS = (
    "DELETE FROM skips WHERE schedule = ? AND occurrence = ? AND NOT EXISTS ("
    "SELECT 1 FROM sends s WHERE s.schedule = ? AND s.occurrence = ?) RETURNING schedule"
)
# What a lone occurrence's Settled says it was written: never (rule 2 has no row to ask).
LONE_WRITTEN = datetime(1970, 1, 1, tzinfo=UTC)


def undated(schedule: str) -> bool:
    """A send no schedule makes whose occurrence names no time (API, one-time codes)."""
    return schedule == API_MESSAGES or schedule.startswith(OTP_PREFIX)


def label_time(occurrence: str) -> datetime | None:
    """An occurrence label's time for the watermark (a wall-clock label read as UTC);
    None: it names none (`once`, any other text).

    One monotone reading of every label is all the watermark needs: a pruned
    label is at or before the watermark its own prune set.
    """
    try:
        when = datetime.fromisoformat(occurrence)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def watermarks(pairs: Iterable[Pair]) -> dict[str, datetime]:
    """Per schedule, the newest time of these (removed) occurrences that names one."""
    found: dict[str, datetime] = {}
    for schedule, occurrence in pairs:
        when = None if undated(schedule) else label_time(occurrence)
        if when is not None and (schedule not in found or when > found[schedule]):
            found[schedule] = when
    return found


def marked(known: Known, schedule: str, occurrence: str, through: datetime | None) -> Known:
    """`known`, `pruned` if the ledger holds no row of it and it is at or before `through`.

    Rows of it (kept, or migrated back from an archive) are planned as rows.
    """
    if known.done or known.open or through is None or undated(schedule):
        return known
    when = label_time(occurrence)
    if when is None or when > through:
        return known
    return Known(known.done, known.open, pruned=True)


@dataclass(frozen=True, slots=True)
class Settled:
    """An occurrence whose rows are all settled and were last written before a cutoff."""

    schedule: str
    occurrence: str
    rows: int
    written: datetime  # the newest created_at or updated_at of its rows


@dataclass(frozen=True, slots=True)
class Pruned:
    rows: int  # rows removed
    months: int = 0  # PostgreSQL: month partitions emptied whole (TRUNCATE) among them


class Pruning(ABC):
    """The storage side of prune (memory, SQLite, PostgreSQL)."""

    @abstractmethod
    def settled_occurrences(self, before: datetime) -> Iterator[Settled]:
        """Each occurrence with no pending or uncertain row, every row written before `before`."""

    @abstractmethod
    def occurrence_rows(self, occurrences: Sequence[Pair]) -> list[SendRecord]:
        """Every row of these occurrences, in key order (what an archive takes)."""

    @abstractmethod
    def prune(
        self, occurrences: Sequence[Pair], before: datetime, archived: Collection[str] | None
    ) -> Pruned:
        """Remove the rows of these occurrences that are still whole-settled before `before`,
        their `skips`, and raise the watermark (`watermarks`), in one transaction a step."""

    @abstractmethod
    def pruned_through(self, schedule: str) -> datetime | None:
        """The schedule's prune watermark: the newest occurrence time pruned (None: none)."""


def settled_of(rows: Iterable[SendRecord], before: datetime) -> Iterator[Settled]:
    """`settled_occurrences` over rows in memory (the memory ledger's, and the tests' model)."""
    found: dict[Pair, tuple[int, datetime, bool]] = {}
    for row in rows:
        pair = (row.schedule, row.occurrence)
        count, written, undecided = found.get(pair, (0, row.created_at, False))
        written = max(written, row.created_at, row.updated_at)
        found[pair] = (count + 1, written, undecided or row.status in UNDECIDED)
    for (schedule, occurrence), (count, written, undecided) in sorted(found.items()):
        if not undecided and written < before:
            yield Settled(schedule, occurrence, count, written)


def lone(pairs: Iterable[Pair]) -> Iterator[Settled]:
    """Occurrences with skips and no sends row, as settled ones with no rows."""
    for schedule, occurrence in pairs:
        yield Settled(str(schedule), str(occurrence), 0, LONE_WRITTEN)


def check_archived(removed: Iterable[str], archived: Collection[str] | None) -> None:
    """Refuse (before the delete commits) to remove a row the archive does not hold."""
    if archived is None:
        return
    if missing := [key for key in removed if key not in archived]:
        raise LedgerError(
            f"prune stopped: {plural(len(missing), 'row')} to remove "
            f"{'is' if len(missing) == 1 else 'are'} not in the archive (written "
            f"while pruning, e.g. {missing[0]}); nothing of this step was removed. Run again"
        )
