"""One-time codes in the PostgreSQL ledger: each `OtpRows` block is one transaction that
first takes an advisory lock on the number, so two replicas checking one number's send
limit or spending its last attempt take turns (different numbers never wait)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from smsops.ledger.otp import OtpEvent, OtpRows, OtpStore
from smsops.ledger.sql_otp import EVENTS, SqlOtpRows, event_of

Connection = psycopg.Connection[tuple[Any, ...]]


def number_lock(recipient: str) -> int:
    """The advisory lock key of a number (64 bits of a hash, signed as bigint is)."""
    digest = hashlib.sha256(b"smsops-otp\x1f" + recipient.encode()).digest()
    return int.from_bytes(digest[:8], signed=True)


class PostgresOtp(OtpStore):
    def _transaction(
        self, doing: str, *, atomic: bool = True
    ) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # PostgresLedger's

    @contextmanager
    def _otp_rows(self, recipient: str) -> Iterator[OtpRows]:
        with self._transaction("cannot keep one-time codes in") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (number_lock(recipient),))

            def execute(statement: str, values: Sequence[Any]) -> list[Sequence[Any]]:
                cursor = conn.execute(statement, tuple(values))
                return list(cursor.fetchall()) if cursor.description else []

            yield SqlOtpRows(execute, sqlite=False)

    def otp_events(self, recipient: str | None = None) -> list[OtpEvent]:
        with self._transaction("cannot read", atomic=False) as conn:
            return [event_of(row) for row in conn.execute(EVENTS, (recipient, recipient))]
