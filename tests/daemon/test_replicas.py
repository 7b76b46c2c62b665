"""Several `smsops run` replicas on one PostgreSQL ledger: the round lock, units, /readyz.

The round lock is PostgreSQL's (`pg_try_advisory_lock` on a connection of its
own; the opt-out confirmations' round takes it): one replica holds it, a
replica that dies releases it with its connection. A schedule's round takes
units (daemon/units.py): a replica finds them all held by another and skips. /readyz follows the ledger's
connection, cut and restored through a loopback relay.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from smsops.daemon.units import unit_occurrences
from smsops.ledger.postgres import PostgresLedger
from smsops.sandbox.server import Sandbox
from tests.daemon.daemon import running, until
from tests.daemon.proxy import relay
from tests.daemon.test_clock import project, runner_at
from tests.leases import short_lease_env
from tests.postgres import ADMIN, Cluster

HOLD = """
import sys, time
from smsops.ledger.postgres import PostgresLedger
ledger = PostgresLedger(sys.argv[1])
with ledger.round_lock("daily") as mine:
    print(mine, flush=True)
    time.sleep(60)
"""


def free(ledger: PostgresLedger, schedule: str) -> bool:
    with ledger.round_lock(schedule) as mine:
        return mine


def test_one_replica_at_a_time_holds_a_schedules_round(postgres_db: str) -> None:
    first, second = PostgresLedger(postgres_db), PostgresLedger(postgres_db)
    try:
        with first.round_lock("daily") as mine:
            assert mine
            assert not free(second, "daily")  # the other replica skips this round
            assert free(second, "weekly")  # another schedule's round is its own
        assert free(second, "daily")  # released at the end of the round
    finally:
        first.close()
        second.close()


def test_a_replica_killed_mid_round_releases_its_lock(postgres_db: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, postgres_db], stdout=subprocess.PIPE, env=short_lease_env()
    )
    other = PostgresLedger(postgres_db)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"True"
        assert not free(other, "daily")
        holder.kill()  # kill -9: no cleanup of its own; PostgreSQL ends the session
        holder.wait()
        until(lambda: free(other, "daily"), seconds=10)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
        other.close()


HOLD_UNIT = """
import sys
from datetime import UTC, datetime
from smsops.ledger.postgres import PostgresLedger
ledger = PostgresLedger(sys.argv[1], command="smsops run")
now = datetime.now(UTC)
print(ledger.take_units("daily", sys.argv[2], 1, now=now, since=now, gone=()).shards, flush=True)
sys.stdin.readline()  # held (its lease renewed) until told
ledger.release_units("daily", sys.argv[2], [0], passed=None)
ledger.close()
"""


def test_a_replica_skips_a_round_whose_units_another_holds_and_counts_it(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)
    config = project(tmp_path, sandbox)
    (occurrence,) = unit_occurrences(config, "daily", at)
    ledger = PostgresLedger(postgres_db)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_UNIT, postgres_db, occurrence],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=short_lease_env(),
    )
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "[0]"  # another replica holds the one unit
        runner, metrics = runner_at(config, ledger, at)
        with caplog.at_level(logging.DEBUG, "smsops.run"):
            assert asyncio.run(runner.reconcile(["daily"], "fire")) is None
        assert sandbox.state.snapshot() == []
        sample = {"schedule": "daily", "reason": "other replica"}
        assert metrics.registry.get_sample_value("smsops_rounds_skipped_total", sample) == 1
        assert "daily: other replicas hold every unit of this round; skipped" in caplog.text

        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.wait(timeout=20) == 0
        plan = asyncio.run(runner.reconcile(["daily"], "fire"))  # the unit is free again
        assert plan is not None
        assert len(sandbox.state.snapshot()) == 6
    finally:
        holder.kill()
        holder.wait()
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
        ledger.close()


def test_readyz_is_503_while_the_ledger_is_unreachable_and_200_when_it_returns(
    tmp_path: Path, sandbox: Sandbox, postgres_cluster: Cluster
) -> None:
    project(tmp_path, sandbox)
    name = postgres_cluster.database()
    try:
        with relay(postgres_cluster.port) as link:
            url = f"postgresql://{ADMIN}:{postgres_cluster.password}@127.0.0.1:{link.port}/{name}"
            env = {**short_lease_env(), "OT": "jwt", "SMSOPS_LEDGER_WAIT": "2"}
            with running(tmp_path / "c.yaml", url, env, workdir=tmp_path) as daemon:
                until(lambda: daemon.get("/readyz")[0] == 200)
                link.cut()
                until(lambda: daemon.get("/readyz")[0] == 503)
                assert daemon.json("/readyz")["detail"].startswith("ledger unreachable")
                assert postgres_cluster.password not in daemon.get("/readyz")[1]
                link.restore()
                until(lambda: daemon.get("/readyz")[0] == 200)
    finally:
        postgres_cluster.drop(name)
