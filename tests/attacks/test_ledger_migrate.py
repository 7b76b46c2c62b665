"""`smsops ledger migrate` on ledgers another program wrote, and URLs with passwords.

A ledger file can be changed by anything that writes SQLite (a script, a
restore of an old backup): a status no rule knows, a key with terminal
escapes, a row whose recipient differs from the target's. The copy must
stop or refuse with a clear line (exit 1), never print a full number or a
raw escape, and never overwrite the target's row. A password given in
either URL never shows.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger
from tests.attacks.harness import run_cli
from tests.postgres import Cluster

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)
NUMBERS = ("+447400123456", "+447400999888")
PASSWORD = "pg-SECRET-migrate-51f0"  # the attack's own value, never a real one


def sent(recipient: str, key: str | None = None) -> SendRecord:
    record = SendRecord.claim(
        "greet", "o1", recipient, provider="ot", template="t", text_hash="h", segments=1, now=NOW
    ).settled(Status.SENT, NOW, message_id="m1", attempts=1)
    return record if key is None else replace(record, key=key)


def ledger_with(path: Path, records: list[SendRecord]) -> Path:
    ledger = SqliteLedger(path)
    ledger.insert_copies(records)
    ledger.close()
    return path


def test_a_status_no_rule_knows_stops_the_copy_naming_the_row(tmp_path: Path) -> None:
    source = ledger_with(tmp_path / "src.sqlite", [sent(NUMBERS[0])])
    with sqlite3.connect(source) as db:
        db.execute("UPDATE sends SET status = 'teleported'")
    outcome = run_cli(
        ["ledger", "migrate", "--from", str(source), "--to", str(tmp_path / "dst.sqlite")],
        cwd=tmp_path,
    )
    outcome.assert_safe(code=1, located="has the status 'teleported'", numbers=NUMBERS)
    with sqlite3.connect(tmp_path / "dst.sqlite") as db:
        assert db.execute("SELECT count(*) FROM sends").fetchone() == (0,)


def test_a_conflict_on_the_recipient_names_the_field_never_the_numbers(tmp_path: Path) -> None:
    key = "\x1b]8;;http://evil\x07click\x1b[2J"  # a hyperlink and a screen clear
    source = ledger_with(tmp_path / "src.sqlite", [sent(NUMBERS[0], key)])
    target = ledger_with(tmp_path / "dst.sqlite", [sent(NUMBERS[1], key)])
    outcome = run_cli(
        ["ledger", "migrate", "--from", str(source), "--to", str(target)], cwd=tmp_path
    )
    outcome.assert_safe(code=1, located=r"the target's row differs in recipient;", numbers=NUMBERS)
    assert "\x1b" not in outcome.output
    assert "\x07" not in outcome.output
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT recipient FROM sends").fetchall() == [(NUMBERS[1],)]


def test_a_password_in_either_url_never_shows(
    tmp_path: Path, postgres_cluster: Cluster, postgres_db: str
) -> None:
    source = ledger_with(tmp_path / "src.sqlite", [sent(NUMBERS[0])])
    database = conninfo_to_dict(postgres_db)["dbname"]
    wrong = f"postgresql://smsops_admin:{PASSWORD}@127.0.0.1:{postgres_cluster.port}/{database}"
    for args in (["--from", str(source), "--to", wrong], ["--from", wrong, "--to", str(source)]):
        outcome = run_cli(["ledger", "migrate", *args], cwd=tmp_path)
        outcome.assert_safe(code=1, located="password authentication failed", numbers=NUMBERS)
        assert PASSWORD not in outcome.output
        assert f"postgresql://smsops_admin@127.0.0.1:{postgres_cluster.port}/{database}" in (
            outcome.output
        )


def test_a_bad_time_in_another_table_stops_the_copy_naming_table_and_column(
    tmp_path: Path,
) -> None:
    """The suppression list written by another program: a time that is none, a number in it."""
    source = ledger_with(tmp_path / "src.sqlite", [sent(NUMBERS[0])])
    with sqlite3.connect(source) as db:
        db.execute(
            "INSERT INTO suppressions (number, at, source, keyword) VALUES (?, ?, 'cli', '')",
            (NUMBERS[1], f"call {NUMBERS[1]}\x1b[2J"),
        )
    outcome = run_cli(
        ["ledger", "migrate", "--from", str(source), "--to", str(tmp_path / "dst.sqlite")],
        cwd=tmp_path,
    )
    outcome.assert_safe(code=1, located="has the suppressions.at", numbers=NUMBERS)
    assert "\x1b" not in outcome.output
    with sqlite3.connect(tmp_path / "dst.sqlite") as db:
        assert db.execute("SELECT count(*) FROM suppressions").fetchone() == (0,)
