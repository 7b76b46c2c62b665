"""The PostgreSQL ledger's runs (runs.py): each registered with its lease, renewed by
the heartbeat (which also makes a new month's partitions), read back for the status
page; and the round lock, an advisory lock on a connection of its own."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime

import psycopg

from smsops.core.errors import LedgerError
from smsops.ledger.partitions import month_of
from smsops.ledger.postgres_connection import PostgresConnection
from smsops.ledger.recent import RUNS, run_of
from smsops.ledger.runs import FORGET_AFTER, Run, run_id

log = logging.getLogger("smsops.ledger")


class PostgresRuns(PostgresConnection):
    def register_run(self, run: Run) -> None:
        """Record `run` and its lease (again: renewed); forget runs long over."""
        with self._transaction("cannot register this run in") as conn:
            conn.execute("DELETE FROM runs WHERE expires_at < %s", (run.started_at - FORGET_AFTER,))
            conn.execute(
                "INSERT INTO runs (id, host, pid, command, started_at, heartbeat_at, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                "heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at",
                (
                    run.id,
                    run.host,
                    run.pid,
                    run.command,
                    run.started_at,
                    run.heartbeat_at,
                    run.expires_at,
                ),
            )

    def renew_lease(self, now: datetime, expires: datetime, run: str | None = None) -> None:
        """This run's lease (or `run`'s) now lasts until `expires`; `expires=now` ends it.

        The first renewal in a new month makes the months ahead again: a
        process that runs for months keeps its rows out of the default
        partition. After the lease, apart: a partition that cannot be made
        now (a lock held too long) never costs the lease; the next renewal
        tries again, and meanwhile rows go to the default partition.
        """
        with self._transaction("cannot renew this run's lease in", atomic=False) as conn:
            conn.execute(
                "UPDATE runs SET heartbeat_at = %s, expires_at = %s WHERE id = %s",
                (now, expires, run or run_id()),
            )
        if month_of(now) != self._month:
            try:
                with self._transaction("cannot make this month's partitions in") as conn:
                    self._months(conn, now)
            except LedgerError as failed:
                log.warning("%s; the next lease renewal tries again", failed)

    def leases(self) -> dict[str, datetime]:
        with self._transaction("cannot read", atomic=False) as conn:
            return {row[0]: row[1] for row in conn.execute("SELECT id, expires_at FROM runs")}

    def runs(self) -> list[Run]:
        with self._transaction("cannot read", atomic=False) as conn:
            return [run_of(row) for row in conn.execute(RUNS)]

    @contextmanager
    def round_lock(self, schedule: str) -> Iterator[bool]:
        """`pg_try_advisory_lock` on the schedule's key, on a connection of its own.

        Held for the round and released at its end; a replica that dies drops
        its connection, and PostgreSQL releases the lock with it. Not from the
        pool: a pooled connection returned with the lock would keep holding it.
        """
        key = int.from_bytes(
            hashlib.sha256(f"smsops round {schedule}".encode()).digest()[:8], "big", signed=True
        )
        with self._failures("cannot lock a round in"):
            conn = psycopg.connect(self._url, **self._kwargs)
        mine = False
        try:
            with self._failures("cannot lock a round in"):
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            mine = bool(row and row[0])
            yield mine
        finally:
            # Unlocked before the close returns: the server ends a closed session a
            # little later, and the next round (here or on a replica) must find it free.
            if mine:
                with suppress(psycopg.Error):  # a broken connection: its session ends anyway
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            conn.close()
