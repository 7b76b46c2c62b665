"""The PostgreSQL server goes down while apply sends: nothing sent without its claim, nothing lost.

The throwaway server is stopped (`pg_ctl stop -m immediate`: every session
cut, as by a crash) once the sandbox has taken some of the messages, and
started again 1.5 s later; apply waits 0.5 s for a connection
(SMSOPS_LEDGER_WAIT), so every write of the outage fails. Apply then stops
claiming (a claim that fails sends nothing), keeps the outcomes of the
requests already on the wire, and writes them when the server is back (the
bounded retry at the end of the run), and says so. A second apply sends the
rest; nobody gets a message twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from smsops.cli import main
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import numbers, write_config
from tests.postgres import Cluster

COUNT = 120


def statuses(url: str) -> Counter[str]:
    with psycopg.connect(url) as conn:
        return Counter(status for (status,) in conn.execute("SELECT status FROM sends"))


def test_an_outage_mid_apply_loses_no_result_and_sends_nothing_twice(
    tmp_path: Path,
    sandbox: Sandbox,
    postgres_cluster: Cluster,
    postgres_db: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = write_config(tmp_path / "cfg", sandbox, COUNT, extra=", max_in_flight: 4")
    sandbox.state.faults.latency_ms = 40  # ~100 sends a second: the outage lands mid-run
    monkeypatch.setenv("SMSOPS_LEDGER_WAIT", "0.5")
    went_down = threading.Event()

    def outage_mid_run() -> None:
        deadline = time.monotonic() + 20
        while len(sandbox.state.snapshot()) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        went_down.set()
        postgres_cluster.restart(down=1.5)

    outage = threading.Thread(target=outage_mid_run)
    outage.start()
    first = main(["apply", str(root), "--yes", "--ledger", postgres_db])
    outage.join()
    assert went_down.is_set()
    out = capsys.readouterr().out
    assert first != 0, out
    assert "Sending stopped there: nothing is sent without its row in the ledger." in out
    sent = Counter(m["recipient"] for m in sandbox.state.snapshot())
    assert 20 <= sum(sent.values()) < COUNT  # the outage stopped it mid-run
    applied = f"Applied: {sum(sent.values())} sent, 0 failed, 0 uncertain"
    assert applied in out  # every outcome counted, none left unwritten
    assert "not recorded" not in out
    assert "results could not be written" not in out

    # Every message that left has its row (write-ahead), and the outcomes of the
    # requests on the wire during the outage were written once it was over.
    assert statuses(postgres_db) == {"sent": sum(sent.values())}

    sandbox.state.faults.latency_ms = 0
    assert main(["apply", str(root), "--yes", "--ledger", postgres_db]) == 0
    assert f"Applied: {COUNT - sum(sent.values())} sent" in capsys.readouterr().out
    every = Counter(m["recipient"] for m in sandbox.state.snapshot())
    assert every == Counter(numbers(COUNT))  # everyone once, nobody twice
    assert statuses(postgres_db) == {"sent": COUNT}
