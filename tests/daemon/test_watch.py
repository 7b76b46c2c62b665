"""Run mode's watch between rounds: a lapsed lease is taken over at once, a claim left
pending past its window keeps /healthz degraded, dead runs' snapshot directories go."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.core import snapshot_dirs
from smsops.core.reserved import API_MESSAGES
from smsops.daemon.watch import STUCK_AFTER, STUCK_JOB, Watch
from smsops.engine.owner import this_run
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.runs import Run, judging_grace, lease_length
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox
from tests.daemon.apiserver import on_sandbox
from tests.daemon.test_clock import NUMBERS, project, runner_at

GRACE = judging_grace(lease_length())
API_TEMPLATES = '  shipped: {category: transactional, body: "Order {{ order }} shipped"}\n'
API_SCHEDULE = (
    "audiences:\n  people: {contacts: [{phone: '+12025550143', order: '1'}]}\n"
    "schedules:\n  daily: {template: shipped, audience: people, provider: sky,"
    " trigger: {cron: '0 9 * * *'}}\n"
)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    opened = SqliteLedger(tmp_path / "l.sqlite")
    yield opened
    opened.close()


def other_run(ledger: SqliteLedger, expires: datetime) -> str:
    """Another host's run whose lease ends at `expires` (its last heartbeat before: a run
    that lapsed, not one that stopped cleanly)."""
    now = datetime.now(UTC)
    beat = min(now, expires - timedelta(seconds=10))
    run = Run("elsewhere:4242:feedbeef", "elsewhere", 4242, "smsops run", beat, beat, expires)
    ledger.register_run(run)
    return run.id


def claim_of(by: str, occurrence: str = "o", number: str = NUMBERS[0]) -> SendRecord:
    return SendRecord.claim(
        "daily",
        occurrence,
        number,
        provider="ot",
        template="t",
        text_hash="h",
        segments=1,
        now=datetime.now(UTC),
        claimed_by=by,
    )


def claim(ledger: SqliteLedger, occurrence: str, by: str, number: str = NUMBERS[0]) -> SendRecord:
    (row,) = ledger.claim([claim_of(by, occurrence, number)])
    return row


def test_a_lapsed_lease_is_taken_over_at_the_next_look_not_the_next_resync(
    tmp_path: Path, sandbox: Sandbox, ledger: SqliteLedger
) -> None:
    """A replica killed mid-occurrence: the survivor's next look (seconds) requests a round,
    which marks the dead run's claim uncertain and sends the rest while the window is open."""
    now = datetime.now(UTC)
    fire = now.replace(hour=9, minute=0, second=0, microsecond=0)
    config = project(tmp_path, sandbox, trigger="{cron: '0 9 * * *'}", window="24h")
    runner, metrics = runner_at(config, ledger, fire + timedelta(minutes=1))
    label = fire.strftime("%Y-%m-%dT%H:%M:%SZ")
    dead = other_run(ledger, now + timedelta(seconds=30))
    held = claim(ledger, label, dead)
    taken: list[set[str]] = []

    async def scenario() -> None:
        def takeover(runs: set[str]) -> None:
            taken.append(runs)
            runner.takeover(runs)

        watch = Watch(ledger, lambda: runner.config, takeover, runner.stuck)
        end = now - GRACE - timedelta(seconds=1)  # (the round judges by the real clock)
        watch.react(watch.look(end - GRACE))  # the first look only learns who is gone already
        watch.react(watch.look(end - timedelta(seconds=1)))  # alive: nothing
        assert taken == []
        # killed: its last heartbeat was a lease before the lease's end (which is here)
        ledger.renew_lease(end - timedelta(seconds=30), end, dead)
        watch.react(watch.look(end + GRACE / 2))  # within the grace: it may still renew
        assert taken == []
        watch.react(watch.look(now))
        assert taken == [{dead}]
        watch.react(watch.look(now))  # said once
        assert taken == [{dead}]
        await runner.idle()

    asyncio.run(scenario())
    assert metrics.registry.get_sample_value("smsops_takeovers_total") == 1
    rows = {r.recipient: r.status for r in ledger.records("daily")}
    assert rows[held.recipient] is Status.UNCERTAIN  # the dead run's claim: never resent
    assert sorted(s for n, s in rows.items() if n != held.recipient) == [Status.SENT] * 5
    assert len(sandbox.state.snapshot()) == 5


def test_a_run_that_stopped_cleanly_is_not_taken_over(
    tmp_path: Path, sandbox: Sandbox, ledger: SqliteLedger
) -> None:
    """`smsops send`, `apply` or a replica shut down: its heartbeat ends its lease as it
    stops. The watch sees a run that left, not one that died: no takeover, no warning, no
    catch-up of every schedule, while a killed run beside it is still taken over."""
    now = datetime.now(UTC)
    config = project(tmp_path, sandbox, trigger="{cron: '0 9 * * *'}", window="24h")
    runner, _ = runner_at(config, ledger, now)
    left = other_run(ledger, now + timedelta(seconds=30))
    killed = Run("killed:7:cafe", "killed", 7, "smsops run", now, now, now + timedelta(seconds=30))
    ledger.register_run(killed)
    taken: list[set[str]] = []
    watch = Watch(ledger, lambda: runner.config, taken.append, runner.stuck)
    watch.look(now)  # the first look only learns who is gone already
    end = now + timedelta(seconds=1)
    ledger.renew_lease(end, end, left)  # Heartbeat.stop: the last heartbeat ends the lease
    ledger.renew_lease(end - timedelta(seconds=30), end, killed.id)  # its lease ran out
    watch.react(watch.look(end + 2 * GRACE))
    assert taken == [{killed.id}]
    stopped = {run.id: run.stopped for run in ledger.runs()}
    assert (stopped[left], stopped[killed.id]) == (True, False)


def test_a_claim_of_a_live_run_pending_past_its_window_keeps_healthz_degraded(
    tmp_path: Path, sandbox: Sandbox, ledger: SqliteLedger
) -> None:
    now = datetime.now(UTC)
    config = project(tmp_path, sandbox, trigger="{cron: '0 9 * * *'}", window="1h")
    runner, _ = runner_at(config, ledger, now)
    closed = (now - timedelta(hours=1) - STUCK_AFTER - timedelta(seconds=1)).replace(microsecond=0)
    stuck = claim(ledger, closed.strftime("%Y-%m-%dT%H:%M:%SZ"), this_run())
    just = now - timedelta(hours=1) - STUCK_AFTER / 2  # in flight at the close: not yet stuck
    claim(
        ledger, just.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"), this_run(), NUMBERS[1]
    )
    watch = Watch(ledger, lambda: runner.config, runner.takeover, runner.stuck)
    watch.react(watch.look(now))
    assert runner.jobs.errors[STUCK_JOB].startswith(
        "1 send claimed by a live run is still pending past their window (schedules: daily)"
    )
    watch.react(watch.look(now))  # still so: still degraded
    assert STUCK_JOB in runner.jobs.errors
    ledger.settle([stuck.settled(Status.SENT, now, message_id="m")])
    watch.react(watch.look(now))
    assert STUCK_JOB not in runner.jobs.errors


def test_a_dead_processs_snapshot_directory_is_swept_while_running(
    tmp_path: Path, ledger: SqliteLedger, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica killed beside a live one: its run-* directory goes at the next sweep."""
    cache = tmp_path / "cache"
    mine, lock = snapshot_dirs.run_directory(cache)
    dead = cache / "snapshots" / "run-killed"
    dead.mkdir()
    (dead / snapshot_dirs.LOCK_NAME).touch()  # its flock went with its process
    old = time.time() - snapshot_dirs.SWEEP_AFTER - 1
    os.utime(dead, (old, old))
    runner, _ = runner_at(project(tmp_path, sandbox), ledger, datetime.now(UTC))
    watch = Watch(ledger, lambda: runner.config, runner.takeover, runner.stuck, cache)
    watch.react(watch.look(datetime.now(UTC)))
    assert dead.exists()  # swept every SWEEP_AFTER seconds, not at every look
    watch.swept -= snapshot_dirs.SWEEP_AFTER
    watch.react(watch.look(datetime.now(UTC)))
    assert not dead.exists()
    assert mine.exists()  # a live process's (its lock is held) stays
    snapshot_dirs.remove_run(mine, lock, os.getpid())


def _api_only(tmp_path: Path, schedule: str = "") -> Config:
    root = tmp_path / "api-only"
    root.mkdir()
    (root / "c.yaml").write_text(on_sandbox("http://127.0.0.1:9/api", API_TEMPLATES) + schedule)
    return load_project(root)


@pytest.mark.parametrize("first_look", [True, False])
def test_an_api_only_daemon_marks_a_dead_runs_pending_api_sends_uncertain(
    tmp_path: Path, ledger: SqliteLedger, first_look: bool
) -> None:
    """No schedule, so no round comes to mark a dead run's claims: an on-demand send it left
    `pending` (its host crashed mid-request) would stay pending forever, dropped silently.
    The watch marks it `uncertain` itself, both for a run already gone at the first look
    (the daemon started after the crash) and for one that lapses while it runs."""
    config = _api_only(tmp_path)
    assert not config.schedules
    now = datetime.now(UTC)
    watch = Watch(ledger, lambda: config, lambda runs: None, lambda stuck: None)
    if not first_look:
        watch.look(now)  # a first look with nobody gone
    dead = other_run(ledger, now - GRACE - timedelta(seconds=5))
    row = ledger.claim([dataclasses.replace(claim_of(dead), schedule=API_MESSAGES)])[0]
    watch.look(now)
    (after,) = ledger.get([row.key]).values()
    assert after.status is Status.UNCERTAIN


def test_with_schedules_the_round_marks_them_not_the_watch(
    tmp_path: Path, ledger: SqliteLedger
) -> None:
    """With a schedule, the takeover round marks (and logs) the dead run's rows as before."""
    config = _api_only(tmp_path, API_SCHEDULE)
    assert config.schedules
    now = datetime.now(UTC)
    watch = Watch(ledger, lambda: config, lambda runs: None, lambda stuck: None)
    dead = other_run(ledger, now - GRACE - timedelta(seconds=5))
    row = ledger.claim([dataclasses.replace(claim_of(dead), schedule=API_MESSAGES)])[0]
    watch.look(now)
    (after,) = ledger.get([row.key]).values()
    assert after.status is Status.PENDING
