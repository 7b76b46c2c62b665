"""Two `smsops run` replicas on one PostgreSQL ledger: a kill -9 mid-round, a database outage.

One untriggered schedule (`once`) of N recipients, Opentact on the sandbox at
100 ms latency (a round of many seconds), a throwaway PostgreSQL server
(tests/postgres.py), both replicas with the same lease (`SMSOPS_LEASE`).

- kill: once 10% is sent, the replica with requests on the wire is killed
  with SIGKILL. Figures: from the end of its lease (read from the ledger) to
  the survivor's first new message in the sandbox (the goal: 10 s at most),
  and the final rows: sent, uncertain (its in-flight claims), duplicates.
- outage: both replicas reach the database through a loopback relay; once
  10% is sent it is cut for as long as the lease, then restored. Figures:
  messages the sandbox accepted whose row is not `sent` (the goal: 0), and
  the time from the return until every accepted message has its row.

    .venv/bin/python bench/takeover.py           # 3,000 recipients, the default 30 s lease
    .venv/bin/python bench/takeover.py --quick   # 600 recipients, a 2 s lease (scripts/test.sh)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres

from common import (
    PYTHON,
    SandboxProcess,
    arguments,
    free_port,
    section,
    stop_processes,
    table,
    wait,
    write_audience,
)

from smsops.ledger.base import Status
from tests.daemon.proxy import relay
from tests.leases import lease_end, rows
from tests.postgres import ADMIN, Cluster

GOAL_RESUME = 10.0  # seconds from the lease's end to the survivor's first send


class Replica:
    def __init__(self, config: Path, url: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "smsops",
                "run",
                str(config),
                "--ledger",
                url,
                "--listen",
                f"127.0.0.1:{self.port}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def in_flight(self) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return 0.0
        for line in text.splitlines():
            if line.startswith("smsops_in_flight "):
                return float(line.split()[1])
        return 0.0

    def stop(self) -> None:
        stop_processes([self.process], timeout=60)


def write_config(root: Path, base_url: str, audience: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "smsops.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{base_url}', token: '${{env:OT}}', "
        "from: '+12017771234', max_in_flight: 16}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a: {source: audience.csv}\n"
        "schedules:\n  greet: {template: t, audience: a, provider: ot}\n"
    )
    (root / "audience.csv").write_bytes(audience.read_bytes())
    return root


def sending(replicas: list[Replica]) -> Replica:
    found: list[Replica] = []
    wait(
        lambda: bool(found.extend(r for r in replicas if r.in_flight() > 0) or found),
        60,
        "a replica sending",
    )
    return found[0]


def kill_scenario(
    sandbox: SandboxProcess, config: Path, url: str, env: dict[str, str], people: int
) -> list[str]:
    sandbox.reset(latency_ms=100)
    replicas = [Replica(config, url, env) for _ in range(2)]
    try:
        wait(lambda: sandbox.count() >= people // 10, 120, "10% sent")
        victim = sending(replicas)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        time.sleep(0.3)  # answers the sandbox was writing when it died
        at_kill = sandbox.count()
        end = lease_end(url, victim.process.pid)
        wait(lambda: sandbox.count() > at_kill, 300, "the survivor to resume")
        resumed = (datetime.now(UTC) - end).total_seconds()
        sandbox.call("PUT", "/_sandbox/faults", {"latency_ms": 0})
        wait(
            lambda: len(rows(url)) == people and Status.PENDING not in rows(url).values(),
            300,
            "every row settled",
        )
    finally:
        for replica in replicas:
            replica.stop()
    final = Counter(rows(url).values())
    return [
        "kill -9 mid-round",
        f"{resumed:.1f} s",
        f"{final[Status.SENT]:,}",
        f"{final[Status.UNCERTAIN]:,}",
        "–",
        "PASS" if resumed <= GOAL_RESUME else "FAIL",
    ]


def outage_scenario(
    sandbox: SandboxProcess,
    config: Path,
    cluster: Cluster,
    name: str,
    env: dict[str, str],
    lease: float,
    people: int,
) -> tuple[list[str], int]:
    sandbox.reset(latency_ms=100)
    direct = cluster.url(name)
    with relay(cluster.port) as link:
        url = f"postgresql://{ADMIN}:{cluster.password}@127.0.0.1:{link.port}/{name}"
        replicas = [Replica(config, url, env) for _ in range(2)]
        try:
            wait(lambda: sandbox.count() >= people // 10, 120, "10% sent")
            sending(replicas)
            link.cut()
            time.sleep(lease)
            link.restore()
            back = time.monotonic()

            def accepted_have_rows() -> bool:
                ledger = rows(direct)
                return all(
                    ledger.get(str(m["recipient"])) not in (None, Status.PENDING)
                    for m in sandbox.messages()
                )

            wait(accepted_have_rows, 4 * lease + 60, "the accepted messages' rows")
            settled = time.monotonic() - back
        finally:
            for replica in replicas:
                replica.stop()
    final = rows(direct)
    accepted = {str(m["recipient"]) for m in sandbox.messages()}
    wrong = sum(1 for n in accepted if final.get(n) is not Status.SENT)
    counts = Counter(final.values())
    return [
        f"outage of {lease:g} s",
        f"{settled:.1f} s to settle",
        f"{counts[Status.SENT]:,}",
        f"{counts[Status.UNCERTAIN]:,}",
        f"{wrong}",
        "PASS" if wrong == 0 else "FAIL",
    ], wrong


def main() -> None:
    args = arguments(__doc__ or "")
    people = 600 if args.quick else 3_000
    lease = 2.0 if args.quick else 30.0
    audience = write_audience(args.work / f"audience-{people}.csv", people)
    env = {
        **os.environ,
        "OT": "bench-token",
        "SMSOPS_LEASE": f"{lease:g}",
        "SMSOPS_CACHE_DIR": str(args.work / "cache"),
        "SMSOPS_LEDGER_WAIT": "2",
    }
    cluster = Cluster()
    results: list[list[str]] = []
    duplicates = 0
    wrong = 0
    try:
        cluster.start()
        with SandboxProcess() as sandbox, section("Replica takeover (kill -9, outage)", args):
            config = write_config(args.work / "takeover", sandbox.url + "/opentact", audience)
            for _ in range(args.runs):
                database = cluster.database()
                try:
                    results.append(
                        kill_scenario(sandbox, config, cluster.url(database), env, people)
                    )
                    duplicates += _duplicates(sandbox)
                finally:
                    cluster.drop(database)
                database = cluster.database()
                try:
                    row, lost = outage_scenario(
                        sandbox, config, cluster, database, env, lease, people
                    )
                    results.append(row)
                    wrong += lost
                    duplicates += _duplicates(sandbox)
                finally:
                    cluster.drop(database)
    finally:
        cluster.stop()
    print(f"2 replicas, {people:,} recipients, 100 ms latency, SMSOPS_LEASE={lease:g}")
    print(
        table(
            [
                "scenario",
                "resumed after the lease / settled after the return",
                "sent",
                "uncertain",
                "accepted but not sent",
                "goal",
            ],
            results,
        )
    )
    print(f"\nduplicates: {duplicates}")
    if duplicates or wrong:
        raise SystemExit("a duplicate, or an accepted message not recorded sent")
    if not args.quick and any(row[-1] == "FAIL" for row in results):
        raise SystemExit("a goal was missed")


def _duplicates(sandbox: SandboxProcess) -> int:
    seen = Counter(str(m["recipient"]) for m in sandbox.messages())
    return sum(n - 1 for n in seen.values() if n > 1)


if __name__ == "__main__":
    main()
