"""`Pruning` on the PostgreSQL ledger: a month emptied whole is truncated, else rows deleted.

The occurrences to prune are grouped by month (`smsops_month`, the
partition key). Where every row of a month's partition is among them and
still prunable, counted under an exclusive lock on that partition, the
partition is emptied by TRUNCATE: no dead rows for VACUUM, no index
updates, a moment however many rows. Otherwise (part of a month, the
undated and default partitions) the rows are deleted, the whole-occurrence
check repeated by the DELETE itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from smsops.ledger.base import SendRecord
from smsops.ledger.postgres_schema import NAMES, to_record
from smsops.ledger.pruning import (
    FORGET_SKIPS_OF,
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

Connection = psycopg.Connection[tuple[Any, ...]]
_UNDECIDED = sorted(status.value for status in UNDECIDED)
_WRITTEN = "max(greatest(created_at, updated_at))"
_SETTLED = f"SELECT schedule, occurrence, count(*), {_WRITTEN} FROM sends "  # noqa: S608
_SETTLED += "GROUP BY schedule, occurrence "
_SETTLED += f"HAVING count(*) FILTER (WHERE status = ANY(%s)) = 0 AND {_WRITTEN} < %s"
_PAIRS = "unnest(%s::text[], %s::text[]) AS p(schedule, occurrence)"
_ROWS = f"SELECT {', '.join('s.' + n for n in NAMES)} FROM sends s, {_PAIRS} "  # noqa: S608
_ROWS += "WHERE s.schedule = p.schedule AND s.occurrence = p.occurrence "
_ROWS += "AND s.month = smsops_month(p.schedule, p.occurrence) ORDER BY s.key"
# Each occurrence's partition by name (NULL: undated), spelled by the server whatever its DateStyle.
_MONTHS = "SELECT p.schedule, p.occurrence, CASE WHEN isfinite(m) THEN to_char(m, "
_MONTHS += f"'\"sends_\"YYYY_MM') END FROM {_PAIRS}, smsops_month(p.schedule, p.occurrence) m"
# Rows of the given occurrences whose whole occurrence is settled before the cutoff.
_GOING = (
    "s.schedule = p.schedule AND s.occurrence = p.occurrence "
    "AND s.month = smsops_month(p.schedule, p.occurrence) AND NOT EXISTS ("
    "SELECT 1 FROM sends o WHERE o.schedule = p.schedule AND o.occurrence = p.occurrence "
    "AND o.month = s.month AND (o.status = ANY(%s) OR greatest(o.created_at, o.updated_at) >= %s))"
)
_COUNT = f"SELECT count(*) FROM sends s, {_PAIRS} WHERE {_GOING}"  # noqa: S608
_DELETE = f"DELETE FROM sends s USING {_PAIRS} WHERE {_GOING} "  # noqa: S608
_DELETE += "RETURNING s.key, s.schedule, s.occurrence"
# Skips with no sends row (pruning.LONE_SKIPS), each sends lookup in its month's partition.
_NO_SENDS = "NOT EXISTS (SELECT 1 FROM sends s WHERE s.schedule = {0}.schedule AND "
_NO_SENDS += (
    "s.occurrence = {0}.occurrence AND s.month = smsops_month({0}.schedule, {0}.occurrence))"
)
_LONE = f"SELECT DISTINCT k.schedule, k.occurrence FROM skips k WHERE {_NO_SENDS.format('k')}"  # noqa: S608
_FORGET_LONE = f"DELETE FROM skips k USING {_PAIRS} WHERE k.schedule = p.schedule "  # noqa: S608
_FORGET_LONE += f"AND k.occurrence = p.occurrence AND {_NO_SENDS.format('p')} "
_FORGET_LONE += "RETURNING k.schedule, k.occurrence"
_FORGET, _RAISE, _THROUGH = (q.replace("?", "%s") for q in (FORGET_SKIPS_OF, RAISE, THROUGH))
_PARTITION = "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
_PARTITION += "WHERE i.inhparent = 'sends'::regclass AND c.relname = %s"
_STEP = 5000  # occurrences per delete transaction
_FETCH = 2000


class PostgresPruning(Pruning):
    def _transaction(
        self, doing: str, *, atomic: bool = True
    ) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # PostgresLedger's

    def settled_occurrences(self, before: datetime) -> Iterator[Settled]:
        with self._transaction("cannot read") as conn, conn.cursor(name="smsops_prune") as found:
            found.itersize = _FETCH
            found.execute(_SETTLED, (_UNDECIDED, before))
            for schedule, occurrence, count, written in found:
                yield Settled(schedule, occurrence, int(count), written)
        with self._transaction("cannot read", atomic=False) as conn:
            yield from lone(conn.execute(_LONE).fetchall())

    def occurrence_rows(self, occurrences: Sequence[Pair]) -> list[SendRecord]:
        rows: list[SendRecord] = []
        with self._transaction("cannot read", atomic=False) as conn:
            for start in range(0, len(occurrences), _STEP):
                chunk = occurrences[start : start + _STEP]
                found = conn.execute(_ROWS, _arrays(chunk))
                rows.extend(to_record(row) for row in found)
        return sorted(rows, key=lambda r: r.key)

    def prune(
        self, occurrences: Sequence[Pair], before: datetime, archived: Collection[str] | None
    ) -> Pruned:
        months: dict[str | None, list[Pair]] = {}
        with self._transaction("cannot read", atomic=False) as conn:
            for start in range(0, len(occurrences), _STEP):
                chunk = occurrences[start : start + _STEP]
                for schedule, occurrence, month in conn.execute(_MONTHS, _arrays(chunk)):
                    months.setdefault(month, []).append((schedule, occurrence))
        removed = emptied = 0
        for month, pairs in sorted(months.items(), key=lambda item: item[0] or ""):
            whole = self._truncated(month, pairs, before, archived)
            if whole is not None:
                removed, emptied = removed + whole, emptied + 1
                continue
            for start in range(0, len(pairs), _STEP):
                chunk = pairs[start : start + _STEP]
                with self._transaction("cannot prune") as conn:
                    found = conn.execute(_DELETE, (*_arrays(chunk), _UNDECIDED, before))
                    deleted = found.fetchall()
                    keys = [key for key, _, _ in deleted]
                    check_archived(keys, archived)  # raises: this step rolls back
                    gone = {(schedule, occurrence) for _, schedule, occurrence in deleted}
                    rest = [pair for pair in chunk if pair not in gone]
                    gone.update(conn.execute(_FORGET_LONE, _arrays(rest)).fetchall())
                    _forget(conn, gone)
                removed += len(keys)
        return Pruned(removed, emptied)

    def _truncated(
        self,
        name: str | None,
        pairs: list[Pair],
        before: datetime,
        archived: Collection[str] | None,
    ) -> int | None:
        """The rows of partition `name` if all were prunable and it was truncated, else None."""
        if name is None:  # undated: sends_undated is never emptied whole
            return None
        with self._transaction("cannot prune") as conn:
            if conn.execute(_PARTITION, (name,)).fetchone() is None:
                return None  # its rows are in the default partition: deleted one by one
            table = sql.Identifier(name)
            conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
            (count,) = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(table)
            ).fetchone() or (0,)
            found = conn.execute(_COUNT, (*_arrays(pairs), _UNDECIDED, before))
            (prunable,) = found.fetchone() or (0,)
            if count == 0 or count != prunable:
                return None
            if archived is not None:
                keys = conn.execute(sql.SQL("SELECT key FROM {}").format(table))
                check_archived((key for (key,) in keys), archived)
            conn.execute(sql.SQL("TRUNCATE {}").format(table))
            _forget(conn, pairs)  # every one of them: the partition held them all
            return int(count)

    def pruned_through(self, schedule: str) -> datetime | None:
        with self._transaction("cannot read", atomic=False) as conn:
            return through(conn, schedule)


def through(conn: Connection, schedule: str) -> datetime | None:
    row = conn.execute(_THROUGH, (schedule,)).fetchone()
    return None if row is None else row[0]


def _forget(conn: Connection, gone: Collection[Pair]) -> None:
    """In the delete's transaction: the removed occurrences' skips, the watermark raised."""
    with conn.cursor() as cursor:
        cursor.executemany(_FORGET, sorted(gone))
        cursor.executemany(_RAISE, sorted(watermarks(gone).items()))


def _arrays(pairs: Sequence[Pair]) -> tuple[list[str], list[str]]:
    return [s for s, _ in pairs], [o for _, o in pairs]
