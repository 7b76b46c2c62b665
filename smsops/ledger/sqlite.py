"""The embedded ledger: one SQLite file in WAL mode, schema versioned by migrations."""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from smsops.core.errors import LedgerError, ResolveRefused
from smsops.ledger.base import (
    DONE,
    RESOLVABLE,
    Decision,
    Known,
    Ledger,
    SendRecord,
    Status,
    decided,
)
from smsops.ledger.policy import Operation
from smsops.ledger.sqlite_schema import COLUMNS as _COLUMNS
from smsops.ledger.sqlite_schema import MIGRATIONS as MIGRATIONS
from smsops.ledger.sqlite_schema import MOVED, moved_values, policy_where, row_values
from smsops.ledger.sqlite_schema import marks as _marks
from smsops.ledger.sqlite_schema import to_record as _record

# Seconds a writer waits for another's write transaction before it gives up.
WAIT = 10.0
_HOST = socket.gethostname()

# The claim: inserting the key wins it. An existing row is taken over only where
# the policy table lets a claim take it (`{where}`, generated from the table);
# the RETURNING row says who won and carries the attempts made so far.
# Many rows go in one statement (the per-statement overhead of a statement a
# row was most of a claim's cost); RETURNING names the rows won, by key.
_CLAIM = (
    f"INSERT INTO sends ({_COLUMNS}) VALUES {{rows}} "  # noqa: S608 - constant column list
    "ON CONFLICT (key) DO UPDATE SET "
    "status = excluded.status, provider = excluded.provider, template = excluded.template, "
    "text_hash = excluded.text_hash, segments = excluded.segments, error = NULL, "
    "retryable = 0, updated_at = excluded.updated_at, claimed_by = excluded.claimed_by "
    "WHERE {where} "
    "RETURNING key, attempts, created_at"
)
_CLAIM_ROWS = 500  # rows a statement: 500 x 16 values, under SQLite's 32,766 variables
_ROW_MARKS = f"({_marks(len(_COLUMNS.split(',')))})"
# A move writes a row only where the table lets it (`{where}`, checked by the UPDATE itself).
_MOVE = f"UPDATE sends SET ({MOVED}) = ({_marks(len(MOVED.split(',')))}) "  # noqa: S608
_MOVE += "WHERE key = ? AND ({where})"
_DONE = sorted(status.value for status in DONE)
_OPEN = sorted(status.value for status in Status if status not in DONE)
_RESOLVABLE = sorted(status.value for status in RESOLVABLE)


def _in_statuses(
    columns: str, statuses: list[str], schedule: str, occurrence: str
) -> tuple[str, tuple[str, ...]]:
    """One occurrence's rows in these statuses (seeks on the index on all three)."""
    where = f"schedule = ? AND occurrence = ? AND status IN ({_marks(len(statuses))})"
    return f"SELECT {columns} FROM sends WHERE {where}", (schedule, occurrence, *statuses)  # noqa: S608


class SqliteLedger(Ledger):
    """`readonly` opens an existing file without writing anything (for `plan`).

    The connection may be used from another thread (run mode plans in a worker
    thread so its HTTP endpoints keep answering), one caller at a time:
    Python's sqlite3 is built serialized.

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
        self._writer = f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"
        if path.is_dir():
            raise LedgerError(
                f"the ledger {str(path)!r} is a directory; --ledger / SMSOPS_LEDGER names the "
                f"ledger file itself, e.g. {str(path / 'ledger.sqlite')!r}"
            )
        try:
            if readonly:
                uri = path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, timeout=wait, check_same_thread=False
                )
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
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
                self._register(command)
        except sqlite3.Error as exc:
            self._db.close()
            raise self._failure(exc, "cannot open") from None
        except BaseException:
            self._db.close()
            raise

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
            if host == _HOST and not _alive(pid)
        ]
        with self._writing("cannot open"):
            self._db.executemany("DELETE FROM writers WHERE id = ?", [(w,) for w in gone])
            self._db.execute(
                "INSERT INTO writers (id, host, pid, command, since) VALUES (?, ?, ?, ?, ?)",
                (self._writer, _HOST, os.getpid(), command, _now()),
            )

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
            if writer != self._writer and (host != _HOST or _alive(pid))
        ]
        return named[:5]

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """One immediate write transaction; sqlite errors become a LedgerError saying why.

        After SQLITE_FULL (and some I/O errors) SQLite has already rolled the
        transaction back itself, so ROLLBACK is issued only when one is open.
        """
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

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Reads fail as clearly as writes (a non-WAL lock, a damaged file)."""
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
            return LedgerError(
                f"{where}: the disk is full (SQLite: {exc}). Nothing was written by this step; "
                "free some space and run again"
            )
        return LedgerError(f"{where}: {_reason(exc)}")

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        ordered = sorted(records, key=lambda r: r.key)  # sorted keys insert ~5x faster
        won: dict[str, tuple[int, str]] = {}
        where, params = policy_where(
            Operation.CLAIM, Status.PENDING, resend_uncertain=resend_uncertain
        )
        with self._writing("cannot claim sends in"):
            for start in range(0, len(ordered), _CLAIM_ROWS):
                chunk = ordered[start : start + _CLAIM_ROWS]
                query = _CLAIM.format(rows=", ".join([_ROW_MARKS] * len(chunk)), where=where)
                values = [value for record in chunk for value in row_values(record)]
                for key, attempts, created_at in self._db.execute(query, (*values, *params)):
                    won[key] = (attempts, created_at)
        claimed = []
        for record in ordered:  # a key given twice is won once, by its first record
            if (found := won.pop(record.key, None)) is not None:
                attempts, created_at = found
                claimed.append(
                    replace(
                        record, attempts=attempts, created_at=datetime.fromisoformat(created_at)
                    )
                )
        return claimed

    def move(self, operation: Operation, records: Iterable[SendRecord]) -> list[str]:
        with self._writing(f"cannot write ({operation.value}) sends in"):
            return self._move(operation, records)

    def _move(self, operation: Operation, records: Iterable[SendRecord]) -> list[str]:
        """The guarded UPDATEs, inside the caller's write transaction; the keys refused."""
        refused = []
        for record in sorted(records, key=lambda r: r.key):
            where, params = policy_where(operation, record.status, holder=record.claimed_by)
            query = _MOVE.format(where=where)
            done = self._db.execute(query, (*moved_values(record), record.key, *params))
            if done.rowcount != 1:
                refused.append(record.key)
        return refused

    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]:
        found: dict[str, SendRecord] = {}
        wanted = list(keys)
        with self._reading():
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = f"SELECT {_COLUMNS} FROM sends WHERE key IN ({_marks(len(chunk))})"  # noqa: S608
                for row in self._db.execute(query, chunk):
                    found[row[0]] = _record(row)
        return found

    def known(self, schedule: str, occurrence: str) -> Known:
        # Both seek the index on (schedule, occurrence, status), which holds the
        # key too (WITHOUT ROWID): ~0.5 s per million done rows. The open rows
        # are asked for by their statuses (NOT IN would scan the done ones too).
        with self._reading():
            keys = self._db.cursor()
            keys.row_factory = None  # plain tuples: a million sqlite3.Row objects cost ~0.2 s
            keys.execute(*_in_statuses("key", _DONE, schedule, occurrence))
            rest = self._db.execute(*_in_statuses(_COLUMNS, _OPEN, schedule, occurrence))
            return Known.of((key for (key,) in keys), {row[0]: _record(row) for row in rest})

    def records(
        self, schedule: str | None = None, status: Status | None = None
    ) -> Iterator[SendRecord]:
        query = f"SELECT {_COLUMNS} FROM sends WHERE (? IS NULL OR schedule = ?) "  # noqa: S608
        query += "AND (? IS NULL OR status = ?) ORDER BY key"
        state = status.value if status else None
        with self._reading():
            for row in self._db.execute(query, (schedule, schedule, state, state)):
                yield _record(row)

    def has_sends(self, schedule: str, occurrence: str | None = None) -> bool:
        query = "SELECT 1 FROM sends WHERE schedule = ? AND (? IS NULL OR occurrence = ?) LIMIT 1"
        with self._reading():
            found = self._db.execute(query, (schedule, occurrence, occurrence)).fetchone()
        return found is not None

    def uncertain_counts(self) -> dict[str, int]:
        query = "SELECT schedule, count(*) FROM sends WHERE status = ? GROUP BY schedule"
        with self._reading():
            return {row[0]: row[1] for row in self._db.execute(query, (Status.UNCERTAIN.value,))}

    def resolve(
        self,
        decision: Decision,
        *,
        keys: Iterable[str] = (),
        schedule: str | None = None,
        occurrence: str | None = None,
    ) -> list[SendRecord]:
        # Read, check and write in one write transaction: no row changes status in between.
        wanted = list(keys)
        with self._writing("cannot resolve sends in"):
            if wanted:
                rows = list(self.get(wanted).values())
            else:
                query = (
                    f"SELECT {_COLUMNS} FROM sends WHERE status IN ({_marks(len(_RESOLVABLE))}) "  # noqa: S608
                )
                query += "AND (? IS NULL OR schedule = ?) AND (? IS NULL OR occurrence = ?)"
                found = self._db.execute(
                    query, (*_RESOLVABLE, schedule, schedule, occurrence, occurrence)
                )
                rows = [_record(row) for row in found]
            changed = decided(rows, wanted, decision)
            if refused := self._move(Operation.RESOLVE, changed):  # read in this transaction
                raise ResolveRefused(f"rows changed while deciding them: {', '.join(refused)}")
        return changed

    def close(self) -> None:
        if not self.readonly:
            with suppress(sqlite3.Error):  # a full disk or a lock: a row of a dead pid
                self._db.execute("DELETE FROM writers WHERE id = ?", (self._writer,))
        self._db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    """Whether a process of this host still exists (a crashed writer leaves its row behind)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


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
