"""The PostgreSQL ledger's holds and skips (held.py): SQLite's statements, `%s` for `?`."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg

from smsops.ledger import held as sql
from smsops.ledger.held import Hold, HoldReason, Skips, SkipsNoted, hold_of, skips_of

Connection = psycopg.Connection[tuple[Any, ...]]
_HOLD, _UNHOLD, _HOLDS = (q.replace("?", "%s") for q in (sql.HOLD, sql.UNHOLD, sql.HOLDS))
_FORGET, _SKIP = (q.replace("?", "%s") for q in (sql.FORGET_SKIPS, sql.SKIP))
_RECENT = sql.RECENT_SKIPS.replace("?", "%s")


class PostgresHeld:
    def _transaction(
        self, doing: str, *, atomic: bool = True
    ) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # PostgresLedger's

    def note_holds(self, held: Mapping[str, tuple[HoldReason, str] | None], at: datetime) -> None:
        if not held:
            return
        with self._transaction("cannot record held schedules in") as conn:
            for schedule, hold in held.items():
                if hold is None:
                    conn.execute(_UNHOLD, (schedule,))
                else:
                    conn.execute(_HOLD, (schedule, *hold, at))

    def holds(self) -> dict[str, Hold]:
        with self._transaction("cannot read", atomic=False) as conn:
            return {hold.schedule: hold for hold in map(hold_of, conn.execute(_HOLDS))}

    def note_skips(self, skips: SkipsNoted) -> None:
        if not skips:
            return
        doing = "cannot record skipped recipients in"
        with self._transaction(doing) as conn, conn.cursor() as cursor:
            for forget, rows in sql.noted_rows(skips):
                cursor.execute(_FORGET, forget)
                if rows:
                    cursor.executemany(_SKIP, rows)

    def recent_skips(self, last: int) -> Skips:
        with self._transaction("cannot read", atomic=False) as conn:
            return skips_of(conn.execute(_RECENT, (last,)))
