"""The embedded ledger: one SQLite file in WAL mode, schema versioned by migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from smsops.core.errors import SmsopsError
from smsops.ledger.base import DONE, Known, Ledger, SendRecord, Status

# Each entry moves the schema one version up (PRAGMA user_version); never edit one.
MIGRATIONS = (
    """
    CREATE TABLE sends (
        key TEXT PRIMARY KEY,
        schedule TEXT NOT NULL,
        occurrence TEXT NOT NULL,
        recipient TEXT NOT NULL,
        provider TEXT NOT NULL,
        template TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        segments INTEGER NOT NULL,
        status TEXT NOT NULL,
        provider_message_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sends_by_schedule ON sends (schedule, occurrence, status);
    CREATE INDEX sends_by_status ON sends (status, created_at);
    """,
    """
    ALTER TABLE sends ADD COLUMN claimed_by TEXT;
    ALTER TABLE sends ADD COLUMN retryable INTEGER NOT NULL DEFAULT 0;
    """,
)
_COLUMNS = (
    "key, schedule, occurrence, recipient, provider, template, text_hash, segments, status, "
    "provider_message_id, attempts, error, created_at, updated_at, claimed_by, retryable"
)

# The claim: inserting the key wins it. An existing row is taken over only when
# it failed retryably (or is uncertain and the user asked to resend those); the
# RETURNING row says who won and carries the attempts made so far.
# Many rows go in one statement (the per-statement overhead of a statement a
# row was most of a claim's cost); RETURNING names the rows won, by key.
_CLAIM = (
    f"INSERT INTO sends ({_COLUMNS}) VALUES {{rows}} "  # noqa: S608 - constant column list
    "ON CONFLICT (key) DO UPDATE SET "
    "status = excluded.status, provider = excluded.provider, template = excluded.template, "
    "text_hash = excluded.text_hash, segments = excluded.segments, error = NULL, "
    "retryable = 0, updated_at = excluded.updated_at, claimed_by = excluded.claimed_by "
    "WHERE (sends.status = 'failed' AND sends.retryable = 1) "
    "OR (sends.status = 'uncertain' AND ?) "
    "RETURNING key, attempts, created_at"
)
_CLAIM_ROWS = 500  # rows a statement: 500 x 16 values, under SQLite's 32,766 variables


def _marks(count: int) -> str:
    return ",".join("?" * count)


_ROW_MARKS = f"({_marks(len(_COLUMNS.split(',')))})"
_DONE = sorted(status.value for status in DONE)
_OPEN = sorted(status.value for status in Status if status not in DONE)


def _in_statuses(
    columns: str, statuses: list[str], schedule: str, occurrence: str
) -> tuple[str, tuple[str, ...]]:
    """One occurrence's rows in these statuses (seeks on the index on all three)."""
    where = f"schedule = ? AND occurrence = ? AND status IN ({_marks(len(statuses))})"
    return f"SELECT {columns} FROM sends WHERE {where}", (schedule, occurrence, *statuses)  # noqa: S608


class LedgerError(SmsopsError):
    """The ledger cannot be opened or used."""


class SqliteLedger(Ledger):
    """`readonly` opens an existing file without writing anything (for `plan`).

    The connection may be used from another thread (run mode plans in a worker
    thread so its HTTP endpoints keep answering), one caller at a time:
    Python's sqlite3 is built serialized.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                uri = path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False
                )
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(
                    path, isolation_level=None, timeout=30, check_same_thread=False
                )
            self._db.row_factory = sqlite3.Row
            if readonly:
                self._check_version(readonly=True)
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open the ledger {str(path)!r}: {exc}") from None

    def _check_version(self, *, readonly: bool) -> int:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise LedgerError(
                f"the ledger {str(self.path)!r} has schema version {version}, newer than this "
                f"smsops knows ({len(MIGRATIONS)}); upgrade smsops"
            )
        if readonly and version < len(MIGRATIONS):
            raise LedgerError(
                f"the ledger {str(self.path)!r} has schema version {version}; this smsops "
                f"uses {len(MIGRATIONS)}. `smsops apply` upgrades it (reading never writes)"
            )
        return int(version)

    def _migrate(self) -> None:
        version = self._check_version(readonly=False)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        ordered = sorted(records, key=lambda r: r.key)  # sorted keys insert ~5x faster
        won: dict[str, tuple[int, str]] = {}
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(ordered), _CLAIM_ROWS):
                chunk = ordered[start : start + _CLAIM_ROWS]
                query = _CLAIM.format(rows=", ".join([_ROW_MARKS] * len(chunk)))
                values = [value for record in chunk for value in _row(record)]
                for key, attempts, created_at in self._db.execute(
                    query, (*values, resend_uncertain)
                ):
                    won[key] = (attempts, created_at)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
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

    def settle(self, records: Iterable[SendRecord]) -> None:
        rows = [
            (
                r.status.value,
                r.provider,
                r.provider_message_id,
                r.attempts,
                r.error,
                r.retryable,
                r.updated_at.isoformat(),
                r.key,
            )
            for r in sorted(records, key=lambda r: r.key)
        ]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "UPDATE sends SET status = ?, provider = ?, provider_message_id = ?, "
                "attempts = ?, error = ?, retryable = ?, updated_at = ? WHERE key = ?",
                rows,
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]:
        found: dict[str, SendRecord] = {}
        wanted = list(keys)
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
        for row in self._db.execute(query, (schedule, schedule, state, state)):
            yield _record(row)

    def has_sends(self, schedule: str, occurrence: str | None = None) -> bool:
        query = "SELECT 1 FROM sends WHERE schedule = ? AND (? IS NULL OR occurrence = ?) LIMIT 1"
        return self._db.execute(query, (schedule, occurrence, occurrence)).fetchone() is not None

    def close(self) -> None:
        self._db.close()


def _row(r: SendRecord) -> tuple[object, ...]:
    return (
        r.key,
        r.schedule,
        r.occurrence,
        r.recipient,
        r.provider,
        r.template,
        r.text_hash,
        r.segments,
        r.status.value,
        r.provider_message_id,
        r.attempts,
        r.error,
        r.created_at.isoformat(),
        r.updated_at.isoformat(),
        r.claimed_by,
        r.retryable,
    )


def _record(row: sqlite3.Row) -> SendRecord:
    data = dict(row)
    data["status"] = Status(data["status"])
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    data["updated_at"] = datetime.fromisoformat(data["updated_at"])
    data["retryable"] = bool(data["retryable"])
    return SendRecord(**data)
