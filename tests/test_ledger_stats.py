"""`smsops ledger stats` filters like `list` and `export`: --schedule and --status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """greet: 2 sent, 1 uncertain; other: 1 sent."""
    path = tmp_path / "ledger.sqlite"
    store = SqliteLedger(path)
    rows = [
        SendRecord.claim(
            schedule,
            "once",
            phone,
            provider="ot",
            template="hello",
            text_hash="h",
            segments=1,
            now=NOW,
        )
        for schedule, phone in [
            ("greet", "+447400123456"),
            ("greet", "+447400123457"),
            ("greet", "+447400123458"),
            ("other", "+447400123456"),
        ]
    ]
    won = {r.key: r for r in store.claim(rows)}
    claimed = [won[r.key] for r in rows]
    store.settle(r.settled(Status.SENT, NOW, message_id="m") for r in claimed[1:])
    store.settle([claimed[0].settled(Status.UNCERTAIN, NOW, error="read timeout")])
    store.close()
    return path


def stats(ledger: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    assert main(["ledger", "stats", "--ledger", str(ledger), *flags]) == 0
    return capsys.readouterr().out


def test_unfiltered_stats_count_every_schedule(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stats(ledger, capsys) == "greet: sent 2, uncertain 1\nother: sent 1\n"


def test_schedule_keeps_only_that_schedule(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stats(ledger, capsys, "--schedule", "greet") == "greet: sent 2, uncertain 1\n"


def test_status_keeps_only_that_status(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stats(ledger, capsys, "--status", "uncertain") == "greet: uncertain 1\n"
    out = stats(ledger, capsys, "--status", "sent", "--format", "json")
    assert json.loads(out) == {"greet": {"sent": 2}, "other": {"sent": 1}}


def test_a_filter_matching_nothing_says_so(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stats(ledger, capsys, "--schedule", "nope") == "no rows match\n"
    assert stats(ledger, capsys, "--schedule", "other", "--status", "failed") == "no rows match\n"
