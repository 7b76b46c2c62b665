"""The SQLite ledger's schema (its migrations), its rows as `SendRecord`s, and its rules as SQL.

The rules are not written here: `policy_where` (sql_policy.py, shared with
PostgreSQL) turns the policy table's rows into an SQL condition, the statuses
passed as parameters; `SQLITE` says how SQLite spells each condition.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime

from smsops.core.errors import LedgerError
from smsops.core.phone import scrub_numbers
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.held import SKIP_PARTS
from smsops.ledger.held import TABLES as HELD_TABLES
from smsops.ledger.policy import Operation
from smsops.ledger.pruning import WATERMARK_TABLE
from smsops.ledger.sql_otp import TABLES as OTP_TABLES
from smsops.ledger.sql_policy import Dialect
from smsops.ledger.sql_policy import policy_where as shared_where

# Each entry moves the schema one version up (PRAGMA user_version); never change what
# one does (IF NOT EXISTS was added to the first: it changes nothing once migrated).
MIGRATIONS = (
    """
    CREATE TABLE IF NOT EXISTS sends (
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
    CREATE INDEX IF NOT EXISTS sends_by_schedule ON sends (schedule, occurrence, status);
    CREATE INDEX IF NOT EXISTS sends_by_status ON sends (status, created_at);
    """,
    """
    ALTER TABLE sends ADD COLUMN claimed_by TEXT;
    ALTER TABLE sends ADD COLUMN retryable INTEGER NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE sends ADD COLUMN resolved_by TEXT;
    ALTER TABLE sends ADD COLUMN resolved_at TEXT;
    ALTER TABLE sends ADD COLUMN resolution TEXT;
    CREATE TABLE IF NOT EXISTS writers (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        command TEXT NOT NULL,
        since TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    """,
    # Delivery receipts and the suppression list (issue 21; receipts.py, suppressions.py).
    """
    ALTER TABLE sends ADD COLUMN receipt_at TEXT;
    ALTER TABLE sends ADD COLUMN receipt_code TEXT;
    ALTER TABLE sends ADD COLUMN receipt_error TEXT;
    CREATE INDEX IF NOT EXISTS sends_by_message ON sends (provider_message_id, provider);
    CREATE TABLE IF NOT EXISTS parked_receipts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        provider TEXT NOT NULL,
        message_id TEXT NOT NULL,
        delivery TEXT NOT NULL,
        code TEXT NOT NULL,
        error TEXT,
        at TEXT,
        parked_at TEXT NOT NULL,
        UNIQUE (provider, message_id)
    );
    CREATE INDEX IF NOT EXISTS parked_by_age ON parked_receipts (parked_at);
    CREATE TABLE IF NOT EXISTS suppressions (
        number TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        keyword TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS opt_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        number TEXT NOT NULL,
        action TEXT NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        keyword TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS opt_events_by_number ON opt_events (number, id);
    """,
    # One-time codes: keyed hashes, expiry, attempts; every request and outcome (issue 22).
    OTP_TABLES.format(time="TEXT", serial="INTEGER PRIMARY KEY AUTOINCREMENT"),
    # What rounds decided besides sends: held schedules, skips per occurrence (issue 23).
    HELD_TABLES.format(time="TEXT"),
    # The prune watermark: a pruned occurrence is never due again (issue 24; pruning.py).
    WATERMARK_TABLE.format(time="TEXT"),
    # Skips per shard of an occurrence, so units' plans record theirs (issue 24; held.py).
    SKIP_PARTS,
)
COLUMNS = (
    "key, schedule, occurrence, recipient, provider, template, text_hash, segments, status, "
    "provider_message_id, attempts, error, created_at, updated_at, claimed_by, retryable, "
    "resolved_by, resolved_at, resolution, receipt_at, receipt_code, receipt_error"
)
# What a move (settle, stale mark, receipt, resolve) may change of a row.
MOVED = (
    "status, provider, provider_message_id, attempts, error, retryable, updated_at, "
    "resolved_by, resolved_at, resolution, receipt_at, receipt_code, receipt_error"
)


_KEY = re.compile(r"[0-9a-f]{32}")  # OccurrenceKeys.text


def marks(count: int) -> str:
    return ",".join("?" * count)


def row_values(r: SendRecord) -> tuple[object, ...]:
    """The values of COLUMNS, in order."""
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
        utc(r.created_at),  # in UTC: the text orders as time (claimed_since compares it)
        utc(r.updated_at),
        r.claimed_by,
        r.retryable,
        r.resolved_by,
        iso(r.resolved_at),
        r.resolution,
        iso(r.receipt_at),
        r.receipt_code,
        r.receipt_error,
    )


def moved_values(r: SendRecord) -> tuple[object, ...]:
    """The values of MOVED, in order."""
    return (
        r.status.value,
        r.provider,
        r.provider_message_id,
        r.attempts,
        r.error,
        r.retryable,
        utc(r.updated_at),
        r.resolved_by,
        iso(r.resolved_at),
        r.resolution,
        iso(r.receipt_at),
        r.receipt_code,
        r.receipt_error,
    )


def utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _shown(value: object) -> str:
    """A stored value quoted in an error, anything like a phone number in it masked.

    A key as smsops writes it (32 hex digits) is shown whole: it names the
    row, and its digit runs are no number.
    """
    if isinstance(value, str) and _KEY.fullmatch(value):
        return repr(value)
    return scrub_numbers(repr(value))


def checked_status(key: str, value: str) -> Status:
    """A stored status, or a LedgerError when no rule of this smsops knows it."""
    try:
        return Status(value)
    except ValueError:  # another program (or a newer smsops) wrote the row
        raise LedgerError(
            f"the ledger row {_shown(key)} has the status {_shown(value)}, which is none of "
            f"{', '.join(Status)}: the ledger was changed by another program or a newer smsops. "
            "No rule of this smsops moves such a row, so it is never sent again; fix or delete "
            "the row to read the ledger (nothing was changed)"
        ) from None


def checked_time(key: str, column: str, value: object) -> datetime:
    """A stored time (ISO 8601, as smsops writes it), or a LedgerError naming row and column.

    smsops writes every time with its UTC offset; one without (another
    program's) is read as UTC, like a time given to `--at`.
    """
    try:
        when = datetime.fromisoformat(value)  # type: ignore[arg-type]  # checked by trying
    except (TypeError, ValueError):  # another program wrote the row, or a hand edit
        raise LedgerError(
            f"the ledger row {_shown(key)} has the {column} {_shown(value)}, which is not an "
            "ISO 8601 time (smsops writes e.g. 2026-11-22T09:00:00+00:00): the ledger was "
            "changed by another program. Fix or delete the row to read the ledger (nothing was "
            "changed)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def to_record(row: sqlite3.Row) -> SendRecord:
    data = dict(row)
    key = data["key"]
    data["status"] = checked_status(key, data["status"])
    data["created_at"] = checked_time(key, "created_at", data["created_at"])
    data["updated_at"] = checked_time(key, "updated_at", data["updated_at"])
    data["retryable"] = bool(data["retryable"])
    for column in ("resolved_at", "receipt_at"):
        if data[column] is not None:
            data[column] = checked_time(key, column, data[column])
    return SendRecord(**data)


# Each condition of the table in SQLite: a `?` takes the call's value (the
# resend flag, or the run the caller says holds the row).
SQLITE = Dialect(
    mark="?",
    false="0",
    always="1",
    retryable="sends.retryable = 1",
    resend_asked="?",
    holder="sends.claimed_by IS ?",
)


def policy_where(
    operation: Operation,
    target: Status,
    *,
    resend_uncertain: bool = False,
    holder: str | None = None,
) -> tuple[str, tuple[object, ...]]:
    """The table's moves of `operation` into `target` as SQLite SQL (see sql_policy)."""
    return shared_where(SQLITE, operation, target, resend_uncertain=resend_uncertain, holder=holder)
