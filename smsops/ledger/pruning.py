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

Suppressions, opt-out history, parked receipts and one-time codes are other
tables with their own rules (suppressions are kept for good; parked receipts
and codes bound themselves): prune removes send rows only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from smsops.core.errors import LedgerError
from smsops.ledger.base import SendRecord, Status

# Statuses that keep their occurrence whatever its age: in flight, or awaiting a person.
UNDECIDED = frozenset({Status.PENDING, Status.UNCERTAIN})
Pair = tuple[str, str]  # (schedule, occurrence)


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
        """Remove the rows of these occurrences that are still whole-settled before `before`."""


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


def check_archived(removed: Iterable[str], archived: Collection[str] | None) -> None:
    """Refuse (before the delete commits) to remove a row the archive does not hold."""
    if archived is None:
        return
    if missing := [key for key in removed if key not in archived]:
        raise LedgerError(
            f"prune stopped: {len(missing)} rows to remove are not in the archive (written "
            f"while pruning, e.g. {missing[0]}); nothing of this step was removed. Run again"
        )
