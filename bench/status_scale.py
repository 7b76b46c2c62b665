"""The status view on a 1,000,000-row SQLite ledger (issue 23): `status_of` against the
ledger's existing grouped count (`Ledger.stats()`) in the same run, and `smsops status`
whole against `smsops ledger stats` whole, each in a fresh process.

The ledger: `--schedules` schedules x `--occurrences` daily occurrences x recipients,
written with plain INSERTs into a file smsops created (the statuses a week of real sends
leaves: mostly delivered, some sent, failed, undelivered, uncertain and expired). The
view reads each schedule's five newest occurrences (one grouped query), the uncertain
rows per occurrence, the opt-outs of the week and the runs table; the baseline counts
every row by schedule, occurrence and status (what `plan` and `ledger stats` read).

    .venv/bin/python bench/status_scale.py            # 1,000,000 rows, 5 runs
    .venv/bin/python bench/status_scale.py --quick    # 20,000 rows, one run (scripts/test.sh)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import arguments

from smsops.engine.project import load_project
from smsops.engine.status import status_of
from smsops.ledger.sqlite import SqliteLedger

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
STATUSES = ["delivered"] * 90 + ["sent"] * 4 + ["failed", "undelivered", "uncertain", "expired"]


def config(root: Path, schedules: int) -> Path:
    body = [
        "providers:\n  sky:\n    type: skycore\n    base_url: http://127.0.0.1:9/api\n",
        '    api_key: ${env:SKY_KEY}\n    from: "12025550100"\n',
        'templates:\n  t: {category: transactional, body: "hi"}\n',
        'audiences:\n  a:\n    contacts:\n      - {phone: "+15550000001"}\n',
        "schedules:\n",
    ]
    for n in range(schedules):
        body.append(f"  s{n:02d}:\n    template: t\n    audience: a\n    provider: sky\n")
        body.append('    trigger: {cron: "0 9 * * *", timezone: UTC}\n')
    (root / "config").mkdir()
    (root / "config" / "c.yaml").write_text("".join(body))
    return root / "config"


def ledger(path: Path, schedules: int, occurrences: int, rows: int) -> None:
    SqliteLedger(path).close()  # the schema, as smsops makes it
    import sqlite3

    per = rows // (schedules * occurrences)
    db = sqlite3.connect(path)
    at = NOW.isoformat()
    columns = "key, schedule, occurrence, recipient, provider, template, text_hash, "
    columns += "segments, status, attempts, created_at, updated_at"
    insert = f"INSERT INTO sends ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    with db:
        for s in range(schedules):
            for o in range(occurrences):
                label = (NOW - timedelta(days=o)).replace(hour=9).isoformat()
                db.executemany(
                    insert,
                    (
                        (f"{s}-{o}-{r}", f"s{s:02d}", label, f"+1555{r:07d}", "sky", "t", "h",
                         1, STATUSES[r % len(STATUSES)], 1, at, at)
                        for r in range(per)
                    ),
                )  # fmt: skip
    db.execute("ANALYZE")
    db.close()


def timed(action: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def shown(times: list[float]) -> str:
    return f"{statistics.median(times):.1f} ({min(times):.1f}–{max(times):.1f})"


def main() -> None:
    def more(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--schedules", type=int, default=10)
        parser.add_argument("--occurrences", type=int, default=100)

    args = arguments(__doc__.splitlines()[0], runs=5, more=more)
    if args.quick:  # the smoke run of scripts/test.sh: the same steps on 20,000 rows
        args.rows, args.runs = 20_000, 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "ledger.sqlite"
        ledger(path, args.schedules, args.occurrences, args.rows)
        project = load_project(config(root, args.schedules))
        reader = SqliteLedger(path, readonly=True)
        env = {"SKY_KEY": "k"}
        rows = sum(sum(c.values()) for c in reader.stats().values())
        view = lambda: status_of(project, reader, NOW, env=env)  # noqa: E731
        view()  # warm the page cache for both
        base, ours = [], []
        for _ in range(args.runs):  # interleaved: the machine is shared
            base += timed(reader.stats, 1)
            ours += timed(view, 1)
        reader.close()
        cli_base, cli_ours = [], []
        smsops = [sys.executable, "-m", "smsops"]
        for _ in range(args.runs):
            cli_base += timed(lambda: _run([*smsops, "ledger", "stats", "--ledger", str(path)]), 1)
            status = [*smsops, "status", str(root / "config"), "--ledger", str(path)]
            cli_ours += timed(lambda: _run(status), 1)
    print(f"{rows:,} rows; {args.runs} runs, median (min–max) ms")
    print("| what | ms |\n|---|---|")
    print(f"| `Ledger.stats()` (baseline: every row counted) | {shown(base)} |")
    print(f"| `status_of` (the view) | {shown(ours)} |")
    print(f"| `smsops ledger stats` (baseline, whole process) | {shown(cli_base)} |")
    print(f"| `smsops status` (whole process) | {shown(cli_ours)} |")


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


if __name__ == "__main__":
    main()
