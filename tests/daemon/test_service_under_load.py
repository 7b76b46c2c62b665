"""The service while rounds are long: reloads reported in time, the resync never skipped,
and no exception from a job, a task or the loop left unreported (issue 14)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)

from smsops.daemon import service as service_module
from smsops.daemon.failures import guarded
from smsops.daemon.http import build_app
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.daemon.service import Service
from smsops.engine.project import load_project
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox
from tests.daemon.test_parallel_rounds import LATENCY, Clock, T, number, write_config

SECRET = "jwt-5e3c7e7-value"
POLL = 0.05


def service_for(root: Path, ledger: SqliteLedger) -> Service:
    metrics = Metrics()
    runner = Runner(load_project(root), ledger, {"OT": SECRET}, metrics, clock=Clock(T))
    return Service(root, load_project, ledger, runner, metrics, poll=POLL)


async def within(seconds: float, condition: Callable[[], bool]) -> float:
    """How long until `condition` held (it must within `seconds`)."""
    begun = time.monotonic()
    while not condition():
        assert time.monotonic() - begun < seconds, "timed out"
        await asyncio.sleep(0.01)
    return time.monotonic() - begun


async def running(service: Service, body: Callable[[], Awaitable[None]]) -> None:
    """`service.run()` around `body`, stopped after it."""
    task = asyncio.create_task(service.run())
    try:
        await body()
    finally:
        service.stop()
        await task


@pytest.fixture
def slow(sandbox: Sandbox) -> Sandbox:
    sandbox.state.faults.latency_ms = LATENCY * 1000
    return sandbox


def test_reloads_are_reported_within_the_interval_while_a_round_is_long(
    tmp_path: Path, slow: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_config(tmp_path, slow, [10, 1])  # s0's round: 2.5 s
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    service = service_for(root, ledger)
    runner = service.runner
    original = (root / "c.yaml").read_text()

    async def edits() -> None:
        await within(2, lambda: "s0" in runner.rounds.running() and runner.in_flight() > 0)
        # An invalid edit: a schedule naming a template that does not exist.
        (root / "c.yaml").write_text(
            original + "  bad: {template: nope, audience: a1, provider: p1}\n"
        )
        refused = await within(1, lambda: service.health.reload_error is not None)
        assert refused < POLL + 0.5, refused
        assert "s0" in runner.rounds.running()  # reported while the round sends
        line = len(original.splitlines()) + 1
        assert f"{root / 'c.yaml'}:{line}:" in (service.health.reload_error or "")
        # A valid edit: a new `once` schedule goes now, beside the long round.
        (root / "c.yaml").write_text(
            original + "  new: {template: t, audience: a1, provider: p1}\n"
        )
        accepted = await within(1, lambda: service.health.generation == 2)
        assert accepted < POLL + 0.5, accepted
        assert service.health.reload_error is None
        await within(1, lambda: any(m["recipient"] == number(1, 0) for m in sent()))
        assert "s0" in runner.rounds.running()  # the new generation did not wait for it
        await runner.idle()

    def sent() -> list[dict[str, Any]]:
        return slow.state.snapshot()

    with caplog.at_level(logging.INFO, logger="smsops.run"):
        asyncio.run(running(service, edits))
    assert "config change refused: " in caplog.text
    assert "config generation 2 loaded" in caplog.text
    # s0's ten, s1's one, and `new`'s one (to the same person as s1, a schedule of its own)
    assert len(slow.state.snapshot()) == 12
    ledger.close()


def test_the_resync_job_is_never_skipped_behind_a_long_round(
    tmp_path: Path, slow: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "RESYNC", timedelta(seconds=0.2))
    root = write_config(tmp_path, slow, [6])  # s0's round: 1.5 s
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    service = service_for(root, ledger)
    value = service.metrics.registry.get_sample_value

    async def resyncs() -> None:
        await within(2, lambda: "s0" in service.runner.rounds.running())
        # Each resync (every 0.2 s here) runs and asks for s0: merged, never skipped.
        await within(
            1.2, lambda: (value("smsops_fires_merged_total", {"schedule": "s0"}) or 0) >= 3
        )
        assert "s0" in service.runner.rounds.running()
        await within(3, lambda: len(slow.state.snapshot()) == 6)

    asyncio.run(running(service, resyncs))
    assert value("smsops_job_errors_total", {"job": "resync", "event": "max_instances"}) == 0.0
    assert len(slow.state.snapshot()) == 6
    ledger.close()


def healthz(service: Service) -> dict[str, Any]:
    async def get() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=build_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            answer: dict[str, Any] = (await client.get("/healthz")).json()
            return answer

    return asyncio.run(get())


def test_a_job_task_or_loop_exception_is_one_masked_line_a_metric_and_degraded(
    tmp_path: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_config(tmp_path, sandbox, [1])
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    service = service_for(root, ledger)
    runner = service.runner
    value = service.metrics.registry.get_sample_value
    when = datetime(2026, 11, 22, 9, tzinfo=UTC)
    failure = RuntimeError(f"token {SECRET} for {number(0, 0)}")

    async def raises() -> None:
        raise failure

    async def everything_fails() -> None:
        await guarded("config-watch", raises(), runner.job_failed)  # a task of the daemon
        service.job_event(
            JobExecutionEvent(EVENT_JOB_ERROR, "resync", "default", when, exception=failure)
        )
        service.loop_error(asyncio.get_running_loop(), {"message": "x", "exception": failure})

    with caplog.at_level(logging.INFO, logger="smsops.run"):
        asyncio.run(everything_fails())
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    masked = "RuntimeError: token *** for +44 74** ***000"
    assert [r.getMessage() for r in lines] == [
        f"job {job} failed: {masked}" for job in ("config-watch", "resync", "event-loop")
    ]
    assert all(r.exc_info is None for r in lines)
    assert SECRET not in caplog.text
    assert number(0, 0) not in caplog.text
    for job in ("config-watch", "resync", "event-loop"):
        assert value("smsops_job_errors_total", {"job": job, "event": "error"}) == 1
    health = healthz(service)
    assert health["status"] == "degraded"
    assert health["jobs"] == dict.fromkeys(("config-watch", "resync", "event-loop"), masked)

    # The resync runs again: it recovered. A missed fire still asks for its round.
    async def later() -> None:
        service.job_event(JobExecutionEvent(EVENT_JOB_EXECUTED, "resync", "default", when))
        service.job_event(JobExecutionEvent(EVENT_JOB_MISSED, "schedule:s0", "default", when))
        await runner.idle()

    with caplog.at_level(logging.INFO, logger="smsops.run"):
        asyncio.run(later())
    assert "resync" not in runner.jobs.errors
    assert "job schedule:s0 did not start on time (missed); a fire or resync still requests" in (
        caplog.text
    )
    assert value("smsops_job_errors_total", {"job": "schedule:s0", "event": "missed"}) == 1
    assert [m["recipient"] for m in sandbox.state.snapshot()] == [number(0, 0)]
    ledger.close()


def test_a_reload_is_not_queued_behind_rounds_planning_in_the_thread_pool(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    root = write_config(tmp_path, sandbox, [1])
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    service = service_for(root, ledger)

    async def reload_while_the_pool_is_busy() -> float:
        planning = threading.Event()
        busy = [asyncio.ensure_future(asyncio.to_thread(planning.wait, 5)) for _ in range(40)]
        await asyncio.sleep(0.05)  # every worker of the default pool is taken
        (root / "c.yaml").write_text((root / "c.yaml").read_text() + "oops: [\n")
        begun = time.monotonic()
        await asyncio.wait_for(service.reload_if_changed(), 2)
        seconds = time.monotonic() - begun
        planning.set()
        await asyncio.gather(*busy)
        return seconds

    seconds = asyncio.run(reload_while_the_pool_is_busy())
    assert service.health.reload_error is not None
    assert seconds < 1.0, seconds
    ledger.close()
