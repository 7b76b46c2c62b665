"""An idle resync of a sharded occurrence, with and without the settled memo of shards.

On a PostgreSQL ledger each due occurrence is split into units (shards) that
replicas take, plan and send (docs/scale-out.md). Once every send of an
occurrence is settled, a resync (every minute, on every replica) has nothing
to do; without a memo of settled shards (daemon/settled.py) each replica
still re-plans every shard: the whole audience read, normalised and compared
with the ledger, for nothing.

One process, one PostgreSQL (a throwaway cluster), a 100,000-row audience in
50 shards whose every send is already `sent` in the ledger, and two more live
`smsops run` leases, so this replica's fair share is a third of the shards,
as with three replicas. Two runners resync in turn, a minute apart on their
clock, after one warm-up resync each (it fills the normalised-number cache
and the memo): "no memo" (the shards' memo switched off: every shard
planned, as before this change) and "memo". Per resync: this process's CPU
(every thread), PostgreSQL's CPU (its backends), the wall time, and the
plans made. Ratios are memo over no memo, same run, interleaved.

    .venv/bin/python bench/shard_memo.py            # 100,000 rows, 7 resyncs each
    .venv/bin/python bench/shard_memo.py --quick    # 4,000 rows, 1 resync each (scripts/test.sh)
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres

from common import Series, arguments, free_port, phone, section, table, write_audience
from cpu_sample import children

from smsops.audience.shards import Part
from smsops.config.loader import Config
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine import round as round_module
from smsops.engine.project import load_project
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.postgres import PostgresLedger
from tests.leases import other_replicas
from tests.postgres import Cluster

OCCURRENCE = "2026-11-22T09:00:00Z"
START = datetime(2026, 11, 22, 9, 5, tzinfo=UTC)
SHARDS = 50
CHUNK = 20_000
TICK = os.sysconf("SC_CLK_TCK")
PLANS = [0]


def counted_plans() -> None:
    """Count every plan a round makes (each reads the whole audience)."""
    real = round_module.plan_against

    def counted(*args: Any, **kwargs: Any) -> Any:
        PLANS[0] += 1
        return real(*args, **kwargs)

    round_module.plan_against = counted  # type: ignore[assignment]


def write_config(root: Path, rows: int) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    write_audience(root / "people.csv", rows)
    (root / "smsops.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: 'http://127.0.0.1:{free_port()}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a: {source: people.csv}\n"
        "schedules:\n  daily: {template: t, audience: a, provider: ot, "
        f"trigger: {{cron: '0 9 * * *', timezone: UTC}}, window: 12h, shards: {SHARDS}}}\n"
    )
    return load_project(root)


def seed_sent(ledger: Ledger, rows: int) -> None:
    """Every send of the occurrence `sent`, as a finished run leaves it."""
    for start in range(0, rows, CHUNK):
        claims = [
            SendRecord.claim(
                "daily",
                OCCURRENCE,
                phone(i),
                provider="ot",
                template="t",
                text_hash="h",
                segments=1,
                now=START,
            )
            for i in range(start, min(rows, start + CHUNK))
        ]
        won = ledger.claim(claims)
        ledger.settle([r.settled(Status.SENT, START, message_id=r.key[:16]) for r in won])


def postgres_cpu(cluster: Cluster) -> float:
    """CPU seconds the cluster's processes (postmaster and backends) have used."""
    try:
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = 0
    for pid in [postmaster, *children(postmaster)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


class Measured:
    """One runner's resyncs, each a minute after the last; CPU, wall and plans per resync."""

    def __init__(self, config: Config, ledger: Ledger, cache: Path, *, memo: bool) -> None:
        self.now = START
        self.runner = Runner(
            config, ledger, {"OT": "x"}, Metrics(), clock=lambda: self.now, cache_dir=cache
        )
        if not memo:  # every shard planned, as before the memo of shards

            def every(config: Config, name: str, part: Part, ledger: Ledger) -> Part:
                return part

            self.runner.settled.unsettled_part = every  # type: ignore[method-assign]
        self.cpu, self.server, self.wall, self.plans = Series(), Series(), Series(), Series()

    async def resync(self, cluster: Cluster, keep: bool = True) -> None:
        self.now += timedelta(minutes=1)
        plans, server = PLANS[0], postgres_cpu(cluster)
        cpu, wall = time.process_time(), time.perf_counter()
        await self.runner.reconcile(None, "resync")
        if keep:
            self.cpu.add(time.process_time() - cpu)
            self.wall.add(time.perf_counter() - wall)
            self.server.add(postgres_cpu(cluster) - server)
            self.plans.add(PLANS[0] - plans)


@contextmanager
def postgres() -> Iterator[tuple[Cluster, str]]:
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster, cluster.url(cluster.database())
    finally:
        cluster.stop()


def main() -> None:
    args = arguments(__doc__ or "", runs=7)
    rows = 4_000 if args.quick else 100_000
    work = args.work / "shard_memo"
    counted_plans()
    config = write_config(work / "cfg", rows)
    with postgres() as (cluster, url):
        ledger = PostgresLedger(url, command="smsops run")
        try:
            seed_sent(ledger, rows)
            other_replicas(url, 2, hours=6)
            variants = {
                "no memo": Measured(config, ledger, work / "cache", memo=False),
                "memo": Measured(config, ledger, work / "cache", memo=True),
            }

            async def resyncs() -> None:
                for measured in variants.values():  # warm: the number cache, the memo
                    await measured.resync(cluster, keep=False)
                for _ in range(args.runs):
                    for measured in variants.values():
                        await measured.resync(cluster)

            with section(f"An idle resync of {rows:,} settled rows in {SHARDS} shards", args):
                asyncio.run(resyncs())
                before, after = variants["no memo"], variants["memo"]
                lines = [
                    [name, m.cpu.show(3), m.server.show(3), m.wall.show(3), m.plans.show(0)]
                    for name, m in variants.items()
                ]
                lines.append(
                    [
                        "memo / no memo",
                        f"{after.cpu.median / before.cpu.median:.3f}×",
                        f"{after.server.median / max(before.server.median, 1e-9):.3f}×",
                        f"{after.wall.median / before.wall.median:.3f}×",
                        "",
                    ]
                )
                headers = ["", "replica CPU s", "PostgreSQL CPU s", "wall s", "plans"]
                print(table(headers, lines))
        finally:
            ledger.close()


if __name__ == "__main__":
    main()
