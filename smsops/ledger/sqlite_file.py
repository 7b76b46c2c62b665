"""The SQLite ledger's file: opening it safely, its schema version, its writers, its transactions.

What is not about sends: the ledger's rules live in `SqliteLedger` (sqlite.py)
and, as data, in policy.py.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from smsops.core.errors import LedgerError, LedgerFull
from smsops.core.files import kind_of
from smsops.core.processes import alive
from smsops.ledger.recent import RUNS, run_of
from smsops.ledger.runs import FORGET_AFTER, Heartbeat, Run, lease_length, run_id
from smsops.ledger.sqlite_schema import MIGRATIONS

# Seconds a writer waits for another's write transaction before it gives up.
WAIT = 10.0
_HOST = socket.gethostname()
# Every commit of a writer syncs the WAL before it returns: a claim must survive
# a power loss or an OS crash, or the next run could send it again. With NORMAL
# (WAL's usual partner) SQLite documents that a commit "might roll back
# following a power loss or system crash". What it costs: docs/benchmarks.md
# (bench/durability.py, which sets NORMAL here to measure the difference).
SYNCHRONOUS = "FULL"
# A settlement (`SqliteLedger.settle`) is committed without a sync of its own:
# every reader sees it at once, a crash of the process loses nothing (the OS
# holds the write), and the next synced commit (a claim, the lease's renewal,
# the checkpoint when the ledger closes) makes it durable with everything
# before it, the WAL being synced whole. A power loss before then takes the
# row back to its claim, `pending`, which the next run turns `uncertain`:
# never a resend. What it saves: one sync per on-demand send, the one its
# answer waited for (docs/benchmarks.md §16; bench/api_latency.py sets FULL
# here to measure the difference).
SETTLEMENT_SYNCHRONOUS = "NORMAL"
# How `PRAGMA synchronous` answers (its levels, by number).
_SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class SqliteFile:
    """`readonly` opens an existing file without writing anything (for `plan`).

    The connection is shared by threads: run mode plans in worker threads (so
    its HTTP endpoints keep answering), several schedules' rounds at once,
    while the event loop claims and settles. A transaction belongs to the
    connection, not to a thread, so every read and write transaction holds
    `_lock`: another thread's statement can never land inside (or BEGIN
    within) a transaction that is not its own.

    A writer waits at most `wait` seconds for another's write transaction,
    then fails with a `LedgerError` naming the smsops processes that said
    they write this ledger (the `writers` table: each writable open adds a
    row, its close removes it; rows of dead processes on this host are
    ignored and cleared).
    """

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        wait: float = WAIT,
        command: str = "smsops",
    ) -> None:
        self.path = path
        self.wait = wait
        self.readonly = readonly
        self._lock = threading.RLock()  # one transaction (or read) at a time, see above
        self._writes = 0  # 1 inside a write transaction (held with `_lock`: one thread's)
        self._writer = f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"
        self._heartbeat: Heartbeat | None = None
        self._run = run_id()
        if path.is_dir():
            raise LedgerError(
                f"the ledger {str(path)!r} is a directory; --ledger / SMSOPS_LEDGER names the "
                f"ledger file itself, e.g. {str(path / 'ledger.sqlite')!r}"
            )
        # SQLite opens a FIFO and waits on it for a writer forever, and reads /dev/zero as a
        # database of version 0 ("apply upgrades it"): a ledger is a regular file or none.
        if path.exists() and not path.is_file():
            kind = kind_of(path.stat().st_mode) or "not a file"
            raise LedgerError(
                f"the ledger {str(path)!r} is {kind}, not a regular file; "
                "--ledger / SMSOPS_LEDGER names an SQLite file (or one to create)"
            )
        try:
            if readonly:
                self._db = self._open_read_only()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(
                    path, isolation_level=None, timeout=wait, check_same_thread=False
                )
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open the ledger {str(path)!r}: {_reason(exc)}") from None
        try:
            self._db.row_factory = sqlite3.Row
            if readonly:
                self._check_version(readonly=True)
            else:
                self._use_wal()
                self._synchronous(SYNCHRONOUS)
                self._migrate()
                self._register(command)
                lease = lease_length()
                self.register_run(Run.this(command, datetime.now(UTC), lease))
                self._heartbeat = Heartbeat(self.renew_lease, lease, ledger=str(path.resolve()))
        except sqlite3.Error as exc:
            self._db.close()
            raise self._failure(exc, "cannot open") from None
        except BaseException:
            self._db.close()
            raise

    def _connect(self, uri: str) -> sqlite3.Connection:
        return sqlite3.connect(
            uri, uri=True, isolation_level=None, timeout=self.wait, check_same_thread=False
        )

    def _open_read_only(self) -> sqlite3.Connection:
        """The file opened for reading only, also where nothing may be written (a read-only volume).

        A WAL file is read through its `-shm` index, which the first reader
        creates next to it. Where it cannot (a read-only file system or
        folder) and no `-shm` is there, SQLite cannot open the file read-only
        (SQLITE_CANTOPEN). Then, if no `-wal` holds commits, the file alone is
        the whole ledger and is opened `immutable` (no index, no locks): SQLite
        then assumes nobody changes it while it is read, which holds for a
        read-only volume. A `-wal` with commits cannot be read without its
        index, and the file alone would miss them (a sent row shown as still
        to send): refused, saying what to do.
        """
        uri = self.path.resolve().as_uri()
        db = self._connect(uri + "?mode=ro")
        try:
            db.execute("PRAGMA user_version").fetchone()  # opens the file and its WAL index
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            cannot = getattr(exc, "sqlite_errorname", "").startswith("SQLITE_CANTOPEN")
            if not cannot or not self.path.is_file():
                raise
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise LedgerError(
                f"cannot read the ledger {str(self.path)!r} in this read-only place: its "
                f"write-ahead log {wal.name!r} holds changes not yet in the file, which SQLite "
                f"reads only where it may create {self.path.name + '-shm'!r} beside it, and the "
                "file alone would miss them (nothing was read). Let a writable open finish it "
                "(any `smsops apply` on it, where it is writable), or copy the file with its "
                "-wal to a writable folder and read the copy"
            )
        return self._connect(uri + "?mode=ro&immutable=1")

    def _use_wal(self) -> None:
        """Switch the file to WAL, retrying while another process switches it at the same time.

        Changing the journal mode answers SQLITE_BUSY at once, without the
        busy wait, when another connection is opening the new file too (seen
        when several applies start on a new ledger together).
        """
        deadline = time.monotonic() + self.wait
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY")
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _check_version(self, *, readonly: bool) -> int:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise LedgerError(
                f"the ledger {str(self.path)!r} has schema version {version}, newer than this "
                f"smsops knows ({len(MIGRATIONS)}): it was written by a newer smsops; upgrade "
                "smsops to use it (nothing was changed)"
            )
        if readonly and version < len(MIGRATIONS):
            raise LedgerError(
                f"the ledger {str(self.path)!r} has schema version {version}; this smsops "
                f"uses {len(MIGRATIONS)}. `smsops apply` upgrades it (reading never writes)"
            )
        return int(version)

    def _migrate(self) -> None:
        """Bring the schema up to date, once, however many processes open a new file at once.

        The version is read again inside an immediate transaction: whoever
        takes the write lock first migrates, the others then find the work done.
        """
        if self._check_version(readonly=False) == len(MIGRATIONS):
            return
        with self._writing("cannot upgrade"):
            version = self._check_version(readonly=False)
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    def _register(self, command: str) -> None:
        """Say who writes this ledger (named when another writer finds it locked)."""
        gone = [
            writer
            for writer, host, pid in self._db.execute("SELECT id, host, pid FROM writers")
            if host == _HOST and not alive(pid)
        ]
        with self._writing("cannot open"):
            self._db.executemany("DELETE FROM writers WHERE id = ?", [(w,) for w in gone])
            self._db.execute(
                "INSERT INTO writers (id, host, pid, command, since) VALUES (?, ?, ?, ?, ?)",
                (self._writer, _HOST, os.getpid(), command, _now()),
            )

    def register_run(self, run: Run) -> None:
        """Record `run` and its lease (again: renewed); forget runs long over (see runs.py)."""
        forget = (run.started_at - FORGET_AFTER).isoformat()
        with self._writing("cannot register this run in"):
            self._db.execute("DELETE FROM runs WHERE expires_at < ?", (forget,))
            self._db.execute(
                "INSERT OR REPLACE INTO runs (id, host, pid, command, started_at, heartbeat_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.host,
                    run.pid,
                    run.command,
                    run.started_at.isoformat(),
                    run.heartbeat_at.isoformat(),
                    run.expires_at.isoformat(),
                ),
            )

    def renew_lease(self, now: datetime, expires: datetime, run: str | None = None) -> None:
        """This run's lease (or `run`'s) now lasts until `expires`; `expires=now` ends it."""
        with self._writing("cannot renew this run's lease in"):
            self._db.execute(
                "UPDATE runs SET heartbeat_at = ?, expires_at = ? WHERE id = ?",
                (now.isoformat(), expires.isoformat(), run or self._run),
            )

    def durability(self) -> str | None:
        if self.readonly:
            return None
        with self._reading():
            (level,) = self._db.execute("PRAGMA synchronous").fetchone()
        return f"synchronous={_SYNCHRONOUS_NAMES.get(level, str(level))}"

    def leases(self) -> dict[str, datetime]:
        with self._reading():
            rows = self._db.execute("SELECT id, expires_at FROM runs").fetchall()
        return {run: datetime.fromisoformat(expires) for run, expires in rows}

    def runs(self) -> list[Run]:
        with self._reading():
            rows = self._db.execute(RUNS).fetchall()
        return [run_of(row) for row in rows]

    def writers(self) -> list[str]:
        """The other smsops processes that say they write this ledger, as one line each."""
        try:
            rows = self._db.execute(
                "SELECT id, host, pid, command, since FROM writers ORDER BY since"
            ).fetchall()
        except sqlite3.Error:
            return []  # an old schema, or even reading is blocked: nothing to name
        # A process on another host cannot be checked from here (a killed pod
        # leaves its row): it is named with that caveat, newest first, at most 5.
        named = [
            f"{command} (pid {pid} on {host}, since {since}"
            + (")" if host == _HOST else "; another host, it may have stopped)")
            for writer, host, pid, command, since in reversed(rows)
            if writer != self._writer and (host != _HOST or alive(pid))
        ]
        return named[:5]

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """One immediate write transaction; sqlite errors become a LedgerError saying why.

        After SQLITE_FULL (and some I/O errors) SQLite has already rolled the
        transaction back itself, so ROLLBACK is issued only when one is open.
        A write inside this thread's own write transaction (a settle's look for
        parked receipts) is part of it: it commits or rolls back with it.
        """
        with self._lock:
            if self._writes:  # inside this thread's own write transaction: part of it
                yield
                return
            self._writes += 1
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        with suppress(sqlite3.Error):
                            self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._failure(exc, doing) from None
            finally:
                self._writes -= 1

    @contextmanager
    def _settling(self) -> Iterator[None]:
        """The commits inside at SETTLEMENT_SYNCHRONOUS, the connection's own level after.

        The lock is held throughout, so no other thread's transaction (a claim)
        commits at this level; the level is set outside any transaction.
        """
        with self._lock:
            self._synchronous(SETTLEMENT_SYNCHRONOUS)
            try:
                yield
            finally:
                self._synchronous(SYNCHRONOUS)

    def _synchronous(self, level: str) -> None:
        try:
            self._db.execute(f"PRAGMA synchronous={level}")
        except sqlite3.Error as exc:
            raise self._failure(exc, "cannot set how commits are synced in") from None

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Reads fail as clearly as writes (a non-WAL lock, a damaged file)."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise self._failure(exc, "cannot read") from None

    def _failure(self, exc: sqlite3.Error, doing: str) -> LedgerError:
        name = getattr(exc, "sqlite_errorname", "")
        where = f"{doing} the ledger {str(self.path)!r}"
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            writers = self.writers()
            who = (
                "smsops processes writing it: " + "; ".join(writers)
                if writers
                else "no smsops process says it is writing it, so another program (an sqlite3 "
                "shell, a backup) may hold it"
            )
            return LedgerError(
                f"{where}: it is locked, another process is writing it and did not finish "
                f"within {self.wait:g} s ({who}). Nothing was written; run again when it is "
                "done (SMSOPS_LEDGER_WAIT sets how many seconds to wait)"
            )
        if name.startswith("SQLITE_FULL"):
            return LedgerFull(
                f"{where}: the disk is full (SQLite: {exc}). Nothing was written by this step; "
                "free some space and run again"
            )
        return LedgerError(f"{where}: {_reason(exc)}")

    def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        with self._lock:
            if not self.readonly:
                with suppress(sqlite3.Error):  # a full disk or a lock: a row of a dead pid
                    self._db.execute("DELETE FROM writers WHERE id = ?", (self._writer,))
            self._db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _reason(exc: BaseException) -> str:
    """What went wrong, in words a user can act on."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return (
            "the file is not an SQLite database, so not an smsops ledger; check --ledger / "
            "SMSOPS_LEDGER (nothing was changed)"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return "the file cannot be opened or created (check that its folder exists and is writable)"
    if name.startswith("SQLITE_READONLY"):
        return "the file is read-only for this user"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
