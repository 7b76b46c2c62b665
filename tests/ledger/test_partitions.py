"""The PostgreSQL sends table partitioned by month (partitions.py): migration, key, months.

A ledger written by the previous schema (every migration but the last, rows
inserted as that smsops wrote them) is opened by this smsops: every row is
there, in the partition of its occurrence's month, and a claim of any of
them again is refused (exactly once holds across the migration).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from smsops.core.reserved import API_MESSAGES, OPT_OUT_CONFIRM
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.postgres_schema import MIGRATIONS, NAMES, PARTITIONED, columns, unnest
from tests.ledger.seeding import BY, NOW, row

# Occurrences of every kind a ledger holds, and hostile ones.
LABELS = [
    ("daily", "2026-11-22T09:00:00Z"),  # a UTC fire time
    ("local", "2026-12-01T09:00:00"),  # a recipient's wall clock
    ("daily", "once"),
    (OPT_OUT_CONFIRM, "2026-10-05T10:11:12.000001+00:00"),
    (API_MESSAGES, "2026-11-not-a-date"),  # an idempotency key that looks like a month
    (API_MESSAGES, "order-1234"),
    ("otp:login", "5f0e"),
    ("daily", "0000-01-01T00:00:00Z"),  # no such year
    ("daily", "9999-12-31T00:00:00Z"),  # far ahead: the default partition
    ("daily", "2026-13-01T00:00:00Z"),  # no such month
]
EXPECTED_PARTITION = [
    "sends_2026_11", "sends_2026_12", "sends_undated", "sends_2026_10", "sends_undated",
    "sends_undated", "sends_undated", "sends_undated", "sends_default", "sends_undated",
]  # fmt: skip


def old_ledger(url: str, records: list[SendRecord]) -> None:
    """The schema before partitioning (every migration before PARTITIONED) with `records`
    written as it wrote them."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for number, script in enumerate(MIGRATIONS[: MIGRATIONS.index(PARTITIONED)], start=1):
            conn.execute(script.encode())
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        conn.execute(
            f"INSERT INTO sends ({', '.join(NAMES)}) SELECT * FROM {unnest(NAMES)}",
            columns(records, NAMES),
        )


def partition_of(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT key, tableoid::regclass::text FROM sends").fetchall()
    return {key: table for key, table in rows}


def test_a_ledger_of_the_previous_schema_migrates_with_its_rows(postgres_db: str) -> None:
    records = [row(s, o, f"+1555000{i:04d}", Status.SENT) for i, (s, o) in enumerate(LABELS)]
    old_ledger(postgres_db, records)
    ledger = PostgresLedger(postgres_db)
    try:
        assert ledger.version == len(MIGRATIONS)
        stored = ledger.get(r.key for r in records)
        assert stored == {r.key: r for r in records}
        where = partition_of(postgres_db)
        assert [where[r.key] for r in records] == EXPECTED_PARTITION
        again = [
            SendRecord.claim(
                r.schedule, r.occurrence, r.recipient, provider="aoc", template="t",
                text_hash="h", segments=1, now=NOW, claimed_by=BY,
            )
            for r in records
        ]  # fmt: skip
        assert ledger.claim(again) == []  # every key is still claimed: none sent twice
        assert ledger.claim(again, resend_uncertain=True) == []
    finally:
        ledger.close()
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT to_regclass('sends_unpartitioned')").fetchone() == (None,)


def test_a_month_made_later_takes_its_rows_out_of_the_default_partition(postgres_db: str) -> None:
    ledger = PostgresLedger(postgres_db)
    try:
        far = row("daily", "2031-05-02T09:00:00Z", "+15550001111", Status.SENT)
        assert len(ledger.claim([far])) == 1
        assert partition_of(postgres_db)[far.key] == "sends_default"
        with psycopg.connect(postgres_db, autocommit=True) as conn:
            assert conn.execute("SELECT smsops_add_month('2031-05-17')").fetchone() == (True,)
            assert conn.execute("SELECT smsops_add_month('2031-05-01')").fetchone() == (False,)
        assert partition_of(postgres_db)[far.key] == "sends_2031_05"
        assert ledger.claim([far]) == []  # still met by the claim's unique key
        assert list(ledger.get([far.key])) == [far.key]
    finally:
        ledger.close()


def test_every_open_makes_the_months_ahead(postgres_db: str) -> None:
    PostgresLedger(postgres_db).close()
    now = datetime.now(UTC)
    with psycopg.connect(postgres_db) as conn:
        query = "SELECT relname FROM pg_class WHERE relname LIKE 'sends_2%' AND relkind = 'r'"
        made = {name for (name,) in conn.execute(query)}
    months = {(now.year * 12 + now.month - 1 + n) for n in range(-1, 4)}
    assert {f"sends_{m // 12}_{m % 12 + 1:02d}" for m in months} <= made


@pytest.mark.parametrize("kind", ["claim", "plan read"])
def test_the_reads_of_a_plan_and_a_claim_touch_one_partition(postgres_db: str, kind: str) -> None:
    """The planner prunes partitions: an occurrence's read scans only its month's."""
    ledger = PostgresLedger(postgres_db)
    ledger.close()
    with psycopg.connect(postgres_db) as conn:
        if kind == "plan read":
            query = (
                "EXPLAIN SELECT key FROM sends WHERE schedule = 'd' AND occurrence = "
                "'2026-11-22T09:00:00Z' AND status = ANY('{sent}') "
                "AND month = smsops_month('d', '2026-11-22T09:00:00Z')"
            )
        else:
            query = (
                "EXPLAIN SELECT 1 FROM sends WHERE key = 'k' AND month = "
                "smsops_month('d', '2026-11-22T09:00:00Z')"
            )
        plan = "\n".join(line for (line,) in conn.execute(query))
    assert "sends_2026_11" in plan
    assert "sends_default" not in plan
    assert "sends_undated" not in plan


def test_prune_empties_a_month_whole_by_truncate_and_deletes_a_part(postgres_db: str) -> None:
    ledger = PostgresLedger(postgres_db)
    try:
        with psycopg.connect(postgres_db, autocommit=True) as conn:
            conn.execute("SELECT smsops_add_month('2025-01-01'), smsops_add_month('2025-02-01')")
        january = [
            row("d", f"2025-01-{d:02d}T09:00:00Z", f"+1555000{d:04d}", Status.SENT) for d in (3, 9)
        ]
        february = [row("d", "2025-02-03T09:00:00Z", "+15550001", Status.SENT)]
        february.append(row("d", "2025-02-04T09:00:00Z", "+15550002", Status.SENT))
        ledger.insert_copies(january + february)
        pairs = [(r.schedule, r.occurrence) for r in january + february[:1]]
        done = ledger.prune(pairs, NOW + timedelta(seconds=1), None)
        assert (done.rows, done.months) == (3, 1)
        assert set(ledger.get(r.key for r in january + february)) == {february[1].key}
        with psycopg.connect(postgres_db) as conn:
            assert conn.execute("SELECT count(*) FROM sends_2025_01").fetchone() == (0,)
    finally:
        ledger.close()


def test_a_long_run_makes_the_months_ahead_again_in_a_new_month(postgres_db: str) -> None:
    """The first lease renewal of a month makes its partitions (a daemon runs for months)."""
    ledger = PostgresLedger(postgres_db)
    try:
        later = datetime(2031, 2, 10, tzinfo=UTC)
        ledger.renew_lease(later, later + timedelta(minutes=1))
        with psycopg.connect(postgres_db) as conn:
            query = "SELECT to_regclass(%s) IS NOT NULL"
            made = [conn.execute(query, (f"sends_2031_{m:02d}",)).fetchone() for m in range(1, 6)]
        assert made == [(True,)] * 5
    finally:
        ledger.close()
