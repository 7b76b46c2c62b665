"""The PostgreSQL ledger's connection: each session's settings, the schema's version
and migration, the month partitions made ahead, and the one pooled transaction every
operation takes (`_transaction`, `_retrying`), psycopg's errors turned into one clear
line naming the ledger (`_failures`). Opened by `PostgresLedger` (postgres.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import ConnectionPool, PoolTimeout

from smsops.core import secrets
from smsops.core.errors import LedgerError, LedgerFull
from smsops.ledger.partitions import AHEAD, ENSURE, month_of
from smsops.ledger.postgres_schema import MIGRATION_LOCK, MIGRATIONS, VERSION_TABLE

_T = TypeVar("_T")
Connection = psycopg.Connection[tuple[Any, ...]]


class PostgresConnection:
    # Set by PostgresLedger.__init__ (postgres.py).
    name: str
    readonly: bool
    wait: float
    version: int
    _url: str
    _kwargs: dict[str, Any]
    _month: date | None
    _settling: threading.local
    _pool: ConnectionPool[Connection]

    def _configure(self, conn: Connection) -> None:
        """Every session: UTC timestamps, bounded lock waits, read-only where asked.

        A writer's commits are durable before they are acknowledged
        (synchronous_commit on, whatever the server's default): a claim is
        what makes a send safe to make, and with `off` a server crash could
        forget a claim whose message already went out (then sent again).
        """
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute(f"SET lock_timeout = {max(1, round(self.wait * 1000))}")
        if self.readonly:
            conn.execute("SET default_transaction_read_only = on")
        else:
            conn.execute("SET synchronous_commit = on")

    def _check_version(self, conn: Connection) -> int:
        found = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        version = 0
        if found and found[0]:
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise LedgerError(
                f"the ledger {self.name} has schema version {version}, newer than this smsops "
                f"knows ({len(MIGRATIONS)}): it was written by a newer smsops; upgrade smsops "
                "to use it (nothing was changed)"
            )
        if self.readonly and 0 < version < len(MIGRATIONS):
            raise LedgerError(
                f"the ledger {self.name} has schema version {version}; this smsops uses "
                f"{len(MIGRATIONS)}. `smsops apply` upgrades it (reading never writes)"
            )
        return version

    def _migrate(self, conn: Connection) -> None:
        """Bring the schema up to date in one transaction, under an advisory lock.

        Whoever takes the lock first migrates; the others wait for it, then
        read the version again and find the work done.
        """
        if self.version == len(MIGRATIONS):
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(VERSION_TABLE)
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            version = int(row[0]) if row else 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                conn.execute(script.encode())  # several statements: no parameters
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        self.version = len(MIGRATIONS)

    def _months(self, conn: Connection, now: datetime) -> None:
        """The partitions of last month, this one and `AHEAD` more, made where missing."""
        conn.execute(ENSURE, (now, AHEAD))
        self._month = month_of(now)

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        """psycopg's errors as one clear line naming the ledger (never its password)."""
        try:
            yield
        except PoolTimeout:
            raise LedgerError(
                f"{doing} the ledger {self.name}: no connection to the server within "
                f"{self.wait:g} s; check that it runs and is reachable (SMSOPS_LEDGER_WAIT sets "
                "how many seconds to wait)"
            ) from None
        except pgerrors.LockNotAvailable:
            who = self.writers()
            named = "smsops sessions on it: " + "; ".join(who) if who else "no other smsops session"
            raise LedgerError(
                f"{doing} the ledger {self.name}: rows are locked by another writer that did not "
                f"finish within {self.wait:g} s ({named}). Nothing was written by this step; run "
                "again when it is done (SMSOPS_LEDGER_WAIT sets how many seconds to wait)"
            ) from None
        except pgerrors.DiskFull as exc:  # 53100: the server's disk
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise LedgerFull(
                f"{doing} the ledger {self.name}: the server's disk is full "
                f"({secrets.scrub(reason)}). Nothing was written by this step; free some space "
                "and run again"
            ) from None
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise LedgerError(f"{doing} the ledger {self.name}: {secrets.scrub(reason)}") from None

    @contextmanager
    def _transaction(self, doing: str, *, atomic: bool = True) -> Iterator[Connection]:
        """One pooled connection; with `atomic`, one transaction (committed, or rolled back).

        Sessions are in autocommit: a single statement is its own transaction
        in one round trip, where BEGIN and COMMIT would add two (most claims
        of apply are one statement each). Inside this thread's
        settle (`settle`), every step is part of its transaction.
        """
        joined = getattr(self._settling, "conn", None)
        if joined is not None:
            with self._failures(doing):
                yield joined
            return
        with (
            self._failures(doing),
            self._pool.connection() as conn,
            conn.transaction() if atomic else nullcontext(),
        ):
            yield conn

    def _retrying(self, doing: str, work: Callable[[Connection], _T], *, atomic: bool) -> _T:
        """`work`, again (up to 3 times) when PostgreSQL broke a deadlock by failing it.

        Inside a settle's transaction, once: a failed statement has aborted it, and the
        settle is tried again whole.
        """
        if getattr(self._settling, "conn", None) is not None:
            with self._transaction(doing) as conn:
                return work(conn)
        for attempt in range(3):
            try:
                with self._transaction(doing, atomic=atomic) as conn:
                    return work(conn)
            except LedgerError as failed:
                if attempt == 2 or not isinstance(failed.__context__, pgerrors.DeadlockDetected):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def writers(self) -> list[str]:
        """The other smsops sessions on this database (their application_name), at most 5."""
        query = (
            "SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'smsops%%'"
        )
        try:
            with psycopg.connect(self._url, **self._kwargs) as conn:
                return sorted(str(row[0]) for row in conn.execute(query))[:5]
        except psycopg.Error:
            return []
