"""The embedded ledger: one SQLite file in WAL mode, schema versioned by migrations.

This module holds what a send needs (claims, the guarded moves, the reads);
the file itself (opening, migrating, writers, transactions) is sqlite_file.py,
the schema and row mapping sqlite_schema.py, the rules policy.py.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from operator import itemgetter
from typing import cast

from smsops.core.errors import GuardLost, ResolveRefused
from smsops.core.errors import LedgerError as LedgerError  # where callers have found it
from smsops.core.occurrence import ONCE
from smsops.ledger.base import Ledger
from smsops.ledger.counts import StatsAndDeliveries, stats_and_deliveries
from smsops.ledger.policy import DONE, RESOLVABLE, Operation, Status, allows
from smsops.ledger.pruning import marked
from smsops.ledger.recent import OPEN_UNCERTAIN, RECENT, Counts, Uncertain, grouped
from smsops.ledger.records import Decision, Known, SendRecord
from smsops.ledger.rules import MAY_HAVE_GONE, REOPENING, decided, reopens
from smsops.ledger.sqlite_file import WAIT as WAIT
from smsops.ledger.sqlite_hearing import SqliteHearing
from smsops.ledger.sqlite_held import SqliteHeld
from smsops.ledger.sqlite_otp import SqliteOtp
from smsops.ledger.sqlite_prune import SqlitePruning
from smsops.ledger.sqlite_schema import COLUMNS as _COLUMNS
from smsops.ledger.sqlite_schema import MIGRATIONS as MIGRATIONS
from smsops.ledger.sqlite_schema import MOVED, moved_values, policy_where, row_values
from smsops.ledger.sqlite_schema import marks as _marks
from smsops.ledger.sqlite_schema import to_record as _record
from smsops.ledger.sqlite_tables import SqliteTables

# The claim: inserting the key wins it. An existing row is taken over only where
# the policy table lets a claim take it (`{where}`, generated from the table);
# the RETURNING row says who won and carries the attempts made so far.
# Many rows go in one statement (the per-statement overhead of a statement a
# row was most of a claim's cost); RETURNING names the rows won, by key.
_CLAIM = (
    f"INSERT INTO sends ({_COLUMNS}) VALUES {{rows}} "  # noqa: S608 - constant column list
    "ON CONFLICT (key) DO UPDATE SET "
    "status = excluded.status, provider = excluded.provider, template = excluded.template, "
    "text_hash = excluded.text_hash, segments = excluded.segments, error = NULL, "
    "retryable = 0, updated_at = excluded.updated_at, claimed_by = excluded.claimed_by "
    "WHERE {where} "
    "RETURNING key, attempts, created_at"
)
_CLAIM_ROWS = 500  # rows a statement: 500 x 22 values, under SQLite's 32,766 variables
# A copied row (`ledger migrate`) goes in as it is, every column; a key already there is left alone.
_COPY = f"INSERT INTO sends ({_COLUMNS}) VALUES {{rows}} "  # noqa: S608 - constant column list
_COPY += "ON CONFLICT (key) DO NOTHING RETURNING key"
# One seek of the (schedule, occurrence, status) index, from its end.
NEWEST_OCCURRENCE = (
    "SELECT max(occurrence) FROM sends WHERE schedule = ? AND occurrence < ? AND occurrence < ?"
)
# Grouped in the order of the sends_by_schedule index (schedule, occurrence,
# status): SQLite counts as it walks the index. Grouped by (schedule, status)
# alone it sorted every row in a temporary B-tree first: 0.28 s against 0.07 s
# of CPU per 900,000 rows, in every plan and apply (stats() sums occurrences).
STATS = "SELECT schedule, status, count(*) FROM sends GROUP BY schedule, occurrence, status"
_BY_OCCURRENCE = "SELECT schedule, occurrence, status, count(*) FROM sends "
_BY_OCCURRENCE += "GROUP BY schedule, occurrence, status"
_FETCH_ROWS = 1000  # rows read per lock hold in records()
_ROW_MARKS = f"({_marks(len(_COLUMNS.split(',')))})"
# A move writes a row only where the table lets it (`{where}`, checked by the UPDATE itself).
_MOVE = f"UPDATE sends SET ({MOVED}) = ({_marks(len(MOVED.split(',')))}) "  # noqa: S608
_MOVE += "WHERE key = ? AND ({where})"


# A move that may also insert (an expiry): the row goes in where no row exists,
# else the existing row is moved where the table lets it, as above.
_UPSERT = f"INSERT INTO sends ({_COLUMNS}) VALUES {_ROW_MARKS} "  # noqa: S608
_UPSERT += f"ON CONFLICT (key) DO UPDATE SET ({MOVED}) = "
_UPSERT += f"({', '.join('excluded.' + c.strip() for c in MOVED.split(','))}) WHERE {{where}}"


@functools.lru_cache(maxsize=64)
def _move(where: str) -> str:
    return _MOVE.format(where=where)


@functools.lru_cache(maxsize=64)
def _upsert(where: str) -> str:
    return _UPSERT.format(where=where)


_DONE = sorted(status.value for status in DONE)
_OPEN = sorted(status.value for status in Status if status not in DONE)
_REOPENING = [status.value for status in REOPENING]
_GONE = sorted(status.value for status in MAY_HAVE_GONE)
# Times are written in UTC (sqlite_schema.row_values), so their ISO text orders as time.
_CLAIMED_SINCE = "SELECT count(*) FROM sends WHERE schedule = ? AND created_at > ? "
_CLAIMED_SINCE += f"AND status IN ({', '.join('?' * len(_GONE))})"
_RESOLVABLE = sorted(status.value for status in RESOLVABLE)


def _in_statuses(
    columns: str, statuses: list[str], schedule: str, occurrence: str
) -> tuple[str, tuple[str, ...]]:
    """One occurrence's rows in these statuses (seeks on the index on all three)."""
    where = f"schedule = ? AND occurrence = ? AND status IN ({_marks(len(statuses))})"
    return f"SELECT {columns} FROM sends WHERE {where}", (schedule, occurrence, *statuses)  # noqa: S608


def _statements(records: Sequence[SendRecord]) -> Iterator[tuple[str, list[object]]]:
    """Whole rows in statements of `_CLAIM_ROWS`: the VALUES list of each and its values."""
    for start in range(0, len(records), _CLAIM_ROWS):
        chunk = records[start : start + _CLAIM_ROWS]
        yield ", ".join([_ROW_MARKS] * len(chunk)), [v for r in chunk for v in row_values(r)]


def _key(record: SendRecord) -> str:
    return record.key


def _as_claimed(record: SendRecord, attempts: int, created_at: str) -> SendRecord:
    """`record` with the attempts and first-claim time of the row it won.

    A new row holds the record's own (the common case): the record itself is
    that row, so no copy of its 22 fields is made (~5 us a send).
    """
    first = datetime.fromisoformat(created_at)
    if (
        attempts == record.attempts
        and first == record.created_at
        and first.tzinfo is record.created_at.tzinfo
        and first.fold == record.created_at.fold
    ):
        return record
    return replace(record, attempts=attempts, created_at=first)


class SqliteLedger(SqliteHearing, SqliteHeld, SqliteOtp, SqlitePruning, SqliteTables, Ledger):
    """The ledger in one SQLite file (see SqliteFile): claims, guarded moves, reads."""

    claims_wait_on_sync = True  # SYNCHRONOUS = "FULL" (sqlite_file.py)

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        ordered = sorted(records, key=lambda r: r.key)  # sorted keys insert ~5x faster
        won: dict[str, tuple[int, str]] = {}
        where, params = policy_where(
            Operation.CLAIM, Status.PENDING, resend_uncertain=resend_uncertain
        )
        with self._writing("cannot claim sends in"):
            for rows, values in _statements(ordered):
                query = _CLAIM.format(rows=rows, where=where)
                for key, attempts, created_at in self._db.execute(query, (*values, *params)):
                    won[key] = (attempts, created_at)
        claimed = []
        for record in ordered:  # a key given twice is won once, by its first record
            if (found := won.pop(record.key, None)) is not None:
                claimed.append(_as_claimed(record, *found))
        return claimed

    def settle(self, records: Iterable[SendRecord]) -> None:
        """As every backend's, committed without a sync of its own (`SETTLEMENT_SYNCHRONOUS`):
        lost to a power loss, a settled row is its synced claim again, never a resend.

        Its moves and its look for parked receipts are one transaction (they were
        three: a settle of one loop turn's sends is one commit). The rows refused
        do not undo the others: `GuardLost` is raised once that transaction is
        committed, as every backend does.
        """
        lost: GuardLost | None = None
        with self._settling(), self._writing("cannot write (settle) sends in"):
            try:
                super().settle(records)
            except GuardLost as exc:
                lost = exc
        if lost is not None:
            raise lost

    def insert_copies(self, records: Sequence[SendRecord]) -> set[str]:
        """Insert rows as they are, every column (`ledger migrate`); the keys inserted.

        One write transaction; a key already in the ledger is left untouched
        (the caller compares it).
        """
        inserted: set[str] = set()
        with self._writing("cannot copy rows into"):
            for rows, values in _statements(records):
                inserted.update(key for (key,) in self._db.execute(_COPY.format(rows=rows), values))
        return inserted

    def move(self, operation: Operation, records: Iterable[SendRecord]) -> list[str]:
        with self._writing(f"cannot write ({operation.value}) sends in"):
            return self._move(operation, records)

    def _move(self, operation: Operation, records: Iterable[SendRecord]) -> list[str]:
        """The guarded UPDATEs, inside the caller's write transaction; the keys refused."""
        refused = []
        # One statement per target status and holder (a settle's rows share one or two):
        # the table's condition is looked up once for them, not once a row.
        guards: dict[tuple[Status, str | None], tuple[str, tuple[object, ...], bool]] = {}
        execute = self._db.execute
        for record in sorted(records, key=_key):
            guard = guards.get((record.status, record.claimed_by))
            if guard is None:
                where, params = policy_where(operation, record.status, holder=record.claimed_by)
                inserts = allows(operation, None, record.status, None)  # the move may insert
                guard = (_upsert(where) if inserts else _move(where), params, inserts)
                guards[(record.status, record.claimed_by)] = guard
            query, params, inserts = guard
            if inserts:
                values = (*row_values(record), *params)
            else:
                values = (*moved_values(record), record.key, *params)
            if execute(query, values).rowcount != 1:
                refused.append(record.key)
        return refused

    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]:
        found: dict[str, SendRecord] = {}
        wanted = list(keys)
        with self._reading():
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = f"SELECT {_COLUMNS} FROM sends WHERE key IN ({_marks(len(chunk))})"  # noqa: S608
                for row in self._db.execute(query, chunk):
                    found[row[0]] = _record(row)
        return found

    def known(self, schedule: str, occurrence: str) -> Known:
        # Both seek the index on (schedule, occurrence, status), which holds the
        # key too (WITHOUT ROWID): ~0.5 s per million done rows. The open rows
        # are asked for by their statuses (NOT IN would scan the done ones too).
        with self._reading():
            keys = self._db.cursor()
            keys.row_factory = None  # plain tuples: a million sqlite3.Row objects cost ~0.2 s
            keys.execute(*_in_statuses("key", _DONE, schedule, occurrence))
            rest = self._db.execute(*_in_statuses(_COLUMNS, _OPEN, schedule, occurrence))
            # itemgetter: each key taken from its row in C, not a generator resumed a row
            found = Known.of(map(itemgetter(0), keys), {row[0]: _record(row) for row in rest})
            if found.done or found.open:
                return found
            return marked(found, schedule, occurrence, self._through(schedule))

    def reopening(self, schedule: str, occurrence: str) -> list[str]:
        columns = "recipient, status, retryable"
        with self._reading():
            rows = self._db.execute(*_in_statuses(columns, _REOPENING, schedule, occurrence))
            found = rows.fetchall()
        return [recipient for recipient, status, retry in found if reopens(status, bool(retry))]

    def records(
        self, schedule: str | None = None, status: Status | None = None
    ) -> Iterator[SendRecord]:
        query = f"SELECT {_COLUMNS} FROM sends WHERE (? IS NULL OR schedule = ?) "  # noqa: S608
        query += "AND (? IS NULL OR status = ?) ORDER BY key"
        state = status.value if status else None
        with self._reading():
            rows = self._db.execute(query, (schedule, schedule, state, state))
        while True:  # the lock is held per chunk, never while the caller holds a row
            with self._reading():
                chunk = rows.fetchmany(_FETCH_ROWS)
            if not chunk:
                return
            yield from (_record(row) for row in chunk)

    def claimed_since(self, schedule: str, since: datetime) -> int:
        # Counted in SQL: a read of every row of a million-row schedule took seconds.
        with self._reading():
            values = (schedule, since.astimezone(UTC).isoformat(), *_GONE)
            (count,) = self._db.execute(_CLAIMED_SINCE, values).fetchone()
        return int(count)

    def newest_occurrence(self, schedule: str, below: str) -> str | None:
        with self._reading():
            found = self._db.execute(NEWEST_OCCURRENCE, (schedule, ONCE, below))
            (newest,) = found.fetchone()
        return cast("str | None", newest)

    def recent_counts(self, last: int) -> Counts:
        with self._reading():
            return grouped(self._db.execute(RECENT, (last,)).fetchall())

    def open_uncertain(self, limit: int) -> Uncertain:
        with self._reading():
            rows = self._db.execute(OPEN_UNCERTAIN, (Status.UNCERTAIN.value, limit)).fetchall()
        return [(str(s), str(o), int(n)) for s, o, n in rows]

    def stats(self) -> dict[str, dict[str, int]]:
        """Rows per schedule and status (see `STATS`)."""
        # Counted in SQL, not by reading every row (~20 s per million); the
        # occurrences' counts are summed here.
        counts: dict[str, dict[str, int]] = {}
        with self._reading():
            for schedule, status, count in self._db.execute(STATS):
                per = counts.setdefault(schedule, {})
                per[status] = per.get(status, 0) + count
        return counts

    def stats_and_deliveries(self, schedules: Collection[str]) -> StatsAndDeliveries:
        # STATS with the occurrence kept: the same walk of the index in its order.
        with self._reading():
            rows = self._db.execute(_BY_OCCURRENCE).fetchall()
        return stats_and_deliveries(rows, schedules)

    def resolve(
        self,
        decision: Decision,
        *,
        keys: Iterable[str] = (),
        schedule: str | None = None,
        occurrence: str | None = None,
    ) -> list[SendRecord]:
        # Read, check and write in one write transaction: no row changes status in between.
        wanted = list(keys)
        with self._writing("cannot resolve sends in"):
            if wanted:
                rows = list(self.get(wanted).values())
            else:
                query = (
                    f"SELECT {_COLUMNS} FROM sends WHERE status IN ({_marks(len(_RESOLVABLE))}) "  # noqa: S608
                )
                query += "AND (? IS NULL OR schedule = ?) AND (? IS NULL OR occurrence = ?)"
                found = self._db.execute(
                    query, (*_RESOLVABLE, schedule, schedule, occurrence, occurrence)
                )
                rows = [_record(row) for row in found]
            changed = decided(rows, wanted, decision)
            if refused := self._move(Operation.RESOLVE, changed):  # read in this transaction
                raise ResolveRefused(f"rows changed while deciding them: {', '.join(refused)}")
        return changed
