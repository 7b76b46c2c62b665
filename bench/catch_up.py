"""`smsops run` after a downtime: how long the open window waits while closed ones are recorded.

A restarted daemon first records the windows that closed while it was down
(`expired`, oldest first, at most 50,000 sends a round; engine/round.py),
then sends the window that is open now. This measures what that costs the
open window: an hourly schedule (`cron: M * * * *`, `window: 1h`, M chosen
so the current occurrence fired 10 minutes ago) over N recipients, one
Opentact provider on the sandbox, a SQLite ledger whose newest occurrence
of the schedule (all N sent) is 1 hour (the baseline: nothing missed), 1
day or 4 days old. A fresh `smsops run` process each time; the figures are
start to the open window's first message and to its last, and the
`expired` rows the run wrote. Interleaved, judged by the ratio to the
baseline of the same run.

    .venv/bin/python bench/catch_up.py           # 20,000 recipients, 3 runs
    .venv/bin/python bench/catch_up.py --quick   # 100 recipients, one run (scripts/test.sh)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PYTHON,
    SandboxProcess,
    Series,
    arguments,
    free_port,
    interleaved,
    remove_ledger,
    section,
    table,
    write_audience,
)
from plan_scale import fill

from smsops.ledger.sqlite import SqliteLedger

DOWNTIMES = {"1 hour (baseline)": timedelta(hours=1), "1 day": timedelta(days=1)}
DOWNTIMES["4 days"] = timedelta(days=4)


def write_config(root: Path, base_url: str, audience: Path, minute: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "audience.csv").write_bytes(audience.read_bytes())
    (root / "smsops.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{base_url}', token: '${{env:OT}}', "
        "from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}.'}\n"
        "audiences:\n  a: {source: audience.csv}\n"
        f"schedules:\n  s: {{template: t, audience: a, provider: ot, "
        f"trigger: {{cron: '{minute} * * * *'}}, window: 1h}}\n"
    )
    return root


def ledger_sent_at(path: Path, occurrence: datetime, people: int) -> None:
    """A ledger whose newest occurrence of `s` is `occurrence`, every recipient sent."""
    remove_ledger(path)
    ledger = SqliteLedger(path)
    try:
        fill(ledger, people, 1.0, occurrence.isoformat().replace("+00:00", "Z"))
    finally:
        ledger.close()


def expired_rows(path: Path) -> int:
    ledger = SqliteLedger(path, readonly=True)
    try:
        return sum(counts.get("expired", 0) for counts in ledger.stats().values())
    finally:
        ledger.close()


def main() -> None:
    args = arguments(__doc__ or "")
    people = 100 if args.quick else 20_000
    audience = write_audience(args.work / f"audience-{people}.csv", people)
    first = {name: Series() for name in DOWNTIMES}
    last = {name: Series() for name in DOWNTIMES}
    expired: dict[str, int] = {}
    env = {**os.environ, "OT": "bench-token", "SMSOPS_CACHE_DIR": str(args.work / "cache")}
    with SandboxProcess() as sandbox, section("run mode after a downtime", args):

        def run(name: str) -> None:
            sandbox.reset()
            now = datetime.now(UTC)
            fired = (now - timedelta(minutes=10)).replace(second=0, microsecond=0)
            config = write_config(
                args.work / "catch-up", sandbox.url + "/opentact", audience, fired.minute
            )
            ledger = args.work / "catch-up.sqlite"
            ledger_sent_at(ledger, fired - DOWNTIMES[name], people)
            command = [PYTHON, "-m", "smsops", "run", str(config), "--ledger", str(ledger)]
            command += ["--listen", f"127.0.0.1:{free_port()}"]
            started = time.monotonic()
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            seen_first = None
            try:
                while (count := sandbox.count()) < people:
                    if count and seen_first is None:
                        seen_first = time.monotonic() - started
                    assert time.monotonic() - started < 600, "the daemon stalled"
                    assert process.poll() is None, "the daemon died"
                    time.sleep(0.05)
                done = time.monotonic() - started
            finally:
                process.terminate()
                process.wait(timeout=40)
            first[name].add(seen_first if seen_first is not None else done)
            last[name].add(done)
            expired[name] = expired_rows(ledger)

        interleaved({name: (lambda n=name: run(n)) for name in DOWNTIMES}, args.runs)
    base = last["1 hour (baseline)"].median
    rows = [
        [
            name,
            first[name].show(1),
            last[name].show(1),
            f"{last[name].median / base:.2f}×",
            f"{expired[name]:,}",
        ]
        for name in DOWNTIMES
    ]
    print(f"{people:,} recipients, hourly schedule, window 1h, SQLite ledger, sandbox at 0 ms")
    print(
        table(["down for", "first send (s)", "all sent (s)", "vs baseline", "expired rows"], rows)
    )


if __name__ == "__main__":
    main()
