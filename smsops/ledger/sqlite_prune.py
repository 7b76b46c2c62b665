"""`Pruning` on the SQLite ledger: settled occurrences grouped in SQL, deletes re-checked in SQL.

Times are stored as ISO text in UTC (sqlite_schema.row_values), so they
compare as text in time order, as `claimed_since` compares them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime

from smsops.ledger.base import SendRecord
from smsops.ledger.pruning import (
    FORGET_LONE_SKIPS,
    FORGET_SKIPS_OF,
    LONE_SKIPS,
    RAISE,
    THROUGH,
    UNDECIDED,
    Pair,
    Pruned,
    Pruning,
    Settled,
    check_archived,
    lone,
    watermarks,
)
from smsops.ledger.sqlite_file import SqliteFile
from smsops.ledger.sqlite_schema import COLUMNS, checked_time, to_record, utc

_UNDECIDED = sorted(status.value for status in UNDECIDED)
_IN = ", ".join("?" * len(_UNDECIDED))
_WRITTEN = "max(max(created_at, updated_at))"
_SETTLED = f"SELECT schedule, occurrence, count(*), {_WRITTEN} FROM sends "  # noqa: S608
_SETTLED += f"GROUP BY schedule, occurrence HAVING sum(status IN ({_IN})) = 0 AND {_WRITTEN} < ?"
_ROWS = f"SELECT {COLUMNS} FROM sends WHERE schedule = ? AND occurrence = ?"  # noqa: S608
# The delete checks again, under the write lock, that the whole occurrence may go.
_DELETE = "DELETE FROM sends WHERE schedule = ? AND occurrence = ? AND NOT EXISTS ("
_DELETE += "SELECT 1 FROM sends o WHERE o.schedule = ? AND o.occurrence = ? AND "
_DELETE += f"(o.status IN ({_IN}) OR max(o.created_at, o.updated_at) >= ?)) RETURNING key"
_STEP = 5000  # occurrences per write transaction: other writers get the file in between
_FETCH = 1000


class SqlitePruning(SqliteFile, Pruning):
    def settled_occurrences(self, before: datetime) -> Iterator[Settled]:
        with self._reading():
            found = self._db.execute(_SETTLED, (*_UNDECIDED, utc(before)))
        while True:  # the lock is held per chunk, as records() does
            with self._reading():
                chunk = found.fetchmany(_FETCH)
            if not chunk:
                break
            for schedule, occurrence, count, written in chunk:
                when = checked_time(f"{schedule} {occurrence}", "updated_at", written)
                yield Settled(schedule, occurrence, int(count), when)
        with self._reading():  # bounded by occurrences x parts x reasons, never by recipients
            yield from lone(self._db.execute(LONE_SKIPS).fetchall())

    def occurrence_rows(self, occurrences: Sequence[Pair]) -> list[SendRecord]:
        rows: list[SendRecord] = []
        with self._reading():
            for pair in occurrences:
                rows.extend(to_record(row) for row in self._db.execute(_ROWS, pair))
        return sorted(rows, key=lambda r: r.key)

    def prune(
        self, occurrences: Sequence[Pair], before: datetime, archived: Collection[str] | None
    ) -> Pruned:
        removed = 0
        for start in range(0, len(occurrences), _STEP):
            with self._writing("cannot prune"):
                keys: list[str] = []
                gone: list[Pair] = []
                lone_gone: list[Pair] = []  # skips with no sends row, removed
                for schedule, occurrence in occurrences[start : start + _STEP]:
                    values = (schedule, occurrence, schedule, occurrence, *_UNDECIDED, utc(before))
                    found = [key for (key,) in self._db.execute(_DELETE, values)]
                    if found:
                        keys.extend(found)
                        gone.append((schedule, occurrence))
                    elif self._db.execute(FORGET_LONE_SKIPS, (schedule, occurrence) * 2).fetchall():
                        lone_gone.append((schedule, occurrence))
                check_archived(keys, archived)  # raises: this step rolls back
                self._db.executemany(FORGET_SKIPS_OF, gone)
                marks = watermarks(gone + lone_gone).items()
                self._db.executemany(RAISE, [(name, utc(when)) for name, when in marks])
                removed += len(keys)
        return Pruned(removed)

    def pruned_through(self, schedule: str) -> datetime | None:
        with self._reading():
            return self._through(schedule)

    def _through(self, schedule: str) -> datetime | None:
        """The watermark, read under the caller's lock."""
        row = self._db.execute(THROUGH, (schedule,)).fetchone()
        return None if row is None else checked_time(schedule, "pruned.through", row[0])
