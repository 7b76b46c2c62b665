"""`smsops ledger prune`: a dry run by default, counts never numbers, archives that migrate back.

The rules and the storage are tested on every backend in
tests/ledger/test_pruning.py; these drive the command itself (a SQLite
ledger; the PostgreSQL one through the same code) and its hostile inputs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from smsops.cli import main
from smsops.core.phone import mask
from smsops.core.reserved import API_MESSAGES
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger
from smsops.schedule.occurrences import occurrence_label
from tests.ledger.test_pruning import Rows, write

START = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
PHONES = ["+447400000001", "+447400000002", "+447400000003"]


def ledger_file(path: Path) -> dict[str, SendRecord]:
    """Sixty daily occurrences from START (one with an uncertain row), API sends, `once`."""
    wanted: Rows = []
    for day in range(60):
        fire = START + timedelta(days=day)
        status = Status.UNCERTAIN if day == 5 else Status.SENT
        label = occurrence_label(fire)
        wanted.extend(
            ("daily", label, fire, p, status if p == PHONES[0] else Status.SENT) for p in PHONES
        )
        wanted.append((API_MESSAGES, f"order-{day}", fire, PHONES[day % 3], Status.SENT))
    wanted.extend(("welcome", "once", START, p, Status.SENT) for p in PHONES)
    ledger = SqliteLedger(path)
    try:
        write(ledger, wanted)
        return {r.key: r for r in ledger.records()}
    finally:
        ledger.close()


def run(argv: list[str]) -> int:
    """main's exit status, argparse's refusals (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as exited:
        return int(exited.code or 0)


def stored(path: Path) -> dict[str, SendRecord]:
    ledger = SqliteLedger(path, readonly=True)
    try:
        return {r.key: r for r in ledger.records()}
    finally:
        ledger.close()


def test_a_dry_run_shows_counts_and_removes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l.sqlite"
    before = ledger_file(path)
    assert main(["ledger", "prune", "--before", "2025-02-01", "--ledger", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "61 occurrences (121 rows)" in out
    )  # January: 30 daily (one has an uncertain row), 31 API
    assert "  daily: 30 occurrences, 90 rows" in out
    assert "  api:messages: 31 occurrences, 31 rows" in out
    assert "kept 1 occurrence: `once`" in out  # it said "1 occurrences"
    assert "dry run: nothing was removed" in out
    assert "+4474" not in out
    assert stored(path) == before


def test_yes_removes_them_and_the_archive_migrates_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, archive = tmp_path / "l.sqlite", tmp_path / "old" / "archive.sqlite"
    archive.parent.mkdir()
    before = ledger_file(path)
    argv = ["ledger", "prune", "--before", "2025-02-01T00:00:00Z", "--ledger", str(path)]
    assert main([*argv, "--archive", str(archive), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "removed 121 rows" in out
    assert "121 rows copied, 0 already there, 121 verified" in out
    after = stored(path)
    assert len(after) == len(before) - 121
    uncertain = [r for r in before.values() if r.status is Status.UNCERTAIN]
    assert all(after[r.key] == r for r in uncertain)  # its whole occurrence stayed
    assert sum(r.occurrence == uncertain[0].occurrence for r in after.values()) == 3
    assert main([*argv, "--yes"]) == 0  # again: nothing more to remove
    assert "removed" not in capsys.readouterr().out.split("may be removed")[1]
    assert main(["ledger", "migrate", "--from", str(archive), "--to", str(path)]) == 0
    assert stored(path) == before


def test_a_saved_plan_keeps_what_it_names_and_what_was_due_at_its_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l.sqlite"
    before = ledger_file(path)
    named = next(
        r for r in before.values() if r.occurrence == occurrence_label(START + timedelta(days=2))
    )
    plan = {
        "format": "smsops-plan", "version": 1,
        "created": "2025-01-20T10:00:00+00:00", "at": "2025-01-20T10:00:00+00:00",
        "ledger": "sqlite:///x", "config": {"path": "c", "files": {}}, "needs_approval": [],
        "sends": [{
            "key": named.key, "schedule": "daily", "occurrence": named.occurrence,
            "recipient": mask(named.recipient), "providers": ["ot"], "text_hash": "0" * 64, "segments": 1,
        }],
    }  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    argv = ["ledger", "prune", "--before", "2025-02-01", "--ledger", str(path), "--yes"]
    code = main([*argv, "--plan", str(tmp_path / "plan.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "kept 1 occurrence: named by a saved plan given" in out
    after = stored(path)
    assert named.key in after
    # Nothing written within a day before the plan's time (2025-01-20) went.
    assert all(
        k in after
        for k, r in before.items()
        if r.updated_at >= datetime(2025, 1, 19, 10, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("before", "said"),
    [
        ("yesterday", "not an ISO 8601 time"),
        ("2025-13-01", "not an ISO 8601 time"),
        ("0001-01-01", "the year must be"),
        ("2025-01-01; DROP TABLE sends", "not an ISO 8601 time"),
        ("2190-01-01", "in the future"),
    ],
)
def test_hostile_before_values_are_refused_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], before: str, said: str
) -> None:
    path = tmp_path / "l.sqlite"
    ledger_file(path)
    code = run(["ledger", "prune", "--before", before, "--ledger", str(path), "--yes"])
    err = capsys.readouterr().err
    assert code == 1
    assert said in err
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["dir", "itself", "url", "memory"])
def test_hostile_archive_paths_are_refused_before_anything_is_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    path = tmp_path / "l.sqlite"
    before = ledger_file(path)
    archive = {
        "dir": str(tmp_path),
        "itself": f"{tmp_path}/./l.sqlite",
        "url": "postgresql://u:secret@127.0.0.1/db",
        "memory": "memory://",
    }[where]
    argv = ["ledger", "prune", "--before", "2025-02-01", "--ledger", str(path), "--yes"]
    code = run([*argv, "--archive", archive])
    err = capsys.readouterr().err
    assert code == 1
    assert "--archive" in err
    assert "secret" not in err
    assert "Traceback" not in err
    assert stored(path) == before


def test_a_plan_file_that_is_not_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l.sqlite"
    before = ledger_file(path)
    (tmp_path / "plan.json").write_text('{"format": "other"}')
    argv = ["ledger", "prune", "--before", "2025-02-01", "--ledger", str(path), "--yes"]
    assert main([*argv, "--plan", str(tmp_path / "plan.json")]) == 1
    assert "not a usable plan file" in capsys.readouterr().err
    assert stored(path) == before


def test_on_postgresql_too_archive_and_back(
    postgres_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same prune of a PostgreSQL ledger (its rows copied from the SQLite one's)."""
    from smsops.ledger.postgres import PostgresLedger

    rows = ledger_file(tmp_path / "seed.sqlite")
    ledger = PostgresLedger(postgres_db)
    try:
        ledger.insert_copies(list(rows.values()))
    finally:
        ledger.close()
    with psycopg.connect(postgres_db) as conn:  # copied history goes to its months' partitions
        assert conn.execute("SELECT count(*) FROM sends_default").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM sends_2025_02").fetchone() == (84,)
    archive = tmp_path / "archive.sqlite"
    argv = ["ledger", "prune", "--before", "2025-02-01", "--ledger", postgres_db]
    assert main(argv) == 0
    assert "61 occurrences (121 rows)" in capsys.readouterr().out
    assert main([*argv, "--archive", str(archive), "--yes"]) == 0
    assert "removed 121 rows" in capsys.readouterr().out
    assert len(stored(archive)) == 121
    assert main(["ledger", "migrate", "--from", str(archive), "--to", postgres_db]) == 0
    back = PostgresLedger(postgres_db, readonly=True)
    try:
        assert {r.key: r for r in back.records()} == rows
    finally:
        back.close()


def test_the_config_gives_the_windows_without_it_a_month_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten days old: past a 2 h window, inside the 31 days assumed when no config says."""
    monkeypatch.setenv("OT", "x")
    (tmp_path / "people.csv").write_text("phone\n" + "\n".join(PHONES) + "\n")
    (tmp_path / "c.yaml").write_text(
        "providers:\n  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n  daily: {category: transactional, body: 'hi'}\n"
        "audiences:\n  people: {source: people.csv}\n"
        "schedules:\n  daily: {template: daily, audience: people, provider: ot, window: 2h,\n"
        "    trigger: {cron: '0 9 * * *', timezone: UTC}}\n"
    )
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    wanted: Rows = [
        ("daily", occurrence_label(today - timedelta(days=d)), today - timedelta(days=d), p, Status.SENT)
        for d in (10, 11, 12)
        for p in PHONES
    ]  # fmt: skip
    path = tmp_path / "l.sqlite"
    ledger = SqliteLedger(path)
    try:
        write(ledger, wanted)
    finally:
        ledger.close()
    before = (today - timedelta(days=2)).isoformat()
    argv = ["ledger", "prune", "--before", before, "--ledger", str(path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert ": 0 occurrences (0 rows)" in out
    assert "kept 3 occurrences: window open or closed under a day ago" in out
    assert main(["ledger", "prune", str(tmp_path / "c.yaml"), *argv[2:]]) == 0
    out = capsys.readouterr().out
    assert ": 2 occurrences (6 rows)" in out  # the newest of the three stays
    assert "kept 1 occurrence: newest of its schedule" in out
    # Removed, then planned inside the oldest one's window: skipped as pruned, and why.
    assert main(["ledger", "prune", str(tmp_path / "c.yaml"), *argv[2:], "--yes"]) == 0
    capsys.readouterr()
    at = (today - timedelta(days=12, minutes=-5)).isoformat()
    plan = ["plan", str(tmp_path / "c.yaml"), "--at", at, "--ledger", str(path)]
    assert main([*plan, "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    (daily,) = shown["schedules"]
    assert daily["skipped"] == {"pruned": len(PHONES)}
    assert daily["to_send"] == 0
    assert main(plan) == 0
    assert "pruned" in capsys.readouterr().out
