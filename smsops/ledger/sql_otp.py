"""One-time codes in SQL (SQLite and PostgreSQL): the tables, and `OtpRows` as statements.

One spelling for both backends: statements are written with `%s` and
SQLite's `?` is put in by `SqlOtpRows` when told; times are `datetime`s for
PostgreSQL (timestamptz) and ISO 8601 text in UTC for SQLite, which sorts
as the times it names because every time is written with the same offset.
The rules are otp.py's; each backend wraps these statements in a
transaction that holds the number (sqlite_otp.py, postgres_otp.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from smsops.ledger.otp import LIVE, CodeStatus, OtpCode, OtpEvent, OtpRows

# The tables (a migration of each backend: `{time}` and `{serial}` in its types).
TABLES = """
    CREATE TABLE IF NOT EXISTS otp_codes (
        id text PRIMARY KEY,
        recipient text NOT NULL,
        provider text NOT NULL,
        template text NOT NULL,
        digest text,
        created_at {time} NOT NULL,
        expires_at {time} NOT NULL,
        max_attempts integer NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        status text NOT NULL,
        approved_at {time}
    );
    CREATE INDEX IF NOT EXISTS otp_codes_by_recipient ON otp_codes (recipient, created_at);
    CREATE TABLE IF NOT EXISTS otp_events (
        seq {serial},
        at {time} NOT NULL,
        action text NOT NULL,
        recipient text NOT NULL,
        provider text,
        template text,
        outcome text NOT NULL,
        code_id text
    );
    CREATE INDEX IF NOT EXISTS otp_events_by_recipient ON otp_events (recipient, seq);
"""
CODE_COLUMNS = (
    "id, recipient, provider, template, digest, created_at, expires_at, max_attempts, "
    "attempts, status, approved_at"
)
EVENT_COLUMNS = "at, action, recipient, provider, template, outcome, code_id"
_LIVE = sorted(status.value for status in (*LIVE, CodeStatus.APPROVED))
_SELECT = f"SELECT {CODE_COLUMNS} FROM otp_codes "  # noqa: S608 - constant column list
_RECENT = _SELECT + "WHERE recipient = %s AND created_at > %s"
_NEWEST = (
    _SELECT
    + "WHERE recipient = %s AND status IN ({live}) AND (CAST(%s AS text) IS NULL OR provider = %s) "
)
_NEWEST += "ORDER BY created_at DESC, id DESC LIMIT 1"
_GET = _SELECT + "WHERE id = %s"
_INSERT = f"INSERT INTO otp_codes ({CODE_COLUMNS}) VALUES ({', '.join(['%s'] * 11)})"  # noqa: S608
_UPDATE = "UPDATE otp_codes SET attempts = %s, status = %s, approved_at = %s WHERE id = %s"
_EVENT = f"INSERT INTO otp_events ({EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
EVENTS = f"SELECT {EVENT_COLUMNS} FROM otp_events "  # noqa: S608 - constant column list
EVENTS += "WHERE (CAST(%s AS text) IS NULL OR recipient = %s) ORDER BY seq"

Execute = Callable[[str, Sequence[Any]], list[Sequence[Any]]]


class SqlOtpRows(OtpRows):
    """`OtpRows` over `execute(statement, values) -> rows`, in one transaction the caller holds.

    `sqlite`: statements take `?` and times are stored as ISO 8601 text.
    """

    def __init__(self, execute: Execute, *, sqlite: bool) -> None:
        self._execute, self.sqlite = execute, sqlite

    def _run(self, statement: str, values: Sequence[Any]) -> list[Sequence[Any]]:
        if self.sqlite:
            statement = statement.replace("%s", "?")
        return self._execute(statement, values)

    def time(self, value: datetime | None) -> Any:
        if value is None or not self.sqlite:
            return value
        return value.astimezone(UTC).isoformat()

    def recent(self, recipient: str, since: datetime) -> list[OtpCode]:
        return [code_of(row) for row in self._run(_RECENT, (recipient, self.time(since)))]

    def newest(self, recipient: str, provider: str | None) -> OtpCode | None:
        statement = _NEWEST.format(live=", ".join(f"'{status}'" for status in _LIVE))
        rows = self._run(statement, (recipient, provider, provider))
        return code_of(rows[0]) if rows else None

    def get(self, code_id: str) -> OtpCode | None:
        rows = self._run(_GET, (code_id,))
        return code_of(rows[0]) if rows else None

    def insert(self, code: OtpCode) -> None:
        values = (
            code.id, code.recipient, code.provider, code.template, code.digest,
            self.time(code.created_at), self.time(code.expires_at), code.max_attempts,
            code.attempts, code.status.value, self.time(code.approved_at),
        )  # fmt: skip
        self._run(_INSERT, values)

    def update(self, code: OtpCode) -> None:
        values = (code.attempts, code.status.value, self.time(code.approved_at), code.id)
        self._run(_UPDATE, values)

    def event(self, event: OtpEvent) -> None:
        values = (
            self.time(event.at), event.action, event.recipient, event.provider, event.template,
            event.outcome, event.code_id,
        )  # fmt: skip
        self._run(_EVENT, values)


def _time(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def code_of(row: Sequence[Any]) -> OtpCode:
    """A stored code (CODE_COLUMNS, times as stored) as an `OtpCode`."""
    cid, recipient, provider, template, digest, created, expires, most, attempts, status, ok = row
    return OtpCode(
        id=str(cid), recipient=str(recipient), provider=str(provider), template=str(template),
        digest=None if digest is None else str(digest), created_at=_time(created),
        expires_at=_time(expires), max_attempts=int(most), attempts=int(attempts),
        status=CodeStatus(str(status)), approved_at=None if ok is None else _time(ok),
    )  # fmt: skip


def event_of(row: Sequence[Any]) -> OtpEvent:
    """A stored event (EVENT_COLUMNS) as an `OtpEvent`."""
    at, action, recipient, provider, template, outcome, code_id = row
    return OtpEvent(
        _time(at), str(action), str(recipient), provider, template, str(outcome), code_id
    )
