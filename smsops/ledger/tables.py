"""The ledger's durable tables besides `sends`, as `ledger migrate` reads and writes them.

A ledger keeps more than its sends: the suppression list and its history,
parked early receipts, held schedules, skips, the prune watermark, one-time
codes and their events. Each is described here once (its columns, which are
times, how a batch finds the target's rows of it) for both SQL backends
(sqlite_tables.py, postgres_tables.py); what a copy does with them is
migrate.py's.

Rows travel as tuples in `columns` order, times as aware datetimes in UTC
whatever the engine stored (SQLite: ISO text, PostgreSQL: timestamptz), so a
row compares equal across engines. Serial ids (`opt_events.id`,
`parked_receipts.seq`, `otp_events.seq`) are not copied: the target numbers
the rows it takes, in the source's order.

Left out on purpose, as they describe the processes using one ledger, not
what it recorded: `writers` and `runs` (who has it open, their leases),
`units`, `pace` and `pace_holds` (PostgreSQL's shared work and provider
limits), and `schema_version` (each ledger has its own).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from smsops.ledger.sql_otp import CODE_COLUMNS, EVENT_COLUMNS

Row = tuple[object, ...]


def _names(columns: str) -> tuple[str, ...]:
    """A column list as the SQL modules spell it ("a, b") as names."""
    return tuple(name.strip() for name in columns.split(","))


@dataclass(frozen=True)
class Table:
    """One durable table: what is copied of it and how a batch finds the target's rows."""

    name: str
    columns: tuple[str, ...]  # copied (serial ids left out)
    times: frozenset[str]
    lookup: str  # an indexed text column: the target's rows of a batch are those it names
    order: str  # the source is read in this order (the history's: its own)
    key: tuple[str, ...] = ()  # what names one row (a delete's WHERE); () for histories
    group: tuple[str, ...] = ()  # rows one batch never splits (an occurrence's skips)

    def at(self, column: str) -> int:
        return self.columns.index(column)

    def of(self, row: Row, names: Sequence[str]) -> Row:
        return tuple(row[self.at(name)] for name in names)

    @property
    def select(self) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {self.name}"  # noqa: S608 - constants

    def insert(self, mark: str) -> str:
        marks = ", ".join([mark] * len(self.columns))
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})"  # noqa: S608

    def delete(self, mark: str) -> str:
        where = " AND ".join(f"{name} = {mark}" for name in self.key)
        return f"DELETE FROM {self.name} WHERE {where}"  # noqa: S608 - constant names


OPT_EVENTS = Table(
    "opt_events",
    ("number", "action", "at", "source", "keyword"),
    frozenset({"at"}),
    lookup="number",
    order="id",
)
SUPPRESSIONS = Table(
    "suppressions",
    ("number", "at", "source", "keyword"),
    frozenset({"at"}),
    lookup="number",
    order="number",
    key=("number",),
)
PARKED = Table(
    "parked_receipts",
    ("provider", "message_id", "delivery", "code", "error", "at", "parked_at"),
    frozenset({"at", "parked_at"}),
    lookup="message_id",
    order="seq",
    key=("provider", "message_id"),
)
HOLDS = Table(
    "holds",
    ("schedule", "reason", "detail", "since"),
    frozenset({"since"}),
    lookup="schedule",
    order="schedule",
    key=("schedule",),
)
SKIPS = Table(
    "skips",
    ("schedule", "occurrence", "part", "reason", "count"),
    frozenset(),
    lookup="schedule",
    order="schedule, occurrence, part, reason",
    key=("schedule", "occurrence", "part", "reason"),
    group=("schedule", "occurrence"),
)
PRUNED = Table(
    "pruned",
    ("schedule", "through"),
    frozenset({"through"}),
    lookup="schedule",
    order="schedule",
    key=("schedule",),
)
OTP_CODES = Table(
    "otp_codes",
    _names(CODE_COLUMNS),
    frozenset({"created_at", "expires_at", "approved_at"}),
    lookup="id",
    order="id",
    key=("id",),
)
OTP_EVENTS = Table(
    "otp_events",
    _names(EVENT_COLUMNS),
    frozenset({"at"}),
    lookup="recipient",
    order="seq",
)
# In the order they are copied: the history before the list it decides.
TABLES = (OPT_EVENTS, SUPPRESSIONS, PARKED, HOLDS, SKIPS, PRUNED, OTP_CODES, OTP_EVENTS)
RUNTIME = ("writers", "runs", "units", "pace", "pace_holds", "schema_version")


# What a batch does to the target: rows inserted and deleted (a change is both, by key),
# and how each source row (or target row, for a lift) was counted, per table.
@dataclass
class Writes:
    inserts: list[tuple[Table, Row]] = field(default_factory=list)
    deletes: list[tuple[Table, Row]] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def count(self, table: Table, outcome: str, n: int = 1) -> None:
        self.counts[(table.name, outcome)] += n

    def statements(
        self, mark: str, stored: Callable[[Row], Row]
    ) -> Iterator[tuple[str, list[Row]]]:
        """The writes as (statement, rows) for executemany: every delete before any insert."""
        for writes, spell in ((self.deletes, Table.delete), (self.inserts, Table.insert)):
            by: dict[str, list[Row]] = {}
            for table, row in writes:
                values = table.of(row, table.key) if spell is Table.delete else stored(row)
                by.setdefault(spell(table, mark), []).append(values)
            yield from by.items()


# The target's rows of `table` whose `lookup` column is one of the values (read in the
# batch's own transaction).
Fetch = Callable[[Table, Sequence[str]], list[Row]]
Decide = Callable[[Fetch], Writes]


@runtime_checkable
class TableStore(Protocol):
    """A ledger whose durable tables can be read whole and merged into (SQLite, PostgreSQL)."""

    def table_rows(self, table: Table) -> Iterator[Row]:
        """Every row of `table`, in its `order`, streamed."""
        ...

    def table_merge(self, table: Table, decide: Decide, *, dry: bool) -> Writes:
        """In one transaction: `decide` (reading the target through its Fetch), then its
        writes, deletes first; with `dry`, only the decision (nothing is written)."""
        ...


def read_row(table: Table, row: Sequence[object], parse: Callable[[str, object], datetime]) -> Row:
    """A stored row as it travels: times as aware datetimes in UTC (`parse` reads the
    engine's own, naming the column in its error)."""
    values = list(row)
    for name in table.times:
        index = table.at(name)
        if (value := values[index]) is not None:
            when = value if isinstance(value, datetime) else parse(name, value)
            values[index] = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    return tuple(values)
