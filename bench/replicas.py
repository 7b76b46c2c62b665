"""Several `smsops run` replicas on one PostgreSQL ledger: their combined send rate.

Six untriggered schedules (`once`: due at start) of N recipients each, one
Opentact provider (`max_in_flight: 16`) on the sandbox at 20 ms latency, a
throwaway PostgreSQL server (tests/postgres.py). K replicas of `smsops run`
start together on one empty database; the figure is the time from their
start until the sandbox holds all 6 x N messages, as messages a second,
for K = 1 (the baseline, same run) and K = 3, interleaved. Each replica
takes a schedule's round only while it holds that schedule's round lock,
and each has its own provider lane (its own 16 slots), so replicas add
throughput when the schedules spread over them. Duplicates are counted from
the sandbox's messages (the ledger claim must keep them at 0).

    .venv/bin/python bench/replicas.py           # 6 x 2,000, 3 runs
    .venv/bin/python bench/replicas.py --quick   # 6 x 50, one run (scripts/test.sh)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres

from common import (
    PYTHON,
    SandboxProcess,
    Series,
    arguments,
    free_port,
    interleaved,
    schedules_config,
    section,
    stop_processes,
    table,
    write_audience,
)

from tests.postgres import Cluster

SCHEDULES = 6
IN_FLIGHT = 16


def write_config(root: Path, base_url: str, audience: Path) -> Path:
    schedules_config(root, base_url, SCHEDULES, provider=f", max_in_flight: {IN_FLIGHT}")
    (root / "audience.csv").write_bytes(audience.read_bytes())
    return root


def replicas(config: Path, url: str, count: int, work: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "OT": "bench-token", "SMSOPS_CACHE_DIR": str(work / "cache")}
    listens = [f"127.0.0.1:{free_port()}" for _ in range(count)]
    return [
        subprocess.Popen(
            [PYTHON, "-m", "smsops", "run", str(config), "--ledger", url, "--listen", listen],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for listen in listens
    ]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    stop_processes(processes, timeout=40)


def main() -> None:
    args = arguments(__doc__ or "")
    people = 50 if args.quick else 2_000
    total = SCHEDULES * people
    audience = write_audience(args.work / f"audience-{people}.csv", people)
    config_dir = args.work / "replicas"
    rates = {1: Series(), 3: Series()}
    duplicates = Counter[int]()
    cluster = Cluster()
    try:
        cluster.start()
        with SandboxProcess() as sandbox, section("Replicas on one PostgreSQL ledger", args):
            config = write_config(config_dir, sandbox.url + "/opentact", audience)

            def run(count: int) -> None:
                sandbox.reset(latency_ms=20)
                database = cluster.database()
                started = time.monotonic()
                processes = replicas(config, cluster.url(database), count, args.work)
                try:
                    while sandbox.count() < total:
                        assert time.monotonic() - started < 600, "the replicas stalled"
                        assert all(p.poll() is None for p in processes), "a replica died"
                        time.sleep(0.1)
                    seconds = time.monotonic() - started
                finally:
                    stop(processes)
                    cluster.drop(database)
                texts = Counter(
                    (m["recipient"], m["text"]) for m in sandbox.messages()
                )  # the text names its schedule: one message per recipient and schedule
                duplicates[count] += sum(n - 1 for n in texts.values() if n > 1)
                rates[count].add(total / seconds)

            interleaved({"one": lambda: run(1), "three": lambda: run(3)}, args.runs)
    finally:
        cluster.stop()
    base = rates[1].median
    rows = [
        [
            f"{count}",
            rates[count].show(0),
            f"{rates[count].median / base:.2f}×",
            f"{duplicates[count]}",
        ]
        for count in (1, 3)
    ]
    print(
        f"{SCHEDULES} schedules x {people:,} recipients, 20 ms latency, max_in_flight {IN_FLIGHT}"
    )
    print(table(["replicas", "messages/s (start to last)", "vs one", "duplicates"], rows))
    if any(duplicates.values()):
        raise SystemExit("duplicates: the claim let a send through twice")


if __name__ == "__main__":
    main()
