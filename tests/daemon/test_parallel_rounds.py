"""Run mode under pressure (issue 14): rounds of different schedules in parallel, fires merged.

In process, against the sandbox with latency (each provider `max_in_flight:
1`, so a round of n recipients takes n x latency), with a fake clock for
what is due. Serially, six schedules' rounds would take six times one round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox

LATENCY = 0.25  # seconds per request
T = datetime(2026, 11, 22, 9, 0, 10, tzinfo=UTC)  # 10 s into the 09:00 occurrence


def number(schedule: int, i: int) -> str:
    return f"+4474001{schedule:02d}{i:03d}"


def write_config(root: Path, sandbox: Sandbox, sizes: list[int], extra: str = "") -> Path:
    """Schedule sN (every minute, a one-minute window) sends to sizes[N] people through pN."""
    lines = ["providers:"]
    for n in range(len(sizes)):
        lines.append(
            f"  p{n}: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
            "token: '${env:OT}', from: '+12017771234', max_in_flight: 1}"
        )
    lines += ["templates:", "  t: {category: transactional, body: 'Hi'}", "audiences:"]
    for n, size in enumerate(sizes):
        people = ", ".join(f"{{phone: '{number(n, i)}'}}" for i in range(size))
        lines.append(f"  a{n}: {{contacts: [{people}]}}")
    lines.append("schedules:")
    for n in range(len(sizes)):
        lines.append(
            f"  s{n}: {{template: t, audience: a{n}, provider: p{n}, "
            "trigger: {every: 1m}, window: 1m}"
        )
    (root / "c.yaml").write_text("\n".join(lines) + "\n" + extra)
    return root


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def runner(config: Config, ledger: SqliteLedger, clock: Clock) -> Runner:
    return Runner(config, ledger, {"OT": "jwt"}, Metrics(), clock=clock)


def sent_by_schedule(sandbox: Sandbox) -> dict[int, list[float]]:
    """Arrival times (epoch seconds) of the sandbox's messages, per schedule number."""
    arrivals: dict[int, list[float]] = {}
    for message in sandbox.state.snapshot():
        schedule = int(message["recipient"][8:10])
        at = datetime.fromisoformat(message["received_at"]).timestamp()
        arrivals.setdefault(schedule, []).append(at)
    return arrivals


@pytest.fixture
def slow(sandbox: Sandbox) -> Sandbox:
    sandbox.state.faults.latency_ms = LATENCY * 1000
    return sandbox


def test_six_schedules_send_in_parallel_while_time_runs(tmp_path: Path, slow: Sandbox) -> None:
    config = load_project(write_config(tmp_path, slow, [4] * 6))
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    clock = Clock(T)
    run = runner(config, ledger, clock)

    in_flight: list[int] = []

    async def resync_while_time_runs() -> float:
        begun = time.monotonic()
        resync = asyncio.ensure_future(run.reconcile(None, "resync"))
        # Half a fake minute per real second: a round (1 s) stays inside its window
        # even on a loaded machine (rounds that outlast it: test_pressure.py).
        while not resync.done():
            await asyncio.sleep(0.1)
            clock.at += timedelta(seconds=3)
            in_flight.append(run.in_flight())  # what /metrics shows: summed over rounds
        await resync
        return time.monotonic() - begun

    seconds = asyncio.run(resync_while_time_runs())
    assert max(in_flight) >= 4  # six providers at one request each, sending at once

    arrivals = sent_by_schedule(slow)
    assert sorted(arrivals) == list(range(6))
    assert all(len(times) == 4 for times in arrivals.values())
    # Serially: 6 rounds x 4 requests x 0.25 s = 6 s. In parallel: one round's 1 s.
    assert seconds < 3.0, seconds
    # Every schedule's first message went out before any schedule's round was over.
    firsts = [min(times) for times in arrivals.values()]
    lasts = [max(times) for times in arrivals.values()]
    assert max(firsts) < min(lasts)
    assert {r.status for r in ledger.records()} == {Status.SENT}
    ledger.close()


def test_a_fire_during_a_running_round_is_merged_into_one_follow_up(
    tmp_path: Path, slow: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_project(write_config(tmp_path, slow, [3]))
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    clock = Clock(T)
    run = runner(config, ledger, clock)

    async def fires() -> tuple[object, list[object]]:
        [first] = run.request(["s0"], "fire")
        await asyncio.sleep(LATENCY)  # 09:00's round is sending
        assert run.rounds.running() == ["s0"]
        clock.at = T + timedelta(minutes=1)  # 09:01 is due: its fire, a resync, a reload
        later = [f for why in ("fire", "resync", "reload") for f in run.request(["s0"], why)]
        return await first, list(await asyncio.gather(*later))

    with caplog.at_level(logging.DEBUG, logger="smsops.run"):
        first, later = asyncio.run(fires())

    value = run.metrics.registry.get_sample_value
    assert value("smsops_fires_merged_total", {"schedule": "s0"}) == 3
    assert value("smsops_reconciles_total", {"trigger": "fire"}) == 2  # two rounds, not four
    assert value("smsops_reconciles_total", {"trigger": "resync"}) is None
    assert later[0] is later[1] is later[2]  # all three answered by the one follow-up
    assert first is not later[0]
    # 09:00's window closed at 09:01 while its round still sent: the rest expired, by
    # the daemon's clock; 09:01's follow-up sent all three. Nothing skipped, nothing twice.
    rows = Counter((r.occurrence, r.status) for r in ledger.records())
    assert rows[("2026-11-22T09:00:00Z", Status.SENT)] >= 1
    assert (
        rows[("2026-11-22T09:00:00Z", Status.SENT)] + rows[("2026-11-22T09:00:00Z", Status.EXPIRED)]
        == 3
    )
    assert rows[("2026-11-22T09:01:00Z", Status.SENT)] == 3
    sent = rows[("2026-11-22T09:00:00Z", Status.SENT)] + 3
    assert len(slow.state.snapshot()) == sent
    merged = [r.getMessage() for r in caplog.records if "merged" in r.getMessage()]
    assert merged == [
        f"s0: a {why} request came while its round runs; merged into one follow-up round"
        for why in ("fire", "resync", "reload")
    ]
    ledger.close()


def test_a_resync_returns_at_once_and_other_schedules_go_while_one_round_is_long(
    tmp_path: Path, slow: Sandbox
) -> None:
    config = load_project(write_config(tmp_path, slow, [8, 1]))  # s0: 2 s, s1: 0.25 s
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    run = runner(config, ledger, Clock(T))

    async def resync_during_a_long_round() -> None:
        long = run.request(["s0"], "fire")
        await asyncio.sleep(LATENCY)
        begun = time.monotonic()
        await run.wake(None, "resync")  # what the resync job does
        assert time.monotonic() - begun < 0.05  # it never awaits a round
        # s1's round, started by the resync and not yet planning, answers this too
        [short] = run.request(["s1"], "fire")
        plan = await short
        assert plan is not None
        assert plan.to_send == 1
        assert run.rounds.running() == ["s0"]  # sent while s0's round still sends
        await asyncio.gather(*long)
        await run.idle()

    asyncio.run(resync_during_a_long_round())
    value = run.metrics.registry.get_sample_value
    assert value("smsops_fires_merged_total", {"schedule": "s0"}) == 1  # the resync's
    assert value("smsops_fires_merged_total", {"schedule": "s1"}) is None
    assert len(slow.state.snapshot()) == 9
    ledger.close()
