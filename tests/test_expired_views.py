"""`expired` where users look: apply's summary, ledger stats/list/export, plan (text, JSON, markdown).

One apply of the examples just before the reminder's window closes: the
reminder is reached after its close (the round's clock runs on from --at),
so it is recorded expired, and every view says so.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.core.expiry import ExpiryReason

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = str(ROOT / "examples" / "configs")
# The reminder fires 18:00 Lisbon (UTC in November) with a 3h window: it closes at 21:00.
LAST_MOMENT = "2026-11-22T20:59:59.999999Z"
REMINDER = "appointment-reminder"


@pytest.fixture
def ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    path = str(tmp_path / "l.sqlite")
    args = ["apply", EXAMPLES, "--at", LAST_MOMENT, "--sandbox", "--yes", "--ledger", path]
    assert main(args) == 0  # the expired send is reported, not an error of this run
    out = capsys.readouterr().out
    assert "1 expired: window closed" in out
    assert "Applied: 5 sent, 0 failed, 0 uncertain" in out
    return path


def test_ledger_stats_list_and_export_show_expired(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ledger", "stats", "--ledger", ledger, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[REMINDER] == {"expired": 1}
    assert main(["ledger", "stats", "--ledger", ledger, "--status", "expired"]) == 0
    assert capsys.readouterr().out == f"{REMINDER}: expired 1\n"
    assert main(["ledger", "list", "--ledger", ledger, "--status", "expired"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert f"expired   {REMINDER} 2026-11-22T18:00:00Z +351 91** **678 via sky x0" in line
    assert line.endswith(ExpiryReason.SENDING.value)
    assert main(["ledger", "export", "--ledger", ledger, "--status", "expired"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert (row["status"], row["error"], row["attempts"]) == (
        "expired",
        ExpiryReason.SENDING.value,
        "0",
    )
    assert "+351912345678" not in row.values()  # masked unless asked


def test_plan_shows_expired_sends_and_how_many_expired_so_far(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = "2026-11-22T20:00:00Z"  # the occurrence is due again: its send is expired
    assert main(["plan", EXAMPLES, "--at", at, "--format", "json", "--ledger", ledger]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["summary"]["expired"] == 1
    (reminder,) = [s for s in plan["schedules"] if s["schedule"] == REMINDER]
    assert (reminder["counts"]["expired"], reminder["expired_so_far"], reminder["to_send"]) == (
        1,
        1,
        0,
    )
    assert main(["plan", EXAMPLES, "--at", at, "--ledger", ledger]) == 0
    text = capsys.readouterr().out
    assert "x 1 expired (the window closed before they went out; never sent)" in text
    assert "x 1 send of this schedule expired so far" in text
    assert "5 sent, 1 expired, 6 skipped." in text
    assert main(["plan", EXAMPLES, "--at", at, "--format", "markdown", "--ledger", ledger]) == 0
    markdown = capsys.readouterr().out
    assert f"| `{REMINDER}` | 2026-11-22T18:00:00Z | 0 | 0 | 0 | 0 | 1 | 0 | 0 | - |" in markdown
    # a later day: nothing due, but the schedule's history still says what expired
    later = "2026-11-25T12:00:00Z"
    assert main(["plan", EXAMPLES, "--at", later, "--format", "json", "--ledger", ledger]) == 0
    plan = json.loads(capsys.readouterr().out)
    (reminder,) = [s for s in plan["schedules"] if s["schedule"] == REMINDER]
    assert (reminder["counts"]["expired"], reminder["expired_so_far"]) == (0, 1)
