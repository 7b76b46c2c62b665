"""What the PostgreSQL ledger keeps of what providers tell it: parked receipts, suppressions.

The rules are receipts.py's and suppressions.py's; this is their storage,
SQLite's tables (sqlite_hearing.py) in PostgreSQL's types. Replicas share it:
a parked receipt is taken by one `DELETE ... RETURNING` (only one replica
gets it), and two replicas recording the same STOP at once insert one list
entry (the primary key) and so one history event.

A settle is one transaction (postgres.py): its rows and its look for parked
receipts commit together, so its look comes before its rows can be seen. A
receipt parking in between would find no row and be missed by the look: a
park and a settle's look therefore take a lock per (provider, id) first
(`pg_advisory_xact_lock`, held to the commit, keys in order). The one that
waits sees the other's commit: the receipt's second look finds the settled
row, or the settle's look finds the parked receipt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg

from smsops.core.hooks import Receipt
from smsops.core.occurrence import ONCE
from smsops.ledger.base import DONE, SendRecord
from smsops.ledger.postgres_schema import NAMES, to_record
from smsops.ledger.receipts import LastDelivery, last_deliveries
from smsops.ledger.sqlite_hearing import event_of, per_status, receipt_of
from smsops.ledger.suppressions import OptAction, OptEvent

Connection = psycopg.Connection[tuple[Any, ...]]
_PARKED = "provider, message_id, delivery, code, error, at"
_BY_ID = f"SELECT {', '.join(NAMES)} FROM sends "  # noqa: S608 - constant column list
_BY_ID += "WHERE provider_message_id = ANY(%s) AND provider = %s"
_PARK = f"INSERT INTO parked_receipts ({_PARKED}, parked_at) SELECT *, %s FROM unnest("  # noqa: S608
_PARK += "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[]) "
_PARK += "ON CONFLICT (provider, message_id) DO NOTHING RETURNING provider, message_id"
_TRIM = "DELETE FROM parked_receipts WHERE seq IN "
_TRIM += "(SELECT seq FROM parked_receipts ORDER BY seq DESC OFFSET %s)"
_LOCK = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k"
_UNPARK = "DELETE FROM parked_receipts p USING unnest(%s::text[], %s::text[]) AS r(provider, id) "
_UNPARK += "WHERE p.provider = r.provider AND p.message_id = r.id "
_UNPARK += "RETURNING p.provider, p.message_id, p.delivery, p.code, p.error, p.at"
# As SQLite's (sqlite_hearing.py): per asked schedule, a backward index seek to its newest
# occurrence with rows in DONE, then that occurrence's rows counted per status on the index.
_DONE = sorted(status.value for status in DONE)
_NEWEST = "SELECT occurrence FROM sends s WHERE s.schedule = w.schedule AND s.occurrence {} %s "
_NEWEST += "AND s.status = ANY(%s) ORDER BY s.occurrence DESC LIMIT 1"
_COUNT = "(SELECT count(*) FROM sends s WHERE s.schedule = n.schedule "
_COUNT += "AND s.occurrence = n.occurrence AND s.status = '{}')"
_LAST = "WITH n AS MATERIALIZED (SELECT w.schedule, coalesce("
_LAST += f"({_NEWEST.format('<')}), ({_NEWEST.format('=')})) AS occurrence "
_LAST += "FROM (SELECT DISTINCT unnest(%s::text[])) AS w(schedule)) SELECT schedule, occurrence, "
_LAST += ", ".join(_COUNT.format(status) for status in _DONE)
_LAST += " FROM n WHERE occurrence IS NOT NULL"
_EVENT = "INSERT INTO opt_events (number, action, at, source, keyword) VALUES (%s, %s, %s, %s, %s)"
_OPT_OUT = "INSERT INTO suppressions (number, at, source, keyword) VALUES (%s, %s, %s, %s) "
_OPT_OUT += "ON CONFLICT (number) DO NOTHING RETURNING number"
_OPT_IN = "DELETE FROM suppressions WHERE number = %s RETURNING number"


class PostgresHearing:
    def _transaction(
        self, doing: str, *, atomic: bool = True
    ) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # PostgresLedger's

    def by_message_id(self, provider: str, message_ids: Collection[str]) -> list[SendRecord]:
        with self._transaction("cannot read", atomic=False) as conn:
            return [to_record(row) for row in conn.execute(_BY_ID, (list(message_ids), provider))]

    def last_deliveries(self, schedules: Collection[str]) -> dict[str, LastDelivery]:
        if not schedules:
            return {}
        values = (ONCE, _DONE, ONCE, _DONE, sorted(schedules))
        with self._transaction("cannot read", atomic=False) as conn:
            return last_deliveries(per_status(conn.execute(_LAST, values).fetchall()))

    def park(
        self, items: Sequence[Receipt], now: datetime, *, since: datetime, keep: int
    ) -> set[tuple[str, str]]:
        arrays = [
            [r.provider for r in items],
            [r.message_id for r in items],
            [r.delivery.value for r in items],
            [r.code for r in items],
            [r.error for r in items],
            [r.at for r in items],
        ]
        with self._transaction("cannot park receipts in") as conn:
            conn.execute(_LOCK, (_locks((r.provider, r.message_id) for r in items),))
            conn.execute("DELETE FROM parked_receipts WHERE parked_at < %s", (since,))
            new = {(str(p), str(m)) for p, m in conn.execute(_PARK, (now, *arrays))}
            conn.execute(_TRIM, (keep,))
        return new

    def unpark(self, pairs: Collection[tuple[str, str]]) -> list[Receipt]:
        ordered = sorted(pairs)
        values = ([p for p, _ in ordered], [m for _, m in ordered])
        with self._transaction("cannot read parked receipts in") as conn:
            # One round trip: the DELETE, a statement of its own, sees what committed
            # before the locks were granted. (Inside a settle they are held to its commit.)
            with conn.pipeline():
                conn.execute(_LOCK, (_locks(ordered),))
                taken = conn.execute(_UNPARK, values)
            return [receipt_of(row) for row in taken]

    def parked(self) -> list[Receipt]:
        query = f"SELECT {_PARKED} FROM parked_receipts ORDER BY seq"  # noqa: S608
        with self._transaction("cannot read", atomic=False) as conn:
            return [receipt_of(row) for row in conn.execute(query)]

    def opt(self, events: Sequence[OptEvent]) -> list[bool]:
        changed = []
        with self._transaction("cannot change the suppression list in") as conn:
            for e in events:
                if e.action is OptAction.OUT:
                    done = conn.execute(_OPT_OUT, (e.number, e.at, e.source, e.keyword))
                else:
                    done = conn.execute(_OPT_IN, (e.number,))
                changed.append(done.fetchone() is not None)
                if changed[-1]:
                    conn.execute(_EVENT, (e.number, e.action.value, e.at, e.source, e.keyword))
        return changed

    def suppressed(self, among: Sequence[str] | None = None) -> frozenset[str]:
        query = "SELECT number FROM suppressions"
        if among is not None:  # by the primary key
            query += " WHERE number = ANY(%s::text[])"
        # PostgreSQL's text holds no NUL, so no listed number has one: not asked, not an error
        bound = () if among is None else ([n for n in among if "\x00" not in n],)
        with self._transaction("cannot read", atomic=False) as conn:
            return frozenset(str(n) for (n,) in conn.execute(query, bound))

    def suppressions(self, since: datetime | None = None) -> list[OptEvent]:
        query = "SELECT number, at, source, keyword FROM suppressions "
        query += "WHERE %s::timestamptz IS NULL OR at >= %s ORDER BY at DESC, number"
        with self._transaction("cannot read", atomic=False) as conn:
            return [event_of(row, OptAction.OUT) for row in conn.execute(query, (since, since))]

    def opt_history(self, number: str | None = None) -> list[OptEvent]:
        query = "SELECT number, at, source, keyword, action FROM opt_events "
        query += "WHERE (%s::text IS NULL OR number = %s) ORDER BY id"
        with self._transaction("cannot read", atomic=False) as conn:
            rows = _rows(conn.execute(query, (number, number)))
        return [event_of(row[:4], OptAction(str(row[4]))) for row in rows]


def _rows(cursor: Iterator[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return list(cursor)


def _locks(pairs: Iterable[tuple[str, str]]) -> list[int]:
    """The advisory lock keys of (provider, id) pairs, sorted: every side takes them in one
    order, so a park and a settle never wait on each other both ways."""
    keys = set()
    for provider, message_id in pairs:
        digest = hashlib.sha256(f"smsops receipt {provider}\0{message_id}".encode()).digest()
        keys.add(int.from_bytes(digest[:8], "big", signed=True))
    return sorted(keys)
