"""Two `smsops run` replicas on one PostgreSQL ledger: a kill -9 mid-round is taken over
within seconds of the lease lapsing; an outage as long as the lease leaves no sent message
`uncertain`.

Real processes, real loopback (the sandbox, a throwaway PostgreSQL, a relay the test can
cut). The replicas take a 2 s lease (so a look every 0.4 s, a grace of 0.33 s); the
scheduled resync is a minute away, so only the watch can explain a prompt takeover.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smsops.ledger.base import Status
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import write_config
from tests.daemon.daemon import Daemon, running, until
from tests.daemon.proxy import relay
from tests.leases import lease_end, rows
from tests.postgres import ADMIN, Cluster

COUNT = 1500
LEASE = "2"
TAKEOVER_WITHIN = timedelta(seconds=10)  # of the lease's end (the acceptance)


def replica_env() -> dict[str, str]:
    return {
        **os.environ,
        "SMSOPS_LEASE": LEASE,
        "OT_TOKEN": "jwt",
        "AOC_KEY": "k",
        "SKY_KEY": "k",
        "SMSOPS_LEDGER_WAIT": "2",
    }


def sending(daemons: list[Daemon]) -> Daemon:
    """The replica with requests on the wire (the one that holds the round)."""
    found: list[Daemon] = []
    until(
        lambda: bool(
            found.extend(d for d in daemons if (d.metric("smsops_in_flight") or 0) > 0) or found
        )
    )
    return found[0]


def test_a_replica_killed_mid_round_is_taken_over_within_seconds_of_its_lease(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str
) -> None:
    sandbox.state.faults.update({"latency_ms": 100})  # a round of several seconds
    root = write_config(tmp_path / "cfg", sandbox, COUNT)
    with contextlib.ExitStack() as stack:
        daemons = [
            stack.enter_context(running(root, postgres_db, replica_env(), workdir=tmp_path))
            for _ in range(2)
        ]
        until(lambda: len(sandbox.state.snapshot()) >= 100, seconds=30)
        victim = sending(daemons)
        (survivor,) = [d for d in daemons if d is not victim]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        time.sleep(0.2)  # requests the sandbox was answering when the victim died
        at_kill = len(sandbox.state.snapshot())
        assert at_kill < COUNT, "the round finished before the kill"
        end = lease_end(postgres_db, victim.process.pid)
        sandbox.state.faults.update({"latency_ms": 0})
        until(lambda: len(sandbox.state.snapshot()) > at_kill, seconds=30)
        resumed = datetime.now(UTC)
        assert resumed - end <= TAKEOVER_WITHIN, f"resumed {resumed - end} after the lease"
        assert survivor.metric("smsops_takeovers_total") == 1.0
        until(lambda: len(rows(postgres_db)) == COUNT, seconds=30)
        until(lambda: Status.PENDING not in rows(postgres_db).values(), seconds=30)
    seen = Counter(m["recipient"] for m in sandbox.state.snapshot())
    assert max(seen.values()) == 1  # 0 duplicates
    final = rows(postgres_db)
    unsent = {n for n, status in final.items() if status is not Status.SENT}
    assert {final[n] for n in unsent} <= {Status.UNCERTAIN}  # the victim's in-flight claims
    assert set(final) - unsent <= set(seen)


def test_an_outage_as_long_as_the_lease_leaves_no_sent_message_uncertain(
    tmp_path: Path, sandbox: Sandbox, postgres_cluster: Cluster
) -> None:
    sandbox.state.faults.update({"latency_ms": 100})
    root = write_config(tmp_path / "cfg", sandbox, COUNT)
    name = postgres_cluster.database()
    direct = postgres_cluster.url(name)
    try:
        with relay(postgres_cluster.port) as link, contextlib.ExitStack() as stack:
            url = f"postgresql://{ADMIN}:{postgres_cluster.password}@127.0.0.1:{link.port}/{name}"
            daemons = [
                stack.enter_context(running(root, url, replica_env(), workdir=tmp_path))
                for _ in range(2)
            ]
            until(lambda: len(sandbox.state.snapshot()) >= 100, seconds=30)
            sending(daemons)
            link.cut()
            time.sleep(float(LEASE) + 0.5)  # every lease lapses, the judges' too
            (root / "smsops.yaml").touch()  # a round on every replica the moment it is back
            link.restore()

            def accepted_have_rows() -> bool:
                ledger = rows(direct)
                return all(
                    ledger.get(m["recipient"]) is not Status.PENDING
                    for m in sandbox.state.snapshot()
                )

            until(accepted_have_rows, seconds=40)
        accepted = {m["recipient"] for m in sandbox.state.snapshot()}
        final = rows(direct)
        wrong = {n: final.get(n) for n in accepted if final.get(n) is not Status.SENT}
        assert wrong == {}  # every message the provider took is `sent`, none `uncertain`
    finally:
        postgres_cluster.drop(name)
