"""The PostgreSQL ledger beside SQLite: apply throughput and a re-plan at scale.

A throwaway PostgreSQL server (tests/postgres.py: initdb + pg_ctl in a temp
dir, as the `postgres` user when run as root; fsync off, as for the tests) is
started for the run and removed after. Every figure stands beside its
same-run SQLite baseline, interleaved (SQLite, PostgreSQL, SQLite, ...), and
is judged by the ratio: these machines are shared and noisy.

- apply 5,000 messages to the sandbox at 0 ms and 20 ms of provider latency
  (planning included: process start to exit), each PostgreSQL run into a new
  empty database over the Unix socket;
- re-plan 1,000,000 recipients when the ledger already holds 90% of them
  (the normalised numbers cached, as on any second plan). Peak RSS is
  smsops's process tree; the server's own memory is not in it.

- settle (`--only settle`): one `Ledger.settle` of 8 sent rows (apply's
  settlements of one loop turn), timed per settle over 300 of them, in a
  child process per build; with `--against REV` the older revision settles
  beside this tree, interleaved (ratio: this tree over REV).

Several replicas' combined send rate: bench/replicas.py.

    .venv/bin/python bench/postgres.py           # 5,000 sends and 1M re-plan, 3 runs
    .venv/bin/python bench/postgres.py --quick   # 300 sends and 20k re-plan, one run
    .venv/bin/python bench/postgres.py --only apply   # or --only replan, --only settle
    .venv/bin/python bench/postgres.py --only settle --against main
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres

from against import Build, builds
from apply_throughput import IN_FLIGHT
from common import (
    SandboxProcess,
    Series,
    apply_fresh,
    arguments,
    interleaved,
    run_measured,
    section,
    smsops,
    table,
    write_audience,
    write_config,
)
from plan_scale import fill, ledger_with

from smsops.ledger.postgres import PostgresLedger
from tests.postgres import Cluster


def fill_postgres(url: str, rows: int, share: float) -> None:
    ledger = PostgresLedger(url)
    try:
        fill(ledger, rows, share)
    finally:
        ledger.close()


def apply_rows(args: object, cluster: Cluster, count: int) -> list[list[str]]:
    work: Path = args.work  # type: ignore[attr-defined]
    runs: int = args.runs  # type: ignore[attr-defined]
    audience = write_audience(work / f"audience-{count}.csv", count)
    rows = []
    with SandboxProcess() as sandbox:
        config = write_config(
            work / "pg-apply", sandbox.url + "/opentact", str(audience), max_in_flight=IN_FLIGHT
        )
        for latency in (0, 20):
            rates = {"SQLite": Series(), "PostgreSQL": Series()}

            def run(name: str, ledger: Path | str, latency: int = latency) -> None:
                sandbox.reset(latency_ms=latency)
                seconds = apply_fresh(config, ledger, count)
                assert len(sandbox.messages()) == count
                rates[name].add(count / seconds)

            def postgres() -> None:
                database = cluster.database()
                try:
                    run("PostgreSQL", cluster.url(database))
                finally:
                    cluster.drop(database)

            interleaved(
                {"sqlite": lambda: run("SQLite", work / "pg-apply.sqlite"), "pg": postgres},
                runs,
            )
            base = rates["SQLite"].median
            for name, series in rates.items():
                ratio = series.median / base
                rows.append([f"{latency} ms", name, series.show(0), f"{ratio:.2f}×"])
            print(f"apply at {latency} ms done", file=sys.stderr)
    return rows


def replan_rows(args: object, cluster: Cluster, size: int) -> list[list[str]]:
    work: Path = args.work  # type: ignore[attr-defined]
    runs: int = args.runs  # type: ignore[attr-defined]
    audience = write_audience(work / f"audience-{size}.csv", size)
    config = write_config(work / f"pg-plan-{size}", "http://127.0.0.1:9/opentact", str(audience))
    sqlite = ledger_with(work / f"ledger-{size}-90.sqlite", size, 0.9)
    database = cluster.database()
    url = cluster.url(database)
    fill_postgres(url, size, 0.9)
    env = {"SMSOPS_CACHE_DIR": str(work / f"cache-{size}")}
    plan = ["plan", str(config), "--format", "json", "--ledger"]
    run_measured(smsops(*plan, str(sqlite)), env)  # fills the cache: a re-plan's numbers
    times = {"SQLite": Series(), "PostgreSQL": Series()}
    rss = {"SQLite": Series(), "PostgreSQL": Series()}

    def replan(name: str, ledger: str) -> None:
        measured = run_measured(smsops(*plan, ledger), env)
        assert json.loads(measured.stdout)["summary"]["sent"] == int(size * 0.9)
        times[name].add(measured.seconds)
        rss[name].add(measured.peak_rss_mb)

    try:
        interleaved(
            {
                "sqlite": lambda: replan("SQLite", str(sqlite)),
                "pg": lambda: replan("PostgreSQL", url),
            },
            runs,
        )
    finally:
        cluster.drop(database)
    base = times["SQLite"].median
    return [
        [
            f"{size:,}",
            name,
            times[name].show(),
            f"{times[name].median / base:.2f}×",
            rss[name].show(0),
        ]
        for name in times
    ]


# A child's settles, timed (run by each build's own python path): ms a settle.
_SETTLE = """
import sys, time
from datetime import UTC, datetime
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.postgres import PostgresLedger
url, settles, size, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ledger = PostgresLedger(url)
won = ledger.claim(
    SendRecord.claim("s", tag, f"+4477009{n:05d}", provider="sky", template="t",
                     text_hash="h", segments=1, now=t0, claimed_by="bench:1:a")
    for n in range(settles * size)
)
start = time.perf_counter()
for at in range(0, len(won), size):
    ledger.settle([r.settled(Status.SENT, t0, message_id=tag + r.key) for r in won[at:at + size]])
print((time.perf_counter() - start) / settles * 1000)
ledger.close()
"""


def settle_rows(args: object, cluster: Cluster, settles: int) -> list[list[str]]:
    work: Path = args.work  # type: ignore[attr-defined]
    runs: int = args.runs  # type: ignore[attr-defined]
    database = cluster.database()
    url = cluster.url(database)
    rows: list[list[str]] = []
    try:
        with builds(getattr(args, "against", None), work) as versions:
            times = {build: Series() for build in versions}
            rounds = iter(range(10**6))

            def settle(build: Build) -> None:
                command = [
                    sys.executable,
                    "-c",
                    _SETTLE,
                    url,
                    str(settles),
                    "8",
                    f"r{next(rounds)}",
                ]
                out = subprocess.run(
                    command, env=build.environ(), cwd=build.cwd, capture_output=True,
                    text=True, check=True,
                )  # fmt: skip
                times[build].add(float(out.stdout))

            interleaved({b.name: partial(settle, b) for b in versions}, runs)
            base = times[versions[-1]].median
            for build in versions:
                ratio = f"{times[build].median / base:.2f}×"
                rows.append([build.name, "8", times[build].show(3), ratio])
    finally:
        cluster.drop(database)
    return rows


def main() -> None:
    def only(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--only", choices=["apply", "replan", "settle"], help="one part")

    args = arguments(__doc__ or "", more=only, against=True)
    count, size = (300, 20_000) if args.quick else (5_000, 1_000_000)
    cluster = Cluster()
    try:
        cluster.start()
        if args.only in (None, "settle"):
            with section("PostgreSQL settles of 8 rows (ms a settle)", args):
                rows = settle_rows(args, cluster, 40 if args.quick else 300)
                print(table(["build", "rows", "ms a settle", "vs the last"], rows))
        if args.only == "settle":
            return
        if args.only != "replan":
            with section("PostgreSQL ledger beside SQLite: apply", args):
                rows = apply_rows(args, cluster, count)
                print(table(["latency", "ledger", "messages/s", "vs SQLite"], rows))
        if args.only == "apply":
            return
        with section("PostgreSQL ledger beside SQLite: re-plan, 90% in the ledger", args):
            rows = replan_rows(args, cluster, size)
            headers = ["recipients", "ledger", "re-plan (s)", "vs SQLite", "peak RSS (MB)"]
            print(table(headers, rows))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
