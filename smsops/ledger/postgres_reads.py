"""The PostgreSQL ledger's reads: rows by key, what a plan needs of one occurrence
(`known`, its done keys streamed from a server-side cursor), every row (`records`,
streamed), and the grouped counts of `stats`, `claimed_since` and the status page."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import cast

from smsops.core.occurrence import ONCE
from smsops.ledger.base import (
    DONE,
    MAY_HAVE_GONE,
    REOPENING,
    Known,
    SendRecord,
    StatsAndDeliveries,
    Status,
    reopens,
    stats_and_deliveries,
)
from smsops.ledger.postgres_connection import PostgresConnection
from smsops.ledger.postgres_prune import through
from smsops.ledger.postgres_schema import NAMES, to_record
from smsops.ledger.pruning import marked
from smsops.ledger.recent import OPEN_UNCERTAIN, RECENT, Counts, Uncertain, grouped

_CLAIM_ROWS = 5000  # rows a statement (arrays have no parameter limit; this bounds one message)
_FETCH_ROWS = 2000  # rows a server-side cursor fetches per round trip
_COLUMNS = ", ".join(NAMES)
_DONE = sorted(status.value for status in DONE)
_OPEN = sorted(status.value for status in Status if status not in DONE)
# The month given as the same function of the same constants: the planner
# computes it and reads one partition.
_OCCURRENCE = "schedule = %(s)s AND occurrence = %(o)s AND status = ANY(%(st)s) "
_OCCURRENCE += "AND month = smsops_month(%(s)s, %(o)s)"
_GONE = sorted(status.value for status in MAY_HAVE_GONE)
_CLAIMED_SINCE = "SELECT count(*) FROM sends WHERE schedule = %s AND created_at > %s "
_CLAIMED_SINCE += "AND status = ANY(%s)"
_KNOWN_DONE = f"SELECT key FROM sends WHERE {_OCCURRENCE}"  # noqa: S608 - constants
_KNOWN_OPEN = f"SELECT {_COLUMNS} FROM sends WHERE {_OCCURRENCE}"  # noqa: S608
_REOPENING = [status.value for status in REOPENING]
_REOPENING_ROWS = f"SELECT recipient, status, retryable FROM sends WHERE {_OCCURRENCE}"  # noqa: S608


class PostgresReads(PostgresConnection):
    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]:
        wanted = list(keys)
        query = f"SELECT {_COLUMNS} FROM sends WHERE key = ANY(%s)"  # noqa: S608
        found: dict[str, SendRecord] = {}
        with self._transaction("cannot read", atomic=False) as conn:
            for start in range(0, len(wanted), _CLAIM_ROWS):
                for row in conn.execute(query, (wanted[start : start + _CLAIM_ROWS],)):
                    found[row[0]] = to_record(row)
        return found

    def known(self, schedule: str, occurrence: str) -> Known:
        # The done keys (most rows of a re-plan) stream from a server-side
        # cursor straight into the set; the open rows are few and read whole.
        with self._transaction("cannot read") as conn:
            with conn.cursor(name="smsops_known") as done:
                done.itersize = _FETCH_ROWS
                done.execute(_KNOWN_DONE, {"s": schedule, "o": occurrence, "st": _DONE})
                keys = Known.of((key for (key,) in done), {})
            rest = conn.execute(_KNOWN_OPEN, {"s": schedule, "o": occurrence, "st": _OPEN})
            found = Known(keys.done, {row[0]: to_record(row) for row in rest})
            if found.done or found.open:
                return found
            return marked(found, schedule, occurrence, through(conn, schedule))

    def reopening(self, schedule: str, occurrence: str) -> list[str]:
        wanted = {"s": schedule, "o": occurrence, "st": _REOPENING}
        with self._transaction("cannot read", atomic=False) as conn:
            found = conn.execute(_REOPENING_ROWS, wanted).fetchall()
        return [recipient for recipient, status, retry in found if reopens(status, retry)]

    def records(
        self, schedule: str | None = None, status: Status | None = None
    ) -> Iterator[SendRecord]:
        query = f"SELECT {_COLUMNS} FROM sends WHERE (%s::text IS NULL OR schedule = %s) "  # noqa: S608
        query += "AND (%s::text IS NULL OR status = %s) ORDER BY key"
        state = status.value if status else None
        with self._transaction("cannot read") as conn, conn.cursor(name="smsops_records") as rows:
            rows.itersize = _FETCH_ROWS
            rows.execute(query, (schedule, schedule, state, state))
            yield from (to_record(row) for row in rows)

    def claimed_since(self, schedule: str, since: datetime) -> int:
        with self._transaction("cannot read", atomic=False) as conn:
            row = conn.execute(_CLAIMED_SINCE, (schedule, since, _GONE)).fetchone()
        return 0 if row is None else int(row[0])

    def newest_occurrence(self, schedule: str, below: str) -> str | None:
        # The column's collation (the index's): fire-time labels have one fixed
        # shape (digits in place), so every locale orders them by time.
        query = "SELECT max(occurrence) FROM sends WHERE schedule = %s "
        query += "AND occurrence < %s AND occurrence < %s"
        with self._transaction("cannot read", atomic=False) as conn:
            row = conn.execute(query, (schedule, ONCE, below)).fetchone()
        return None if row is None else cast("str | None", row[0])

    def stats(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        query = "SELECT schedule, status, count(*) FROM sends GROUP BY schedule, status"
        with self._transaction("cannot read", atomic=False) as conn:
            for schedule, status, count in conn.execute(query):
                counts.setdefault(schedule, {})[status] = count
        return counts

    def stats_and_deliveries(self, schedules: Collection[str]) -> StatsAndDeliveries:
        query = "SELECT schedule, occurrence, status, count(*) FROM sends "
        query += "GROUP BY schedule, occurrence, status"
        with self._transaction("cannot read", atomic=False) as conn:
            rows = conn.execute(query).fetchall()
        return stats_and_deliveries(rows, schedules)

    def recent_counts(self, last: int) -> Counts:
        with self._transaction("cannot read", atomic=False) as conn:
            return grouped(conn.execute(RECENT.replace("?", "%s"), (last,)))

    def open_uncertain(self, limit: int) -> Uncertain:
        query = OPEN_UNCERTAIN.replace("?", "%s")
        with self._transaction("cannot read", atomic=False) as conn:
            rows = conn.execute(query, (Status.UNCERTAIN.value, limit)).fetchall()
        return [(str(s), str(o), int(n)) for s, o, n in rows]
