"""What only the PostgreSQL ledger has: migrations under a lock, read-only roles, URLs, many writers.

The shared contract (claims, guards, expiry, resolve, stats) runs on all three
backends in test_ledger.py and test_policy.py; these run on the session's
throwaway server (tests/postgres.py), each in a database of its own.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from smsops.core import secrets
from smsops.core.errors import LedgerError, UsageError
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.open import ledger_name, open_ledger
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.postgres_schema import MIGRATIONS
from tests.postgres import Cluster

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def record(recipient: str, occurrence: str = "once", by: str = "host:1:a") -> SendRecord:
    return SendRecord.claim(
        "s",
        occurrence,
        recipient,
        provider="ot",
        template="t",
        text_hash="h",
        segments=1,
        now=T0,
        claimed_by=by,
    )


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        return [t for (t,) in conn.execute(query)]


def test_several_processes_starting_at_once_migrate_once(postgres_db: str) -> None:
    """Six openers released together on an empty database: one migrates, all open, one version row.

    Each opener is a session of its own, as a process would be: without the
    advisory lock two would run CREATE TABLE and one would fail.
    """
    start = threading.Barrier(6)
    opened: list[PostgresLedger] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            opened.append(PostgresLedger(postgres_db))
        except BaseException as exc:  # collected, asserted below
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ledger in opened:
        ledger.close()
    assert failures == []
    assert len(opened) == 6
    assert versions(postgres_db) == list(range(1, len(MIGRATIONS) + 1))


def test_concurrent_claimers_never_share_a_key(postgres_db: str) -> None:
    """Four sessions claim the same 400 keys at once: each key is won exactly once."""
    PostgresLedger(postgres_db).close()
    wanted = [record(f"+4474001{i:05d}") for i in range(400)]
    start = threading.Barrier(4)
    won: list[list[str]] = []

    def claim(n: int) -> None:
        ledger = PostgresLedger(postgres_db)
        start.wait()
        try:
            mine = wanted[n * 50 :] + wanted[: n * 50]  # different orders
            won.append([r.key for r in ledger.claim(mine)])
        finally:
            ledger.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [key for one in won for key in one]
    assert len(won) == 4
    assert sorted(keys) == sorted(r.key for r in wanted)  # every key once, none twice


def test_a_select_only_role_reads_and_never_writes(
    postgres_cluster: Cluster, postgres_db: str
) -> None:
    """plan / ledger list open read-only: a role with SELECT alone reads everything; writes fail."""
    writer = PostgresLedger(postgres_db)
    (claimed,) = writer.claim([record("+447400100001")])
    writer.settle([claimed.settled(Status.SENT, T0, message_id="m")])
    writer.claim([record("+447400100002")])
    writer.close()
    database = conninfo_to_dict(postgres_db)["dbname"]
    role = f"reader_{database}"
    with postgres_cluster.admin(database) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(role)
            )
        )
    reader_url = postgres_cluster.url(database, user=role)
    try:
        reader = open_ledger(reader_url, readonly=True)
        assert isinstance(reader, PostgresLedger)
        assert reader.stats() == {"s": {"sent": 1, "pending": 1}}
        known = reader.known("s", "once")
        assert len(known.done) == 1
        assert [r.status for r in known.open.values()] == [Status.PENDING]
        assert [r.recipient for r in reader.records()] == sorted(
            ["+447400100001", "+447400100002"], key=lambda n: record(n).key
        )
        assert reader.uncertain_counts() == {}
        assert reader.newest_occurrence("s", "zzz") is None  # `once` is no fire time
        # Its sessions are read-only besides: even a write it tried would be refused.
        with pytest.raises(LedgerError, match="read-only transaction"):
            reader.claim([record("+447400100003")])
        reader.close()
    finally:
        with postgres_cluster.admin(database) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_readonly_on_a_database_smsops_never_wrote_is_an_empty_ledger(postgres_db: str) -> None:
    ledger = open_ledger(postgres_db, readonly=True)
    assert isinstance(ledger, MemoryLedger)  # nothing was ever sent
    assert tables(postgres_db) == []  # and nothing was created


def test_a_ledger_from_a_newer_smsops_is_refused(postgres_db: str) -> None:
    PostgresLedger(postgres_db).close()
    with psycopg.connect(postgres_db) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
    for readonly in (False, True):
        with pytest.raises(LedgerError, match="newer smsops; upgrade smsops") as refused:
            PostgresLedger(postgres_db, readonly=readonly)
        assert "postgresql://smsops_admin@/" in str(refused.value)


def test_rows_come_back_in_key_order_streamed(postgres_db: str) -> None:
    """5,000 rows in one claim statement; records() streams them in Python's key order."""
    ledger = PostgresLedger(postgres_db)
    wanted = [record(f"+4474002{i:05d}") for i in range(5000)]
    assert len(ledger.claim(reversed(wanted))) == 5000
    assert [r.key for r in ledger.records()] == sorted(r.key for r in wanted)
    assert ledger.stats() == {"s": {"pending": 5000}}
    ledger.close()


def test_urls_name_the_ledger_without_its_password(postgres_cluster: Cluster) -> None:
    url = "postgresql://ops:hunter2-secret@db.internal:6432/sms?sslmode=require"
    assert ledger_name(url) == "postgresql://ops@db.internal:6432/sms"
    assert secrets.scrub("x hunter2-secret y") == "x *** y"  # registered with the scrubber
    assert ledger_name("postgres:///sms?host=/run/pg") == "postgresql:///sms?host=/run/pg"
    socket_url = "postgresql://u@/sms?host=/run/pg&port=55432"  # two clusters, one socket dir
    assert ledger_name(socket_url) == "postgresql://u@/sms?host=/run/pg&port=55432"
    assert ledger_name("postgresql://u:x@[::1]:5432/db") == "postgresql://u@[::1]:5432/db"
    assert ledger_name("/srv/l.sqlite") == "/srv/l.sqlite"
    with pytest.raises(UsageError) as bad:
        ledger_name("postgresql://ops:p%zzword@h/db")
    assert "p%zzword" not in str(bad.value)


def test_password_from_the_url_is_used_and_never_shown(
    postgres_cluster: Cluster, postgres_db: str
) -> None:
    """Over TCP the server asks for the password (scram): the URL's works; a wrong one is named not."""
    database = conninfo_to_dict(postgres_db)["dbname"]
    good = postgres_cluster.tcp_url(database, password=postgres_cluster.password)
    ledger = open_ledger(good)
    assert isinstance(ledger, PostgresLedger)
    assert postgres_cluster.password not in ledger.name
    ledger.close()
    wrong = postgres_cluster.tcp_url(database, password="not-the-password-42")
    with pytest.raises(LedgerError, match="password authentication failed") as failed:
        open_ledger(wrong)
    assert "not-the-password-42" not in str(failed.value)
    assert f"postgresql://smsops_admin@127.0.0.1:{postgres_cluster.port}/{database}" in str(
        failed.value
    )


def test_a_write_blocked_by_another_writer_stops_after_the_wait_naming_it(
    postgres_db: str,
) -> None:
    ledger = PostgresLedger(postgres_db, wait=0.3)
    (claimed,) = ledger.claim([record("+447400100009")])
    holder = psycopg.connect(postgres_db, application_name="smsops apply (pid 7 on other)")
    try:
        holder.execute("SELECT 1 FROM sends WHERE key = %s FOR UPDATE", (claimed.key,))
        with pytest.raises(LedgerError, match="locked by another writer") as blocked:
            ledger.settle([claimed.settled(Status.SENT, T0, message_id="m")])
        assert "smsops apply (pid 7 on other)" in str(blocked.value)
    finally:
        holder.close()
    assert ledger.get([claimed.key])[claimed.key].status is Status.PENDING  # nothing written
    ledger.close()


def test_libpq_settings_pass_through_pgpassword_and_sslmode(
    postgres_cluster: Cluster, postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password may come from PGPASSWORD (never shown); sslmode reaches libpq as given."""
    database = conninfo_to_dict(postgres_db)["dbname"]
    url = postgres_cluster.tcp_url(database)  # no password in it
    monkeypatch.setenv("PGPASSWORD", postgres_cluster.password)
    ledger = open_ledger(url)
    assert isinstance(ledger, PostgresLedger)
    ledger.close()
    assert secrets.scrub(postgres_cluster.password) == "***"
    # The throwaway server has no TLS: sslmode=require is refused, as libpq says.
    with pytest.raises(LedgerError, match="server does not support SSL"):
        open_ledger(url + "?sslmode=require")
    monkeypatch.setenv("PGSSLMODE", "require")
    with pytest.raises(LedgerError, match="server does not support SSL"):
        open_ledger(url)
