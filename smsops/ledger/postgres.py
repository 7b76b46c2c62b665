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

Over 250 lines on purpose: this is the whole backend (connection and
migrations with their errors, claims, moves, reads, resolve, runs with their
leases, round locks); the schema is in postgres_schema.py, the URL handling
in postgres_url.py.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import ConnectionPool, PoolTimeout

from smsops.core import secrets
from smsops.core.errors import GuardLost, LedgerError, LedgerFull, ResolveRefused
from smsops.core.occurrence import ONCE
from smsops.ledger.base import (
    DONE,
    MAY_HAVE_GONE,
    REOPENING,
    RESOLVABLE,
    Decision,
    Known,
    Ledger,
    SendRecord,
    StatsAndDeliveries,
    Status,
    decided,
    reopens,
    stats_and_deliveries,
)
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.pace import SharedPace
from smsops.ledger.partitions import AHEAD, ENSURE, MONTHS_OF, month_of
from smsops.ledger.policy import Operation, allows
from smsops.ledger.postgres_hearing import PostgresHearing
from smsops.ledger.postgres_held import PostgresHeld
from smsops.ledger.postgres_otp import PostgresOtp
from smsops.ledger.postgres_pace import PostgresPace
from smsops.ledger.postgres_prune import PostgresPruning, through
from smsops.ledger.postgres_schema import (
    MIGRATION_LOCK,
    MIGRATIONS,
    MONTH,
    MOVED_NAMES,
    MOVING,
    NAMES,
    UPSERTING,
    VERSION_TABLE,
    columns,
    to_record,
    unnest,
)
from smsops.ledger.postgres_tables import PostgresTables
from smsops.ledger.postgres_units import PostgresUnits
from smsops.ledger.postgres_url import display_name, settings
from smsops.ledger.pruning import marked
from smsops.ledger.recent import OPEN_UNCERTAIN, RECENT, RUNS, Counts, Uncertain, grouped, run_of
from smsops.ledger.runs import FORGET_AFTER, Heartbeat, Run, lease_length, run_id
from smsops.ledger.sql_policy import policy_where

log = logging.getLogger("smsops.ledger")
WAIT = 10.0
POOL_SIZE = 8  # connections: the daemon's planning threads, its loop, a streaming read
_CLAIM_ROWS = 5000  # rows a statement (arrays have no parameter limit; this bounds one message)
_FETCH_ROWS = 2000  # rows a server-side cursor fetches per round trip
_COLUMNS = ", ".join(NAMES)
# Every insert names the row's month (partitions.py): a function of the key's
# own inputs, so (key, month) is the key and ON CONFLICT meets any earlier claim.
_INSERT = f"INSERT INTO sends ({_COLUMNS}, month) SELECT r.*, {MONTH} "
_INSERT += f"FROM {unnest(NAMES)} "
_CLAIM = (
    _INSERT + "ON CONFLICT (key, month) DO UPDATE SET "
    "status = excluded.status, provider = excluded.provider, template = excluded.template, "
    "text_hash = excluded.text_hash, segments = excluded.segments, error = NULL, "
    "retryable = false, updated_at = excluded.updated_at, claimed_by = excluded.claimed_by "
    "WHERE {where} RETURNING key, attempts, created_at"
)
_MOVE_NAMES = ("key", "schedule", "occurrence", "claimed_by", *MOVED_NAMES)
_MOVE = (
    f"UPDATE sends SET ({', '.join(MOVED_NAMES)}) = "  # noqa: S608
    f"({', '.join('r.' + name for name in MOVED_NAMES)}) FROM {unnest(_MOVE_NAMES)} "
    f"WHERE sends.key = r.key AND sends.month = {MONTH} AND ({{where}}) RETURNING sends.key"
)
_UPSERT = (
    _INSERT + f"ON CONFLICT (key, month) DO UPDATE SET ({', '.join(MOVED_NAMES)}) = "
    f"({', '.join('excluded.' + name for name in MOVED_NAMES)}) "
    "WHERE {where} RETURNING key"
)
# Copied rows (`ledger migrate`) go in as they are, every column: COPY into a
# table of this transaction (psycopg writes COPY rows in C, several times the
# speed of building arrays), then one insert that leaves a key already there alone.
_COPY_TABLE = "CREATE TEMP TABLE copied ON COMMIT DROP AS "
_COPY_TABLE += f"SELECT {_COLUMNS} FROM sends WITH NO DATA"  # noqa: S608
_COPY_IN = f"COPY copied ({_COLUMNS}) FROM STDIN"
_COPY = f"INSERT INTO sends ({_COLUMNS}, month) SELECT r.*, {MONTH} FROM copied r "  # noqa: S608
_COPY += "ON CONFLICT (key, month) DO NOTHING RETURNING key"
_DONE = sorted(status.value for status in DONE)
_OPEN = sorted(status.value for status in Status if status not in DONE)
_RESOLVABLE = sorted(status.value for status in RESOLVABLE)
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
_T = TypeVar("_T")
Connection = psycopg.Connection[tuple[Any, ...]]


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

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        unique: dict[str, SendRecord] = {}
        for record in records:  # a key given twice is won once, by its first record
            unique.setdefault(record.key, record)
        ordered = [unique[key] for key in sorted(unique)]
        where, params = policy_where(
            MOVING, Operation.CLAIM, Status.PENDING, resend_uncertain=resend_uncertain
        )
        query = _CLAIM.format(where=where)

        def claim(conn: Connection) -> dict[str, tuple[int, Any]]:
            won = {}
            for start in range(0, len(ordered), _CLAIM_ROWS):
                chunk = ordered[start : start + _CLAIM_ROWS]
                for key, attempts, created in conn.execute(
                    query, (*columns(chunk, NAMES), *params)
                ):
                    won[key] = (attempts, created)
            return won

        several = len(ordered) > _CLAIM_ROWS  # one statement is atomic by itself
        won = self._retrying("cannot claim sends in", claim, atomic=several) if ordered else {}
        return [
            replace(record, attempts=won[record.key][0], created_at=won[record.key][1])
            for record in ordered
            if record.key in won
        ]

    def move(self, operation: Operation, records: Iterable[SendRecord]) -> list[str]:
        writes = _writes(operation, list(records))
        return self._retrying(
            f"cannot write ({operation.value}) sends in",
            lambda conn: _written(conn, writes),
            atomic=len(writes) > 1,
        )

    def insert_copies(self, records: Sequence[SendRecord]) -> set[str]:
        """Insert rows as they are, every column (`ledger migrate`); the keys inserted.

        One transaction; a key already in the ledger is left untouched (the
        caller compares it).
        """
        with self._transaction("cannot copy rows into") as conn:
            conn.execute(_COPY_TABLE)
            with conn.cursor().copy(_COPY_IN) as copy:
                for row in zip(*columns(records, NAMES), strict=True):
                    copy.write_row(row)
            conn.execute(MONTHS_OF.format(table="copied"))  # a ledger's history: its months
            return {key for (key,) in conn.execute(_COPY)}

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

    def resolve(
        self,
        decision: Decision,
        *,
        keys: Iterable[str] = (),
        schedule: str | None = None,
        occurrence: str | None = None,
    ) -> list[SendRecord]:
        # Read (locking the rows), check and write in one transaction: no row
        # changes status in between.
        wanted = list(keys)
        with self._transaction("cannot resolve sends in") as conn:
            if wanted:
                query = f"SELECT {_COLUMNS} FROM sends WHERE key = ANY(%s) FOR UPDATE"  # noqa: S608
                found = conn.execute(query, (wanted,))
            else:
                query = f"SELECT {_COLUMNS} FROM sends WHERE status = ANY(%s) "  # noqa: S608
                query += "AND (%s::text IS NULL OR schedule = %s) "
                query += "AND (%s::text IS NULL OR occurrence = %s) FOR UPDATE"
                found = conn.execute(
                    query, (_RESOLVABLE, schedule, schedule, occurrence, occurrence)
                )
            changed = decided([to_record(row) for row in found], wanted, decision)
            if refused := _written(conn, _writes(Operation.RESOLVE, changed)):
                raise ResolveRefused(f"rows changed while deciding them: {', '.join(refused)}")
        return changed

    # --- runs, leases and round locks (see runs.py) ---------------------------
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

    def recent_counts(self, last: int) -> Counts:
        with self._transaction("cannot read", atomic=False) as conn:
            return grouped(conn.execute(RECENT.replace("?", "%s"), (last,)))

    def open_uncertain(self, limit: int) -> Uncertain:
        query = OPEN_UNCERTAIN.replace("?", "%s")
        with self._transaction("cannot read", atomic=False) as conn:
            rows = conn.execute(query, (Status.UNCERTAIN.value, limit)).fetchall()
        return [(str(s), str(o), int(n)) for s, o, n in rows]

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

    def close(self) -> None:
        heartbeat = getattr(self, "_heartbeat", None)  # (absent if the open failed)
        if heartbeat is not None:
            heartbeat.stop()
            self._heartbeat = None
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()


# One guarded write: the statement, its parameters, and the records it writes.
_Write = tuple[str, tuple[object, ...], list[SendRecord]]


def _writes(operation: Operation, rows: list[SendRecord]) -> list[_Write]:
    """The statements of a move: one per target status (the table's rule differs by target).

    A key given twice goes in a later statement, so it is written in order.
    """
    waves: list[dict[str, SendRecord]] = []
    for record in rows:
        wave = next((w for w in waves if record.key not in w), None)
        if wave is None:
            waves.append(wave := {})
        wave[record.key] = record
    writes: list[_Write] = []
    for wave in waves:
        for target in sorted({r.status for r in wave.values()}):
            batch = [wave[k] for k in sorted(wave) if wave[k].status is target]
            if allows(operation, None, target, None):  # the move may insert
                where, params = policy_where(UPSERTING, operation, target)
                query, values = _UPSERT.format(where=where), columns(batch, NAMES)
            else:
                where, params = policy_where(MOVING, operation, target)
                query, values = _MOVE.format(where=where), columns(batch, _MOVE_NAMES)
            writes.append((query, (*values, *params), batch))
    return writes


def _written(conn: Connection, writes: list[_Write]) -> list[str]:
    """Run the writes on `conn`; the keys the table's rule refused (their rows untouched)."""
    refused: list[str] = []
    for query, values, batch in writes:
        done = {key for (key,) in conn.execute(query, values)}
        refused.extend(r.key for r in batch if r.key not in done)
    return refused
