"""One-time codes in the SQLite ledger: each `OtpRows` block is one immediate write
transaction of the file (`SqliteFile._writing`), which no other writer can enter."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from smsops.ledger.otp import OtpEvent, OtpRows, OtpStore
from smsops.ledger.sql_otp import EVENTS, SqlOtpRows, event_of
from smsops.ledger.sqlite_file import SqliteFile


class SqliteOtp(SqliteFile, OtpStore):
    @contextmanager
    def _otp_rows(self, recipient: str) -> Iterator[OtpRows]:
        def execute(statement: str, values: Sequence[Any]) -> list[Sequence[Any]]:
            return [tuple(row) for row in self._db.execute(statement, tuple(values)).fetchall()]

        with self._writing("cannot keep one-time codes in"):
            yield SqlOtpRows(execute, sqlite=True)

    def otp_events(self, recipient: str | None = None) -> list[OtpEvent]:
        with self._reading():
            rows = self._db.execute(EVENTS.replace("%s", "?"), (recipient, recipient)).fetchall()
        return [event_of(tuple(row)) for row in rows]
