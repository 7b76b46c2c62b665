"""What the SQLite ledger keeps of what providers tell it: parked receipts, the suppression list.

The rules are receipts.py's and suppressions.py's; this is their storage.
Each method is one transaction of the file (`SqliteFile._writing`): an
opt-out and its history row, a park and its trim, commit together.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from smsops.core.hooks import Delivery, Receipt
from smsops.core.occurrence import ONCE
from smsops.ledger.base import DONE, SendRecord
from smsops.ledger.receipts import LastDelivery, last_deliveries
from smsops.ledger.sqlite_file import SqliteFile
from smsops.ledger.sqlite_schema import COLUMNS, checked_time, iso, marks, to_record
from smsops.ledger.suppressions import OptAction, OptEvent

_IDS = 500  # ids a statement (SQLite's variable limit)
_PARKED = "provider, message_id, delivery, code, error, at"
_PARK = f"INSERT INTO parked_receipts ({_PARKED}, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
_PARK += "ON CONFLICT (provider, message_id) DO NOTHING"
# The newest `keep` stay: every older one goes (the bound, receipts.py).
_TRIM = "DELETE FROM parked_receipts WHERE seq IN "
_TRIM += "(SELECT seq FROM parked_receipts ORDER BY seq DESC LIMIT -1 OFFSET ?)"
_UNPARK = f"DELETE FROM parked_receipts WHERE provider = ? AND message_id = ? RETURNING {_PARKED}"  # noqa: S608
# Each asked schedule's newest occurrence with rows the provider took (a fire time before
# `once`): a backward seek on the index (schedule, occurrence, status) that stops at the first
# row in DONE. Then that occurrence's rows counted per status, each a range of the same index
# (no sort of a million rows to group them). The names come as one JSON array: one statement
# however many schedules a plan has.
_DONE_IN = ", ".join(f"'{status.value}'" for status in sorted(DONE))
_NEWEST = "SELECT occurrence FROM sends s WHERE s.schedule = w.schedule AND s.occurrence {} ? "
_NEWEST += f"AND s.status IN ({_DONE_IN}) ORDER BY s.occurrence DESC LIMIT 1"
_COUNT = "(SELECT count(*) FROM sends s WHERE s.schedule = n.schedule "
_COUNT += "AND s.occurrence = n.occurrence AND s.status = '{}')"
_LAST = "WITH w(schedule) AS (SELECT DISTINCT value FROM json_each(?)), "
_LAST += "n(schedule, occurrence) AS MATERIALIZED (SELECT schedule, coalesce("
_LAST += f"({_NEWEST.format('<')}), ({_NEWEST.format('=')})) FROM w) "
_LAST += "SELECT schedule, occurrence, "
_LAST += ", ".join(_COUNT.format(status.value) for status in sorted(DONE))
_LAST += " FROM n WHERE occurrence IS NOT NULL"
_EVENT = "INSERT INTO opt_events (number, action, at, source, keyword) VALUES (?, ?, ?, ?, ?)"
_OPT_OUT = "INSERT INTO suppressions (number, at, source, keyword) VALUES (?, ?, ?, ?) "
_OPT_OUT += "ON CONFLICT (number) DO NOTHING"
_OPT_IN = "DELETE FROM suppressions WHERE number = ?"


def receipt_of(row: Sequence[object]) -> Receipt:
    """A parked row (`_PARKED`, times as stored) as the receipt it keeps."""
    provider, message_id, delivery, code, error, at = row
    when = at if isinstance(at, datetime) or at is None else checked_time("parked", "at", at)
    return Receipt(
        str(provider), str(message_id), Delivery(str(delivery)), str(code),
        None if error is None else str(error), when,
    )  # fmt: skip


def event_of(row: Sequence[object], action: OptAction) -> OptEvent:
    """A stored (number, at, source, keyword) as an event."""
    number, at, source, keyword = row
    when = at if isinstance(at, datetime) else checked_time(str(number), "at", at)
    return OptEvent(str(number), action, when, str(source), str(keyword))


def per_status(rows: Iterable[Sequence[Any]]) -> list[tuple[str, str, str, int]]:
    """(schedule, occurrence, a count per status of DONE in sorted order) rows, one per
    schedule, as the (schedule, occurrence, status, count) rows `last_deliveries` reads."""
    statuses = [status.value for status in sorted(DONE)]
    return [
        (str(row[0]), str(row[1]), status, int(n))
        for row in rows
        for status, n in zip(statuses, row[2:], strict=True)
    ]


class SqliteHearing(SqliteFile):
    def by_message_id(self, provider: str, message_ids: Collection[str]) -> list[SendRecord]:
        wanted = sorted(message_ids)
        found = []
        with self._reading():
            for start in range(0, len(wanted), _IDS):
                chunk = wanted[start : start + _IDS]
                query = f"SELECT {COLUMNS} FROM sends WHERE provider_message_id IN "  # noqa: S608
                query += f"({marks(len(chunk))}) AND provider = ?"
                found += [to_record(row) for row in self._db.execute(query, (*chunk, provider))]
        return found

    def last_deliveries(self, schedules: Collection[str]) -> dict[str, LastDelivery]:
        if not schedules:
            return {}
        with self._reading():
            rows = self._db.execute(_LAST, (json.dumps(sorted(schedules)), ONCE, ONCE)).fetchall()
        return last_deliveries(per_status(rows))

    def park(
        self, items: Sequence[Receipt], now: datetime, *, since: datetime, keep: int
    ) -> set[tuple[str, str]]:
        new = set()
        with self._writing("cannot park receipts in"):
            self._db.execute("DELETE FROM parked_receipts WHERE parked_at < ?", (iso(since),))
            for r in items:
                values = (r.provider, r.message_id, r.delivery.value, r.code, r.error, iso(r.at))
                if self._db.execute(_PARK, (*values, iso(now))).rowcount == 1:
                    new.add((r.provider, r.message_id))
            self._db.execute(_TRIM, (keep,))
        return new

    def unpark(self, pairs: Collection[tuple[str, str]]) -> list[Receipt]:
        with self._writing("cannot read parked receipts in"):
            if self._db.execute("SELECT 1 FROM parked_receipts LIMIT 1").fetchone() is None:
                return []  # the usual case: a settle costs one cheap read more
            taken = [self._db.execute(_UNPARK, pair).fetchone() for pair in sorted(pairs)]
        return [receipt_of(tuple(row)) for row in taken if row is not None]

    def parked(self) -> list[Receipt]:
        with self._reading():
            rows = self._db.execute(f"SELECT {_PARKED} FROM parked_receipts ORDER BY seq")  # noqa: S608
            return [receipt_of(tuple(row)) for row in rows]

    def opt(self, events: Sequence[OptEvent]) -> list[bool]:
        changed = []
        with self._writing("cannot change the suppression list in"):
            for e in events:
                if e.action is OptAction.OUT:
                    done = self._db.execute(_OPT_OUT, (e.number, iso(e.at), e.source, e.keyword))
                else:
                    done = self._db.execute(_OPT_IN, (e.number,))
                changed.append(done.rowcount == 1)
                if changed[-1]:
                    values = (e.number, e.action.value, iso(e.at), e.source, e.keyword)
                    self._db.execute(_EVENT, values)
        return changed

    def suppressed(self, among: Sequence[str] | None = None) -> frozenset[str]:
        query = "SELECT number FROM suppressions"
        bound: tuple[str, ...] = ()
        if among is not None:  # by the primary key, the numbers as one JSON array
            query += " WHERE number IN (SELECT value FROM json_each(?))"
            bound = (json.dumps(list(among)),)
        with self._reading():
            return frozenset(n for (n,) in self._db.execute(query, bound))

    def suppressions(self, since: datetime | None = None) -> list[OptEvent]:
        # julianday: times are stored as written (any offset), so text order is not time order.
        query = "SELECT number, at, source, keyword FROM suppressions "
        query += "WHERE ? IS NULL OR julianday(at) >= julianday(?) ORDER BY at DESC, number"
        bound = iso(since)
        with self._reading():
            rows = self._db.execute(query, (bound, bound)).fetchall()
        return [event_of(tuple(row), OptAction.OUT) for row in rows]

    def opt_history(self, number: str | None = None) -> list[OptEvent]:
        query = "SELECT number, at, source, keyword, action FROM opt_events "
        query += "WHERE (? IS NULL OR number = ?) ORDER BY id"
        with self._reading():
            rows = self._db.execute(query, (number, number)).fetchall()
        return [event_of(tuple(row)[:4], OptAction(row[4])) for row in rows]
