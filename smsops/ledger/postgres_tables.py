"""The durable tables (tables.py) of the PostgreSQL ledger, for `ledger migrate` (migrate.py).

The source is streamed through a server-side cursor; each merge is one
transaction of the target (its writes and the reads they were decided on).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg

from smsops.core.errors import LedgerError
from smsops.ledger.tables import Decide, Row, Table, Writes, read_row

Connection = psycopg.Connection[tuple[Any, ...]]
_FETCH = 2000


class PostgresTables:
    def _transaction(
        self, doing: str, *, atomic: bool = True
    ) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # PostgresLedger's

    def table_rows(self, table: Table) -> Iterator[Row]:
        query = f"{table.select} ORDER BY {table.order}"
        with self._transaction("cannot read") as conn, conn.cursor(name="smsops_table") as rows:
            rows.itersize = _FETCH
            rows.execute(query)
            yield from (read_row(table, row, _parse) for row in rows)

    def table_merge(self, table: Table, decide: Decide, *, dry: bool) -> Writes:
        doing = "cannot read" if dry else f"cannot copy the {table.name} table into"
        with self._transaction(doing) as conn:

            def fetch(wanted: Table, values: Sequence[str]) -> list[Row]:
                query = f"{wanted.select} WHERE {wanted.lookup} = ANY(%s::text[])"
                found = conn.execute(query, (sorted(set(values)),))
                return [read_row(wanted, row, _parse) for row in found]

            writes = decide(fetch)
            if dry:
                return writes
            with conn.cursor() as cursor:
                for statement, rows in writes.statements("%s", tuple):
                    cursor.executemany(statement, rows)
        return writes


def _parse(column: str, value: object) -> datetime:  # pragma: no cover - timestamptz is read
    raise LedgerError(f"the ledger's {column} holds {type(value).__name__}, not a time")
