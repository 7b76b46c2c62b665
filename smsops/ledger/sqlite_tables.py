"""The durable tables (tables.py) of the SQLite ledger, for `ledger migrate` (migrate.py).

Times are written as ISO 8601 text in UTC, as the ledger writes them, and
read back with any offset (an older smsops wrote some with the caller's).
A merge is one immediate write transaction: the target's rows it reads
cannot change before its writes commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime

from smsops.ledger.sqlite_file import SqliteFile
from smsops.ledger.sqlite_schema import checked_time, utc
from smsops.ledger.tables import Decide, Row, Table, Writes, read_row

_FETCH = 1000  # rows read per lock hold, as records() reads


class SqliteTables(SqliteFile):
    def table_rows(self, table: Table) -> Iterator[Row]:
        with self._reading():
            rows = self._db.execute(f"{table.select} ORDER BY {table.order}")
        while True:  # the lock is held per chunk, never while the caller holds a row
            with self._reading():
                chunk = rows.fetchmany(_FETCH)
            if not chunk:
                return
            yield from (_read(table, row) for row in chunk)

    def table_merge(self, table: Table, decide: Decide, *, dry: bool) -> Writes:
        def fetch(wanted: Table, values: Sequence[str]) -> list[Row]:
            query = f"{wanted.select} WHERE {wanted.lookup} IN (SELECT value FROM json_each(?))"  # noqa: S608
            found = self._db.execute(query, (json.dumps(sorted(set(values))),))
            return [_read(wanted, row) for row in found]

        if dry:
            with self._reading():
                return decide(fetch)
        with self._writing(f"cannot copy the {table.name} table into"):
            writes = decide(fetch)
            for statement, rows in writes.statements("?", _stored):
                self._db.executemany(statement, rows)
        return writes


def _read(table: Table, row: Sequence[object]) -> Row:
    def parse(column: str, value: object) -> datetime:
        return checked_time(table.name, f"{table.name}.{column}", value)

    return read_row(table, tuple(row), parse)


def _stored(row: Row) -> Row:
    return tuple(utc(value) if isinstance(value, datetime) else value for value in row)
