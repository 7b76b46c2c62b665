"""`smsops ledger migrate`: SQLite -> PostgreSQL -> SQLite row for row, idempotent, conflicts refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from smsops.cli import main
from smsops.ledger.base import Decision, SendRecord, Status
from smsops.ledger.copy import BATCH, copy_ledger, fingerprint
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.postgres_schema import MIGRATIONS
from smsops.ledger.rules import resolved
from smsops.ledger.sqlite import SqliteLedger

NOW = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)


def rows() -> list[SendRecord]:
    """One row in every status, and every optional column filled somewhere."""
    made = []
    for i, status in enumerate(Status):
        made.append(
            SendRecord.claim(
                "greet",
                f"2026-11-{10 + i}",
                f"+4474001234{i:02d}",
                provider="ot",
                template="hello",
                text_hash=f"h{i}",
                segments=1 + i % 3,
                now=NOW + timedelta(minutes=i),
                claimed_by=f"host:{100 + i}:run",
            ).settled(
                status,
                NOW + timedelta(hours=i, microseconds=i),
                message_id=f"msg-{i}" if i % 2 else None,
                error=f"error {i}: naïve ✓" if i % 2 == 0 else None,
                attempts=i,
                retryable=status is Status.FAILED,
            )
        )
    uncertain = next(r for r in made if r.status is Status.UNCERTAIN)
    decision = Decision(Status.FAILED, "provider dashboard: not sent", "ops@host", NOW)
    made.append(resolved(replace(uncertain, key="f" * 32, occurrence="resolved"), decision))
    return made


def sqlite_with(path: Path, records: list[SendRecord]) -> None:
    ledger = SqliteLedger(path)
    assert ledger.insert_copies(records) == {r.key for r in records}
    ledger.close()


def everything(location: str) -> list[SendRecord]:
    ledger = (
        PostgresLedger(location)
        if location.startswith("postgresql")
        else SqliteLedger(Path(location))
    )
    try:
        return list(ledger.records())
    finally:
        ledger.close()


def migrate(source: str, target: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["ledger", "migrate", "--from", source, "--to", target])
    out, err = capsys.readouterr()
    return code, out + err


def test_sqlite_to_postgres_and_back_is_equal_row_for_row(
    tmp_path: Path, postgres_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    original = rows()
    assert {r.status for r in original} == set(Status)
    first, back = tmp_path / "first.sqlite", tmp_path / "back.sqlite"
    sqlite_with(first, original)

    code, out = migrate(str(first), postgres_db, capsys)
    assert code == 0, out
    assert f"{len(original)} rows" in out
    assert "verified: 8 rows identical" in out
    for line in ("  expired              1              0          0", "  failed               2"):
        assert line in out
    assert "  total                8              0          0" in out
    assert everything(postgres_db) == sorted(original, key=lambda r: r.key)

    code, out = migrate(postgres_db, f"sqlite:///{back}", capsys)
    assert code == 0, out
    returned = everything(str(back))
    assert returned == sorted(original, key=lambda r: r.key)
    assert [fingerprint(r) for r in returned] == [
        fingerprint(r) for r in sorted(original, key=lambda r: r.key)
    ]
    # The very text SQLite held, not only equal instants: created/updated/resolved_at too.
    columns = "key, created_at, updated_at, resolved_at, retryable, resolution, resolved_by"

    def raw(path: Path) -> list[tuple[object, ...]]:
        with sqlite3.connect(path) as db:
            return db.execute(f"SELECT {columns} FROM sends ORDER BY key").fetchall()

    assert raw(first) == raw(back)


def test_a_rerun_copies_nothing_and_a_conflict_is_refused_untouched(
    tmp_path: Path, postgres_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "l.sqlite"
    original = rows()
    sqlite_with(source, original)
    assert migrate(str(source), postgres_db, capsys)[0] == 0

    code, out = migrate(str(source), postgres_db, capsys)
    assert code == 0, out
    assert "  total                0              8          0" in out

    # The target's row of one key now says something else; and the source has a new row.
    changed = next(r for r in original if r.status is Status.EXPIRED)
    with psycopg.connect(postgres_db) as conn:
        conn.execute(
            "UPDATE sends SET status = 'sent', attempts = 9 WHERE key = %s", (changed.key,)
        )
    extra = replace(original[0], key="0" * 32, occurrence="new")
    sqlite = SqliteLedger(source)
    sqlite.insert_copies([extra])
    sqlite.close()

    code, out = migrate(str(source), postgres_db, capsys)
    assert code == 1, out
    assert "  total                1              7          1" in out
    assert (
        f"conflict {changed.key} ({changed.status.value}): the target's row differs in status, attempts"
        in out
    )
    assert "nothing was overwritten" in out
    target = {r.key: r for r in everything(postgres_db)}
    assert target[changed.key].status is Status.SENT
    assert target[changed.key].attempts == 9
    assert target[extra.key] == extra


def test_copy_streams_in_batches_and_verifies(tmp_path: Path) -> None:
    """Batches smaller than the ledger; SQLite to SQLite (any stored ledger to any other)."""
    original = rows()
    sqlite_with(tmp_path / "a.sqlite", original)
    source, target = SqliteLedger(tmp_path / "a.sqlite"), SqliteLedger(tmp_path / "b.sqlite")
    target.insert_copies([original[2]])  # already there, identical
    try:
        outcome = copy_ledger(source, target, batch=3)
    finally:
        source.close()
        target.close()
    assert sum(outcome.copied.values()) == len(original) - 1
    assert outcome.already == {original[2].status.value: 1}
    assert outcome.verified_ok
    assert outcome.verified == len(original)
    assert everything(str(tmp_path / "b.sqlite")) == sorted(original, key=lambda r: r.key)


def test_a_missing_source_is_a_clear_error_and_creates_nothing(
    tmp_path: Path, postgres_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = migrate(str(tmp_path / "nope.sqlite"), str(tmp_path / "t.sqlite"), capsys)
    assert code == 1
    assert "no ledger at" in out
    assert "nope.sqlite" in out
    assert "Traceback" not in out
    assert not (tmp_path / "t.sqlite").exists()
    code, out = migrate(postgres_db, str(tmp_path / "t.sqlite"), capsys)  # a database never written
    assert code == 1
    assert "holds no smsops ledger" in out
    assert "Traceback" not in out
    assert not (tmp_path / "t.sqlite").exists()
    for memory in (["memory://", postgres_db], [postgres_db, "memory://"]):
        code, out = migrate(*memory, capsys)
        assert code == 1
        assert "memory:// holds nothing" in out
    code, out = migrate(str(tmp_path / "x"), f"sqlite:///{tmp_path / 'x'}", capsys)
    assert code == 1
    assert "both name" in out


def test_a_newer_schema_target_is_refused_and_untouched(
    tmp_path: Path, postgres_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "l.sqlite"
    sqlite_with(source, rows())
    PostgresLedger(postgres_db).close()
    with psycopg.connect(postgres_db) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
    code, out = migrate(str(source), postgres_db, capsys)
    assert code == 1
    assert "newer than this smsops knows" in out
    assert "Traceback" not in out
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT count(*) FROM sends").fetchone() == (0,)
    newer = tmp_path / "newer.sqlite"
    SqliteLedger(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    code, out = migrate(str(source), str(newer), capsys)  # a newer SQLite target
    assert code == 1
    assert "has schema version 99, newer than this smsops knows" in out
    with sqlite3.connect(newer) as db:
        assert db.execute("SELECT count(*) FROM sends").fetchone() == (0,)


def test_an_unreachable_server_is_a_clear_error_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = tmp_path / "l.sqlite"
    sqlite_with(source, rows())
    monkeypatch.setenv("SMSOPS_LEDGER_WAIT", "2")
    url = f"postgresql://smsops:s3cret-pw@127.0.0.1:{port}/ledger"
    code, out = migrate(str(source), url, capsys)
    assert code == 1
    assert f"cannot open the ledger postgresql://smsops@127.0.0.1:{port}/ledger" in out
    assert "s3cret-pw" not in out
    assert "Traceback" not in out


def test_many_rows_copy_in_batches_not_row_by_row(tmp_path: Path, postgres_db: str) -> None:
    """12,000 rows: three target transactions of `BATCH`, each verified, none row by row."""
    template = rows()[1]
    many = [
        replace(template, key=f"{i:032x}", recipient=f"+4474{i:08d}", occurrence=f"o{i % 7}")
        for i in range(12_000)
    ]
    sqlite_with(tmp_path / "big.sqlite", many)
    source = SqliteLedger(tmp_path / "big.sqlite", readonly=True)
    target = PostgresLedger(postgres_db)
    inserts: list[int] = []
    insert_copies = target.insert_copies

    def counted(records: Sequence[SendRecord]) -> set[str]:
        inserts.append(len(records))
        return insert_copies(records)

    try:
        target.insert_copies = counted  # type: ignore[method-assign]
        outcome = copy_ledger(source, target)
        assert outcome.copied == {template.status.value: 12_000}
        assert outcome.verified_ok
        assert outcome.verified == 12_000
        assert inserts == [BATCH, BATCH, 12_000 - 2 * BATCH]
        assert {r.key for r in target.records()} == {r.key for r in many}
    finally:
        source.close()
        target.close()


def test_an_opted_out_number_stays_suppressed_and_a_plan_after_migrate_skips_it(
    tmp_path: Path, postgres_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end through the CLI: STOP recorded in SQLite, migrated, planned on PostgreSQL
    (and migrated back to a new file): the number is skipped as `opted_out` every time."""
    import json

    stopped = "+447400123452"
    config = tmp_path / "config"
    config.mkdir()
    (config / "c.yaml").write_text(
        "providers:\n  ot: {type: opentact, base_url: 'http://127.0.0.1:9', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n  t: {category: marketing, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a:\n    contacts:\n"
        "      - {phone: '+447400123450', name: A}\n"
        f"      - {{phone: '{stopped}', name: C}}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    first, back = tmp_path / "first.sqlite", tmp_path / "back.sqlite"
    assert main(["suppressions", "add", stopped, "--ledger", str(first)]) == 0
    capsys.readouterr()
    code, out = migrate(str(first), postgres_db, capsys)
    assert code == 0, out
    assert "suppressions" in out
    code, out = migrate(postgres_db, str(back), capsys)
    assert code == 0, out
    for ledger in (postgres_db, str(back)):
        assert main(["plan", str(config), "--ledger", ledger, "--format", "json"]) == 0
        plan = json.loads(capsys.readouterr().out)
        assert plan["summary"]["skipped"] == 1, plan["summary"]
        (schedule,) = plan["schedules"]
        assert schedule["skipped"] == {"opted_out": 1}
