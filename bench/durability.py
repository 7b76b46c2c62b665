"""What a durable claim costs: `smsops apply` on SQLite with synchronous=FULL vs NORMAL.

Since issue 19 every SQLite writer commits with `synchronous=FULL`: the WAL is
synced at each commit, so a claim survives a power loss (with NORMAL, SQLite
documents that a commit "might roll back following a power loss or system
crash", and a forgotten claim could be sent again). This measures the price
in one run: the same apply of N messages into a new ledger, interleaved
(FULL, NORMAL, FULL, ...), at 0 ms and 20 ms of provider latency. NORMAL is
set only inside the benchmark's processes (`SYNCHRONOUS` in
smsops/ledger/sqlite_file.py); smsops has no setting for it.

A second table shows the bare price per commit, one claim per
transaction: apply hides most of it by writing claims and settlements in
batches.

The ledger lives in --work: on tmpfs a sync costs nothing, so the table also
names the file system it was measured on.

    .venv/bin/python bench/durability.py           # 5,000 messages, 3 runs
    .venv/bin/python bench/durability.py --quick   # 100 messages, one run
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from smsops.ledger import sqlite_file
from smsops.ledger.base import SendRecord
from smsops.ledger.sqlite import SqliteLedger

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PYTHON,
    SandboxProcess,
    Series,
    apply_fresh,
    arguments,
    interleaved,
    phone,
    remove_ledger,
    section,
    table,
    write_audience,
    write_config,
)

# As bench/apply_throughput.py: enough in flight that the sends are not what limits.
IN_FLIGHT = 256
# `python -m smsops` with the ledger's synchronous level set first (argv[1]).
WITH_LEVEL = (
    "import sys\n"
    "import smsops.ledger.sqlite_file as sqlite_file\n"
    "sqlite_file.SYNCHRONOUS = sys.argv.pop(1)\n"
    "from smsops.cli import main\n"
    "raise SystemExit(main())\n"
)


def commits_per_second(level: str, ledger: Path, count: int) -> float:
    """One claim per transaction, `count` times, at `level`: the bare price of a synced commit."""
    remove_ledger(ledger)
    sqlite_file.SYNCHRONOUS = level
    try:
        opened = SqliteLedger(ledger)
    finally:
        sqlite_file.SYNCHRONOUS = "FULL"
    now = datetime.now(UTC)
    try:
        started = time.perf_counter()
        for i in range(count):
            opened.claim(
                [
                    SendRecord.claim(
                        "s",
                        "once",
                        phone(i),
                        provider="ot",
                        template="t",
                        text_hash="h",
                        segments=1,
                        now=now,
                    )
                ]
            )
        return count / (time.perf_counter() - started)
    finally:
        opened.close()


def file_system(path: Path) -> str:
    """The mount `path` is on, e.g. "ext4 on /dev/vda"."""
    best = max(
        (p for p in psutil.disk_partitions(all=True) if str(path).startswith(p.mountpoint)),
        key=lambda p: len(p.mountpoint),
    )
    return f"{best.fstype} on {best.device}"


def main() -> None:
    args = arguments(__doc__ or "")
    count = 100 if args.quick else 5_000
    audience = write_audience(args.work / f"audience-{count}.csv", count)
    ledger = args.work / "durability-ledger.sqlite"
    rows = []
    with SandboxProcess() as sandbox, section("Durable claims: synchronous FULL vs NORMAL", args):
        config = write_config(
            args.work / "durability",
            sandbox.url + "/opentact",
            str(audience),
            max_in_flight=IN_FLIGHT,
        )
        print(f"{count:,} messages; ledger on {file_system(args.work)}\n")
        for latency in (0, 20):
            rates = {"FULL": Series(), "NORMAL": Series()}

            def run(level: str, latency: int = latency) -> None:
                sandbox.reset(latency_ms=latency)
                seconds = apply_fresh(config, ledger, count, [PYTHON, "-c", WITH_LEVEL, level])
                assert len(sandbox.messages()) == count
                rates[level].add(count / seconds)

            interleaved({level: lambda level=level: run(level) for level in rates}, args.runs)
            ratio = rates["FULL"].median / rates["NORMAL"].median
            rows.append(
                [
                    f"{latency} ms",
                    rates["NORMAL"].show(0),
                    rates["FULL"].show(0),
                    f"{ratio:.2f}×",
                ]
            )
            print(f"{latency} ms done", file=sys.stderr)
        print(table(["latency", "NORMAL msg/s", "FULL msg/s (now)", "FULL / NORMAL"], rows))
    commits = {"FULL": Series(), "NORMAL": Series()}
    single = 200 if args.quick else 2_000
    interleaved(
        {
            level: lambda level=level: commits[level].add(
                commits_per_second(level, args.work / "commits.sqlite", single)
            )
            for level in commits
        },
        args.runs,
    )
    ratio = commits["FULL"].median / commits["NORMAL"].median
    print(f"\nOne claim per transaction ({single:,} in a row, in this process):\n")
    print(
        table(
            ["NORMAL commits/s", "FULL commits/s (now)", "FULL / NORMAL"],
            [[commits["NORMAL"].show(0), commits["FULL"].show(0), f"{ratio:.2f}×"]],
        )
    )


if __name__ == "__main__":
    main()
