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

Several replicas' combined send rate: bench/replicas.py.

    .venv/bin/python bench/postgres.py           # 5,000 sends and 1M re-plan, 3 runs
    .venv/bin/python bench/postgres.py --quick   # 300 sends and 20k re-plan, one run
    .venv/bin/python bench/postgres.py --only apply   # or --only replan
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres

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


def main() -> None:
    def only(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--only", choices=["apply", "replan"], help="one of the two")

    args = arguments(__doc__ or "", more=only)
    count, size = (300, 20_000) if args.quick else (5_000, 1_000_000)
    cluster = Cluster()
    try:
        cluster.start()
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
