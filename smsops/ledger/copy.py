"""`smsops ledger migrate`: copy every row of one ledger into another, then verify the copy.

Between any two stored ledgers (SQLite to PostgreSQL and back). A row goes in
as it is, every column (status, error, attempts, claimed_by, timestamps,
message id, a person's decision, retryable), through the target's
`insert_copies`: an insert that leaves an existing key untouched. So a re-run
copies nothing twice: a key already in the target with the same fields is
counted "already there", one with other fields is a conflict, reported by its
key and never overwritten (which of the two is right is a person's call).

The source streams in key order, `BATCH` rows at a time: a million rows never
sit in memory. Each batch is verified once its transaction has committed: its
keys are read back from the target and each row's fingerprint (a sha256 of
every field) compared with the source's: every key must be there, identical
unless it was a conflict. The counts add up over all batches, and a checksum
over every fingerprint of each side, in key order, is reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from itertools import islice
from operator import attrgetter
from typing import Protocol, runtime_checkable

from smsops.ledger.base import Ledger, SendRecord

BATCH = 5000  # rows read, compared and inserted per step (one target transaction each)
SHOWN = 50  # conflicting or unverified keys kept for the report; the rest are counted
_FIELDS = tuple(f.name for f in fields(SendRecord))
_VALUES = attrgetter(*_FIELDS)  # every field at once (C speed)
_STATUS = _FIELDS.index("status")
_TIMES = tuple(i for i, f in enumerate(fields(SendRecord)) if "datetime" in str(f.type))


@runtime_checkable
class CopyTarget(Protocol):
    """A ledger that can take rows as they are (SQLite and PostgreSQL)."""

    def insert_copies(self, records: Sequence[SendRecord]) -> set[str]: ...

    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]: ...


@dataclass(frozen=True)
class Conflict:
    """A key whose row differs between the ledgers: which fields (never their values)."""

    key: str
    status: str  # the source row's
    fields: tuple[str, ...]


@dataclass
class Outcome:
    """What a copy did, per status of the source row, and what the verification found."""

    copied: dict[str, int] = field(default_factory=dict)
    already: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)
    conflict_keys: list[Conflict] = field(default_factory=list)  # the first SHOWN
    verified: int = 0  # source rows found identical in the target after the copy
    missing: list[str] = field(default_factory=list)  # source keys not in the target (SHOWN)
    missing_count: int = 0
    differing: int = 0  # source rows whose target row differs: the conflicts, if all is well
    # sha256 over the fingerprints of the source's rows, and of the target's rows
    # of the same keys, in key order: equal when every row is.
    checksums: tuple[str, str] = ("", "")

    @property
    def rows(self) -> int:
        return sum(self.copied.values()) + sum(self.already.values()) + self.total_conflicts

    @property
    def total_conflicts(self) -> int:
        return sum(self.conflicts.values())

    @property
    def verified_ok(self) -> bool:
        """Every source row is in the target, identical unless it was reported a conflict."""
        return (
            self.missing_count == 0
            and self.differing == self.total_conflicts
            and self.verified + self.differing == self.rows
        )


def fingerprint(record: SendRecord) -> bytes:
    """A sha256 of every field, so a row compares equal across engines.

    Timestamps count as instants in UTC (PostgreSQL keeps the instant, not
    the offset it was written with); a time without a zone is read as UTC, as
    the PostgreSQL session reads it. Fast: verification takes one per row.
    """
    return hashlib.sha256(repr(_canonical(record)).encode()).digest()


def _canonical(record: SendRecord) -> list[object]:
    values = list(_VALUES(record))
    values[_STATUS] = record.status.value
    for index in _TIMES:
        if isinstance(when := values[index], datetime):
            if when.tzinfo is not UTC:  # SQLite's and psycopg's are UTC itself: no conversion
                when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
            values[index] = when.isoformat()
    return values


def differing(a: SendRecord, b: SendRecord) -> tuple[str, ...]:
    """The names of the fields whose values differ (as `fingerprint` compares them)."""
    pairs = zip(_FIELDS, _canonical(a), _canonical(b), strict=True)
    return tuple(name for name, mine, theirs in pairs if mine != theirs)


def _differing(record: SendRecord, stored: SendRecord | None) -> tuple[str, ...]:
    """What differs from the target's row; all of it when that row is gone (deleted meanwhile)."""
    return _FIELDS if stored is None else differing(record, stored)


def copy_ledger(source: Ledger, target: CopyTarget, *, batch: int = BATCH) -> Outcome:
    """Copy every row of `source` missing from `target`, count the rest, verify each batch."""
    return copy_rows(source.records(), target, batch=batch)


def copy_rows(records: Iterable[SendRecord], target: CopyTarget, *, batch: int = BATCH) -> Outcome:
    """`copy_ledger` of these rows (in key order): what `ledger prune --archive` writes."""
    outcome = Outcome()
    ours, theirs = hashlib.sha256(), hashlib.sha256()
    rows = iter(records)
    while chunk := list(islice(rows, batch)):
        _copy_batch(chunk, target, outcome)
        _verify(chunk, target, outcome, (ours, theirs))
    outcome.checksums = (ours.hexdigest(), theirs.hexdigest())
    return outcome


def _copy_batch(chunk: list[SendRecord], target: CopyTarget, outcome: Outcome) -> None:
    """Insert the batch (existing keys left alone), then compare the keys that were there."""
    inserted = target.insert_copies(chunk)
    there = target.get(r.key for r in chunk if r.key not in inserted)
    for record in chunk:
        status = record.status.value
        if record.key in inserted:
            _count(outcome.copied, status)
        elif not (diff := _differing(record, there.get(record.key))):
            _count(outcome.already, status)
        else:
            _count(outcome.conflicts, status)
            if len(outcome.conflict_keys) < SHOWN:
                outcome.conflict_keys.append(Conflict(record.key, status, diff))


def _verify(
    chunk: list[SendRecord],
    target: CopyTarget,
    outcome: Outcome,
    checksums: tuple[hashlib._Hash, hashlib._Hash],
) -> None:
    """Read the batch's keys back from the target (committed) and compare row by row."""
    stored = target.get(r.key for r in chunk)
    for record in chunk:
        mine = fingerprint(record)
        checksums[0].update(mine)
        found = stored.get(record.key)
        if found is None:
            outcome.missing_count += 1
            if len(outcome.missing) < SHOWN:
                outcome.missing.append(record.key)
            continue
        theirs = fingerprint(found)
        checksums[1].update(theirs)
        if theirs == mine:
            outcome.verified += 1
        else:
            outcome.differing += 1


def _count(counts: dict[str, int], status: str) -> None:
    counts[status] = counts.get(status, 0) + 1
