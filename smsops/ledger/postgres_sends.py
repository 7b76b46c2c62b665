"""The PostgreSQL ledger's writes of sends: claims (an upsert guarded by the policy
table's claim rule, RETURNING the rows won), moves (a guarded UPDATE per target status,
the upsert form where the move may insert), resolve, and copied rows (`ledger migrate`).
Every write is one statement per batch, its rows one array per column (`unnest`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from smsops.core.errors import ResolveRefused
from smsops.ledger.base import RESOLVABLE, Decision, SendRecord, Status, decided
from smsops.ledger.partitions import MONTHS_OF
from smsops.ledger.policy import Operation, allows
from smsops.ledger.postgres_connection import Connection, PostgresConnection
from smsops.ledger.postgres_reads import _CLAIM_ROWS, _COLUMNS
from smsops.ledger.postgres_schema import (
    MONTH,
    MOVED_NAMES,
    MOVING,
    NAMES,
    UPSERTING,
    columns,
    to_record,
    unnest,
)
from smsops.ledger.sql_policy import policy_where

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
_RESOLVABLE = sorted(status.value for status in RESOLVABLE)


class PostgresSends(PostgresConnection):
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
