"""Issue 14's acceptance, in process: six slow schedules on a fake clock, every send accounted.

Six schedules fire every minute with a one-minute window; each round takes
longer than its window (a slow provider, three requests at a time for all
six schedules together, the fake
clock running 100x faster than real time while requests are on the wire).
The test plays APScheduler's part: at every fake minute it wakes each
schedule's fire job and the resync job, as the real jobs do (they only
request rounds). Meanwhile an audience CSV is edited to a broken header and
a reload is checked: it is refused with its location at once, and the
running rounds keep planning from the validated snapshot. At the end, for
every occurrence whose window has closed: sent + failed + uncertain +
expired + skipped = the audience, nothing pending, nothing sent twice, and
every fire either had its round or was merged into a follow-up.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smsops.config.loader import Config
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.daemon.service import Service
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox

SCHEDULES = 6
PEOPLE = 5  # per schedule; one of them is skipped (an invalid number)
LATENCY = 0.1  # real seconds per request: 6 x 4 sends / 3 at a time = 0.8 s > a window
SPEED = 100  # fake seconds per real second
START = datetime(2026, 11, 22, 9, 0, 30, tzinfo=UTC)  # 30 s into the 09:00 window
MINUTES = 4  # fake minutes of fires
ACCOUNTED = {Status.SENT, Status.FAILED, Status.UNCERTAIN, Status.EXPIRED}


def number(schedule: int, i: int) -> str:
    return f"+4474002{schedule:02d}{i:03d}"


def write_config(root: Path, sandbox: Sandbox) -> None:
    lines = [
        "providers:",
        f"  p: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234', max_in_flight: 3}",
        "templates:",
        "  t: {category: transactional, body: 'Hi {{ name }}'}",
        "audiences:",
    ]
    for n in range(SCHEDULES):
        rows = [f"{number(n, i)},P{i}" for i in range(PEOPLE - 1)] + ["not-a-number,Bad"]
        (root / f"a{n}.csv").write_text("phone,name\n" + "\n".join(rows) + "\n")
        lines.append(f"  a{n}: {{source: a{n}.csv}}")
    lines.append("schedules:")
    for n in range(SCHEDULES):
        lines.append(
            f"  s{n}: {{template: t, audience: a{n}, provider: p, "
            "trigger: {every: 1m}, window: 1m}"
        )
    (root / "c.yaml").write_text("\n".join(lines) + "\n")


class FakeClock:
    """Fake time that runs SPEED times faster than real time once started."""

    def __init__(self, at: datetime) -> None:
        self.base, self.started = at, time.monotonic()

    def __call__(self) -> datetime:
        return self.base + timedelta(seconds=(time.monotonic() - self.started) * SPEED)


def test_six_slow_schedules_account_for_every_due_send(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.state.faults.latency_ms = LATENCY * 1000
    root = tmp_path / "config"
    root.mkdir()
    write_config(root, sandbox)
    cache = tmp_path / "cache"

    def load(path: Path) -> Config:
        return load_project(path, cache)

    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    metrics = Metrics()
    clock = FakeClock(START)
    runner = Runner(load(root), ledger, {"OT": "jwt"}, metrics, clock=clock, cache_dir=cache)
    service = Service(root, load, ledger, runner, metrics)
    in_flight: list[int] = []
    refusals: list[float] = []

    async def scenario() -> None:
        runner.request(None, "start")
        minute = START.replace(second=0)
        for step in range(1, MINUTES + 1):
            fire = minute + timedelta(minutes=step)
            while clock() < fire:  # rounds send meanwhile
                await asyncio.sleep(0.01)
                in_flight.append(runner.in_flight())
            for n in range(SCHEDULES):  # what the jobs do at each fire: request, never wait
                await runner.wake([f"s{n}"], "fire")
            await runner.wake(None, "resync")
            if step == 2:  # a broken CSV edit while rounds are sending
                await asyncio.sleep(LATENCY)
                assert runner.rounds.running()
                (root / "a0.csv").write_text("telephone,name\n+447400299999,Evil\n")
                begun = time.monotonic()
                await service.reload_if_changed()
                refusals.append(time.monotonic() - begun)
        await runner.idle()
        clock.base, clock.started = clock() + timedelta(minutes=2), time.monotonic()
        await runner.reconcile(None, "resync")  # the last windows closed: caught up

    asyncio.run(scenario())

    # The broken edit was refused at once, located, and never reached a round.
    assert len(refusals) == 1
    assert refusals[0] < 2.0
    error = service.health.reload_error or ""
    assert f"{root / 'c.yaml'}:" in error, error
    assert "has no column 'phone'" in error
    assert service.health.generation == 1
    assert "+447400299999" not in {m["recipient"] for m in sandbox.state.snapshot()}

    # Rounds of different schedules were on the wire at once, sharing the provider's cap.
    assert max(in_flight) == 3

    # Every closed occurrence: sent + failed + uncertain + expired + skipped = audience.
    rows = list(ledger.records())
    assert not [r for r in rows if r.status is Status.PENDING]
    by_occurrence = Counter((r.schedule, r.occurrence) for r in rows if r.status in ACCOUNTED)
    closed_by = clock() - timedelta(minutes=1)
    fires = [START.replace(second=0) + timedelta(minutes=m) for m in range(MINUTES + 1)]
    for n in range(SCHEDULES):
        for fire in fires:
            if fire <= closed_by:
                label = fire.isoformat().replace("+00:00", "Z")
                skipped = 1  # the invalid number, skipped with its reason at every plan
                assert by_occurrence[(f"s{n}", label)] + skipped == PEOPLE, (n, label)
    statuses = Counter(r.status for r in rows)
    assert statuses[Status.EXPIRED] > 0  # the rounds did outlast their windows
    assert statuses[Status.SENT] > 0

    # Nothing twice; each expired row says why.
    sent = [(m["recipient"], m["text"]) for m in sandbox.state.snapshot()]
    assert len(sent) == statuses[Status.SENT]
    assert all(r.error for r in rows if r.status is Status.EXPIRED)
    value = metrics.registry.get_sample_value
    expired_metric = value("smsops_sends_total", {"provider": "p", "status": "expired"})
    assert expired_metric == statuses[Status.EXPIRED]
    merged = sum(value("smsops_fires_merged_total", {"schedule": f"s{n}"}) or 0 for n in range(6))
    assert merged > 0  # fires that came during a round were merged, not skipped
    ledger.close()
