"""A slow pace cannot leave claims waiting: a run stopped or killed mid-apply holds at most
the request in flight.

A pull request can set `rate_limit` as low as it likes. Were rows claimed
before their pace, a run at 2/s with 16 requests in flight would hold
~15 rows `pending` that have not gone out: killed, they turn `uncertain`
(never resent without a person); stopped, they would still go out one by
one long after the signal. Each case starts `apply` on such a config in its
own session, stops or kills it once two messages have arrived, and then
checks the ledger and the next apply (in the harness's bounded process).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from smsops.sandbox.server import Sandbox
from tests.attacks.harness import SECRETS, run_cli, write_config
from tests.leases import SHORT_LEASE, wait_for_lapsed_leases

COUNT = 20


def slow_config(root: Path, sandbox: Sandbox) -> tuple[Path, list[str]]:
    numbers = [f"+4474{i:08d}" for i in range(COUNT)]
    config = write_config(
        root,
        {
            "people.csv": "phone,name\n" + "".join(f"{n},P{i}\n" for i, n in enumerate(numbers)),
            "smsops.yaml": f"""\
            providers:
              ot:
                type: opentact
                base_url: {sandbox.base_url("opentact")}
                token: ${{env:OT_JWT}}
                from: "+12017771234"
                rate_limit: 2/s
                max_in_flight: 16
            templates:
              hello: {{category: transactional, body: "Hello {{{{ name }}}}"}}
            audiences:
              people: {{source: people.csv}}
            schedules:
              greet: {{template: hello, audience: people, provider: ot}}
            """,
        },
    )
    return config, numbers


def statuses(ledger: Path) -> dict[str, int]:
    db = sqlite3.connect(ledger)
    try:
        return dict(db.execute("SELECT status, count(*) FROM sends GROUP BY status").fetchall())
    finally:
        db.close()


def interrupted_apply(config: Path, ledger: Path, sandbox: Sandbox, sig: signal.Signals) -> int:
    """Start apply, send `sig` once two messages have arrived; messages seen by its end."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(ledger.parent),
        "SMSOPS_CACHE_DIR": str(ledger.parent / ".cache"),
        "NO_COLOR": "1",
        "SMSOPS_LEASE": SHORT_LEASE,  # a killed run's claims are stale a second later
        **SECRETS,
    }
    command = [sys.executable, "-m", "smsops", "apply", str(config), "--yes"]
    process = subprocess.Popen(
        [*command, "--ledger", str(ledger)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(sandbox.state.snapshot()) < 2:
            assert process.poll() is None, "apply ended before it could be stopped"
            assert time.monotonic() < deadline, "apply sent nothing within 30 s"
            time.sleep(0.01)
        process.send_signal(sig)
        # Stopped, it settles what is in flight and claims nothing more: it
        # ends within about one request, not after the paced rest (~9 s).
        process.wait(timeout=5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return len(sandbox.state.snapshot())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_slow_pace_leaves_no_claim_waiting(
    tmp_path: Path, sandbox: Sandbox, sig: signal.Signals
) -> None:
    config, numbers = slow_config(tmp_path, sandbox)
    ledger = tmp_path / "ledger.sqlite"

    seen = interrupted_apply(config, ledger, sandbox, sig)
    assert seen < COUNT  # the rest was left for the next apply
    left = statuses(ledger)
    if sig is signal.SIGTERM:
        assert left == {"sent": seen}  # in flight settled; nothing pending, nothing claimed ahead
    else:
        assert left.get("pending", 0) <= 2, left  # only requests on the wire, not ~15
        assert left.get("sent", 0) + left.get("pending", 0) >= seen  # write-ahead

    # The next apply (at a quicker pace, to keep the suite quick) sends the rest once,
    # after the killed run's lease lapsed (its pending row is then stale: uncertain).
    wait_for_lapsed_leases(str(ledger))
    yaml = config / "smsops.yaml"
    yaml.write_text(yaml.read_text().replace("rate_limit: 2/s", "rate_limit: 200/s"))
    outcome = run_cli(["apply", str(config), "--yes", "--ledger", str(ledger)], cwd=tmp_path)
    outcome.assert_safe(code=0, numbers=numbers, ledger=ledger)
    assert f"Applied: {COUNT - sum(left.values())} sent" in outcome.stdout
    received = Counter(m["recipient"] for m in sandbox.state.snapshot())
    assert max(received.values()) == 1  # never twice
    final = statuses(ledger)
    assert final.get("uncertain", 0) == left.get("pending", 0)
    assert final.get("sent", 0) + final.get("uncertain", 0) == COUNT
