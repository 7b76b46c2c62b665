"""The shared ledger: PostgreSQL through psycopg 3 and its connection pool.

Several processes (applies, replicas of `smsops run`) write one ledger: the
primary key is the claim, as in SQLite; the rules are the policy table's,
turned into SQL by `sql_policy` (the statuses passed as parameters). Each
operation takes a pooled connection for one transaction, so the daemon's
planning threads and its event loop never share a transaction.

Every write is one statement per batch: the rows go in as one array per
column (`unnest`), so a claim of 5,000 sends is one round trip.

- A claim is `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE <the table's
  claim rule>` RETURNING the rows won: a new key is inserted; an existing row
  is taken over only where the table lets a claim take it (the guarded update
  of a reclaimable row, checked by PostgreSQL on the row's latest committed
  version under its row lock, so two claimers never both win it). Rows go in
  key order, so two concurrent claims lock in the same order.
- A move (settle, expiry, stale mark, receipt, resolve) is `UPDATE sends ...
  FROM unnest(...) AS r WHERE <the table's rule>`, "still held by this run"
  comparing each stored row with the run its record names; an expiry, which
  may insert, is the upsert form.
- Reads that may be large (`records`, the done keys of `known`) stream from a
  server-side cursor: a million rows never sit in memory at once.

Here: opening it (`open_postgres`, `PostgresLedger`), a settle in one transaction,
and closing. Its parts: the connection and transactions in postgres_connection.py,
claims and moves in postgres_sends.py, reads in postgres_reads.py, runs, leases
and round locks in postgres_runs.py, receipts, holds, OTP, pruning, shared pace,
units and copied tables each in a postgres_*.py of its own; the schema in
postgres_schema.py, the URL handling in postgres_url.py.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from smsops.core.errors import GuardLost
from smsops.ledger.base import Ledger, SendRecord
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.pace import SharedPace
from smsops.ledger.postgres_connection import Connection
from smsops.ledger.postgres_hearing import PostgresHearing
from smsops.ledger.postgres_held import PostgresHeld
from smsops.ledger.postgres_otp import PostgresOtp
from smsops.ledger.postgres_pace import PostgresPace
from smsops.ledger.postgres_prune import PostgresPruning
from smsops.ledger.postgres_reads import PostgresReads
from smsops.ledger.postgres_runs import PostgresRuns
from smsops.ledger.postgres_sends import PostgresSends
from smsops.ledger.postgres_tables import PostgresTables
from smsops.ledger.postgres_units import PostgresUnits
from smsops.ledger.postgres_url import display_name, settings
from smsops.ledger.runs import Heartbeat, Run, lease_length

WAIT = 10.0
POOL_SIZE = 8  # connections: the daemon's planning threads, its loop, a streaming read


def open_postgres(
    url: str, *, readonly: bool = False, wait: float = WAIT, command: str = "smsops"
) -> Ledger:
    """The ledger at `url`; read-only, a database smsops never wrote reads as an empty ledger."""
    ledger = PostgresLedger(url, readonly=readonly, wait=wait, command=command)
    if readonly and ledger.version == 0:
        ledger.close()
        return MemoryLedger()
    return ledger


class PostgresLedger(
    PostgresSends,
    PostgresReads,
    PostgresRuns,
    PostgresHearing,
    PostgresHeld,
    PostgresOtp,
    PostgresPruning,
    PostgresPace,
    PostgresUnits,
    PostgresTables,
    Ledger,
):
    """`readonly` never writes and never migrates (for `plan`, `ledger list/stats/export`).

    Its sessions are read-only (default_transaction_read_only), so it works
    with a role that may only SELECT. A writable open migrates the schema,
    once however many processes start together (an advisory lock).
    A write waits at most `wait` seconds for another's row locks (lock_timeout).
    """

    writes_in_thread = True  # each write is a round trip: apply keeps sending meanwhile

    def __init__(
        self,
        url: str,
        *,
        readonly: bool = False,
        wait: float = WAIT,
        command: str = "smsops",
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.name = display_name(url)  # also registers any password with the scrubber
        self.readonly = readonly
        self.shares_units = not readonly  # (a reader takes no units: it sends nothing)
        self.wait = wait
        given = settings(url)
        self._url = url  # holds the password: never shown (self.name is what is)
        self._kwargs: dict[str, Any] = {
            "autocommit": True,  # see _transaction
            "application_name": f"{command} (pid {os.getpid()} on {socket.gethostname()})"[:63],
        }
        if "connect_timeout" not in given:
            self._kwargs["connect_timeout"] = max(2, round(wait))
        self._month: date | None = None  # the month whose partitions were last made
        self._settling = threading.local()  # .conn: this thread's settle transaction (`settle`)
        with self._failures("cannot open"):
            with psycopg.connect(url, **self._kwargs) as first:
                self._configure(first)
                self.version = self._check_version(first)
                if not readonly:
                    self._migrate(first)
                    self._months(first, datetime.now(UTC))
            self._pool: ConnectionPool[Connection] = ConnectionPool(
                url,
                kwargs=self._kwargs,
                min_size=1,
                max_size=pool_size,
                open=False,
                configure=self._configure,
                timeout=wait,
                name="smsops-ledger",
            )
            self._pool.open()
        self._heartbeat: Heartbeat | None = None
        if not readonly:
            lease = lease_length()
            self.register_run(Run.this(command, datetime.now(UTC), lease))
            self._heartbeat = Heartbeat(self.renew_lease, lease, ledger=url)

    def settle(self, records: Iterable[SendRecord]) -> None:
        """As every backend's, in one transaction: the moves (settled and expired), the look
        for parked receipts and their moves commit together or not at all.

        They were separate commits: an outage between them left rows settled whose settle
        the caller saw fail (its retry refused them), or a parked receipt taken and never
        applied. The refused rows do not undo the others (the guarded UPDATE's condition
        leaves them untouched); `GuardLost` is raised once the transaction is committed.
        A receipt parking meanwhile waits for the commit (`park`, `unpark`: a lock per id).
        """
        outcomes = list(records)

        def settle(conn: Connection) -> GuardLost | None:
            # Pipelined: BEGIN goes with the first UPDATE, COMMIT waits for nothing else.
            with conn.pipeline(), conn.transaction():
                self._settling.conn = conn
                try:
                    super(PostgresLedger, self).settle(outcomes)
                except GuardLost as lost:
                    return lost
                finally:
                    self._settling.conn = None
            return None

        lost = self._retrying("cannot write (settle) sends in", settle, atomic=False)
        if lost is not None:
            raise lost

    def shared_pace(self) -> SharedPace | None:
        return None if self.readonly else self

    def durability(self) -> str | None:
        if self.readonly:
            return None
        with self._transaction("cannot read", atomic=False) as conn:
            row = conn.execute("SHOW synchronous_commit").fetchone()
        return f"synchronous_commit={row[0] if row else None}"

    def close(self) -> None:
        heartbeat = getattr(self, "_heartbeat", None)  # (absent if the open failed)
        if heartbeat is not None:
            heartbeat.stop()
            self._heartbeat = None
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
