"""What the status view reads of the ledger (engine/status.py): read-only, grouped, bounded.

- `recent`: rows per status of each schedule's `last` newest occurrences, in
  ONE grouped query. The occurrences are found by seeks on the
  `sends_by_schedule` index (schedule, occurrence, status): a recursive
  query steps from schedule to schedule (`min(schedule) > previous`) and,
  within each, from occurrence to the one before (`max(occurrence) <
  previous`), `last` times; only those occurrences' index entries are then
  counted. The cost is the rows of the occurrences shown, not the ledger's:
  a ledger of a million rows spread over old occurrences is not walked.
- `open_uncertain`: uncertain rows per (schedule, occurrence), at most
  `limit` groups: what needs a person, read through `sends_by_status`.
- Runs and their leases are `Run` rows (runs.py); memory has none.

The SQL text is shared by SQLite and PostgreSQL (`?` becomes `%s` there).
The Python versions read every row: the in-memory ledger's, and the
reference the SQL is tested against (tests/ledger/test_recent.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from smsops.ledger.policy import Status
from smsops.ledger.runs import Run

# schedule -> occurrence -> status -> rows
Counts = dict[str, dict[str, dict[str, int]]]
Uncertain = list[tuple[str, str, int]]  # (schedule, occurrence, uncertain rows), sorted


def newest_occurrences(table: str) -> str:
    """`recent(schedule, occurrence, depth)`: each schedule's `?` newest occurrences in
    `table` (one of ours: `sends`, `skips`), found by seeks on its index that starts with
    (schedule, occurrence), never by reading the table."""
    return f"""
WITH RECURSIVE
  names(name) AS (
    SELECT min(schedule) FROM {table}
    UNION ALL
    SELECT (SELECT min(s.schedule) FROM {table} s WHERE s.schedule > names.name)
    FROM names WHERE names.name IS NOT NULL
  ),
  recent(schedule, occurrence, depth) AS (
    SELECT names.name,
           (SELECT max(s.occurrence) FROM {table} s WHERE s.schedule = names.name), 1
    FROM names WHERE names.name IS NOT NULL
    UNION ALL
    SELECT recent.schedule,
           (SELECT max(s.occurrence) FROM {table} s
            WHERE s.schedule = recent.schedule AND s.occurrence < recent.occurrence),
           recent.depth + 1
    FROM recent WHERE recent.occurrence IS NOT NULL AND recent.depth < ?
  )
"""  # noqa: S608 - `table` is one of ours, never input


RECENT = (
    newest_occurrences("sends")
    + """
SELECT sends.schedule, sends.occurrence, sends.status, count(*)
FROM recent JOIN sends
  ON sends.schedule = recent.schedule AND sends.occurrence = recent.occurrence
GROUP BY sends.schedule, sends.occurrence, sends.status
"""
)
OPEN_UNCERTAIN = (
    "SELECT schedule, occurrence, count(*) FROM sends WHERE status = ? "
    "GROUP BY schedule, occurrence ORDER BY schedule, occurrence LIMIT ?"
)
RUNS = "SELECT id, host, pid, command, started_at, heartbeat_at, expires_at FROM runs ORDER BY id"


def run_of(row: Sequence[object]) -> Run:
    """A `RUNS` row (times as SQLite's text or PostgreSQL's timestamptz) as a `Run`."""
    run, host, pid, command, started, renewed, expires = row
    return Run(
        str(run), str(host), int(str(pid)), str(command),
        _time(started), _time(renewed), _time(expires),
    )  # fmt: skip


def _time(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def grouped(rows: Iterable[tuple[object, ...]]) -> Counts:
    """`RECENT`'s rows as nested counts."""
    counts: Counts = {}
    for schedule, occurrence, status, count in rows:
        per = counts.setdefault(str(schedule), {}).setdefault(str(occurrence), {})
        per[str(status)] = int(str(count))
    return counts


def recent_of(rows: Iterable[tuple[str, str, Status]], last: int) -> Counts:
    """`RECENT` computed from every row's (schedule, occurrence, status)."""
    every: Counts = {}
    for schedule, occurrence, status in rows:
        per = every.setdefault(schedule, {}).setdefault(occurrence, {})
        per[status.value] = per.get(status.value, 0) + 1
    return {
        schedule: {o: occurrences[o] for o in sorted(occurrences, reverse=True)[:last]}
        for schedule, occurrences in every.items()
    }


def uncertain_of(rows: Iterable[tuple[str, str, Status]], limit: int) -> Uncertain:
    """`OPEN_UNCERTAIN` computed from every row's (schedule, occurrence, status)."""
    groups: dict[tuple[str, str], int] = {}
    for schedule, occurrence, status in rows:
        if status is Status.UNCERTAIN:
            groups[schedule, occurrence] = groups.get((schedule, occurrence), 0) + 1
    return [(s, o, n) for (s, o), n in sorted(groups.items())[:limit]]
