"""Issue 5's acceptance, over real loopback sockets against the sandbox."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import LOST_AT_KILL, ledger_counts, numbers, write_config
from tests.leases import short_lease_env, wait_for_lapsed_leases


def recipients(sandbox: Sandbox) -> Counter[str]:
    return Counter(m["recipient"] for m in sandbox.state.snapshot())


def test_plan_apply_plan(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "cfg", sandbox, 40))
    ledger = str(tmp_path / "ledger.sqlite")
    flags = ["--ledger", ledger, "--detailed-exitcode"]

    assert main(["plan", config, *flags]) == 2
    assert not Path(ledger).exists()  # a plan reads, never writes
    assert "40 messages to send" in capsys.readouterr().out

    assert main(["apply", config, "--yes", "--ledger", ledger]) == 0
    out = capsys.readouterr().out
    assert "Applied: 40 sent, 0 failed, 0 uncertain" in out
    assert recipients(sandbox) == Counter({n: 1 for n in numbers(40)})

    assert main(["plan", config, *flags]) == 0
    assert "0 messages to send" in capsys.readouterr().out
    assert main(["apply", config, "--yes", "--ledger", ledger]) == 0
    assert "Nothing to send" in capsys.readouterr().out
    assert len(sandbox.state.snapshot()) == 40
    assert ledger_counts(Path(ledger)) == {"sent": 40}


def test_every_fifth_request_429_still_sends_each_message_once(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.state.faults.update({"status_every": 5, "status": 429, "retry_after": 0.05})
    config = str(write_config(tmp_path / "cfg", sandbox, 120))
    ledger = tmp_path / "ledger.sqlite"

    assert main(["apply", config, "--yes", "--ledger", str(ledger)]) == 0

    assert "Applied: 120 sent, 0 failed, 0 uncertain" in capsys.readouterr().out
    assert sandbox.state.requests > 120  # the 429s really happened
    assert recipients(sandbox) == Counter({n: 1 for n in numbers(120)})
    assert ledger_counts(ledger) == {"sent": 120}


def test_aoc_bulk_sends_identical_texts_together_and_once(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_config(tmp_path / "cfg", sandbox, 120, provider="aoc")
    text = (root / "smsops.yaml").read_text().replace("template: hello", "template: offer")
    (root / "smsops.yaml").write_text(text)

    # Midday, outside marketing's default quiet hours (21:00-08:00 local).
    at = ["--at", "2026-11-22T12:00:00Z"]
    assert main(["apply", str(root), *at, "--yes", "--ledger", str(tmp_path / "l.sqlite")]) == 0

    assert "Applied: 120 sent" in capsys.readouterr().out
    assert sandbox.state.requests == 3  # bulk_size 50: 50 + 50 + 20
    assert recipients(sandbox) == Counter({n: 1 for n in numbers(120)})


def test_sigkill_mid_apply_then_the_next_apply_sends_the_rest(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.state.faults.update({"latency_ms": 20})
    config = str(write_config(tmp_path / "cfg", sandbox, 2000))
    ledger = tmp_path / "ledger.sqlite"
    command = [sys.executable, "-m", "smsops", "apply", config, "--yes", "--ledger", str(ledger)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=short_lease_env()
    )
    try:
        deadline = time.monotonic() + 60
        while len(sandbox.state.snapshot()) < 300:
            assert process.poll() is None, "apply ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    killed_at = len(sandbox.state.snapshot())
    assert killed_at < 2000
    in_flight = ledger_counts(ledger).get("pending", 0)
    # Rows are claimed just before their request: a kill leaves the in-flight ones.
    assert 0 < in_flight <= LOST_AT_KILL
    wait_for_lapsed_leases(str(ledger))  # the killed run's rows are stale once its lease lapsed

    sandbox.state.faults.update({"latency_ms": 0})
    assert main(["apply", config, "--yes", "--ledger", str(ledger)]) == 0

    out = capsys.readouterr().out
    assert f"{in_flight} sends were pending from a run that stopped mid-send" in out
    seen = recipients(sandbox)
    assert max(seen.values()) == 1  # no recipient twice
    counts = ledger_counts(ledger)
    assert counts == {"sent": 2000 - in_flight, "uncertain": in_flight}
    # Every recipient is accounted for: sent, or uncertain (the sandbox may have seen it).
    assert set(numbers(2000)) - set(seen) <= _uncertain(ledger)


def _uncertain(ledger: Path) -> set[str]:
    import sqlite3

    db = sqlite3.connect(ledger)
    try:
        rows = db.execute("SELECT recipient FROM sends WHERE status = 'uncertain'").fetchall()
    finally:
        db.close()
    return {recipient for (recipient,) in rows}


def test_rate_limit_holds_over_every_second(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "cfg", sandbox, 500, rate="50/s"))
    # In its own process, so the sandbox's clock (this process) measures the
    # sender the way a provider would, not two threads sharing one interpreter.
    command = [sys.executable, "-m", "smsops", "apply", config, "--yes", "--ledger"]
    done = subprocess.run(
        [*command, str(tmp_path / "l.sqlite")], capture_output=True, text=True, timeout=60
    )

    assert "Applied: 500 sent" in done.stdout, done.stderr
    times = sorted(
        datetime.fromisoformat(m["received_at"]).timestamp() for m in sandbox.state.snapshot()
    )
    busiest = sandbox.state.busiest_second()
    assert busiest <= 50
    average = (len(times) - 1) / (times[-1] - times[0])
    assert average >= 47, f"{average:.1f}/s"
    print(f"rate_limit 50/s: busiest second {busiest}, average {average:.1f}/s")
