"""Progress of long plans and applies where stderr is not a terminal (CI logs).

A line at most every `INTERVAL` seconds (10): counts, rate, elapsed, never a
number or a secret. The interval's clock is a fake one: no test sleeps.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.cli import main, progress
from smsops.cli.progress import ProgressLine, for_logs
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import SECRETS, numbers, write_config
from tests.fakeclock import FakeClock

T0 = datetime(2026, 11, 22, 9, tzinfo=UTC)


def test_a_line_at_most_every_interval_with_counts_rate_and_elapsed() -> None:
    clock = FakeClock(T0)
    out = io.StringIO()
    line = ProgressLine(
        "apply", "sends done", total=20_000, detail=lambda: "3 failed", clock=clock, out=out
    )
    line.advance(100)
    clock.advance(timedelta(seconds=9.9))
    line.advance(900)
    assert out.getvalue() == ""  # under 10 s since the start: nothing yet
    clock.advance(timedelta(seconds=0.1))
    line.advance(1_000)
    assert out.getvalue() == "apply: 2,000 of 20,000 sends done (3 failed; 200/s, 10 s elapsed)\n"
    clock.advance(timedelta(seconds=5))
    line.advance(1_000)  # 5 s after the last line: none
    clock.advance(timedelta(seconds=6))
    line.advance(1_000)
    assert out.getvalue().splitlines()[1:] == [
        "apply: 4,000 of 20,000 sends done (3 failed; 190/s, 21 s elapsed)"
    ]


def test_a_line_without_a_total() -> None:
    clock = FakeClock(T0)
    out = io.StringIO()
    line = ProgressLine("plan", "audience rows read", clock=clock, interval=10, out=out)
    clock.advance(timedelta(seconds=12))
    line.advance(1_000_000)
    assert out.getvalue() == "plan: 1,000,000 audience rows read (83,333/s, 12 s elapsed)\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_only_where_stderr_is_not_a_terminal() -> None:
    assert for_logs("plan", "rows", stream=_Terminal()) is None  # a terminal has its own
    assert isinstance(for_logs("plan", "rows", stream=io.StringIO()), ProgressLine)


def test_apply_and_plan_print_progress_lines_in_ci(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Wired into both commands (an interval of 0: a line at every step); no number, no secret."""
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    config = str(write_config(tmp_path / "cfg", sandbox, 3))
    ledger = str(tmp_path / "l.sqlite")
    assert main(["plan", config, "--ledger", ledger]) == 0
    err = capsys.readouterr().err
    assert "plan: 3 audience rows read (" in err
    assert main(["apply", config, "--yes", "--ledger", ledger]) == 0
    err = capsys.readouterr().err
    assert "plan: 3 audience rows read (" in err
    assert "apply: 3 of 3 sends done (3 sent, 0 failed, 0 uncertain; " in err
    assert " s elapsed)" in err
    for number in numbers(3):
        assert number.lstrip("+") not in err
    for secret in SECRETS.values():
        assert secret not in err
