"""The metrics alerts read (issue 23): build info, round and request histograms, the last
successful round per schedule, and counters present at 0 from the config's load."""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smsops import __version__
from smsops.config.loader import Config
from smsops.daemon.hooks import OUTCOMES
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox
from tests.apply.test_sender import apply, config_dir, ot_ok, route

__all__ = ["config_dir"]  # the fixture, used by name

NUMBERS = ["+447400123450", "+447400123451", "+447400123452"]
ENV = {"OT": "tok", "OT2": "tok2"}
FINAL = ("sent", "failed", "uncertain", "expired")


def write(root: Path, sandbox: Sandbox, schedules: str, providers: str = "") -> Config:
    contacts = ", ".join(f"{{phone: '{n}', name: P{i}}}" for i, n in enumerate(NUMBERS))
    (root / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        f"{providers}"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        f"audiences:\n  a: {{contacts: [{contacts}]}}\n"
        "schedules:\n" + schedules
    )
    return load_project(root)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    opened = SqliteLedger(tmp_path / "l.sqlite")
    yield opened
    opened.close()


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_build_info_names_the_version_and_python() -> None:
    metrics = Metrics()
    found = value(
        metrics, "smsops_build_info", version=__version__, python=platform.python_version()
    )
    assert found == 1.0


def test_counters_alerts_rate_over_are_present_at_zero_once_a_config_loads(
    tmp_path: Path, sandbox: Sandbox, ledger: SqliteLedger
) -> None:
    metrics = Metrics()
    config = write(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n")
    Runner(config, ledger, ENV, metrics)
    for status in FINAL:
        assert value(metrics, "smsops_sends_total", provider="ot", status=status) == 0.0
    assert value(metrics, "smsops_sends_retryable_total", provider="ot") == 0.0
    assert value(metrics, "smsops_round_failures_total", schedule="s") == 0.0
    assert value(metrics, "smsops_missed_occurrences_total", schedule="s") == 0.0
    for status in ("delivered", "undelivered"):
        assert value(metrics, "smsops_receipts_total", provider="ot", status=status) == 0.0
    for kind in ("receipts", "inbound"):
        for outcome in {"accepted", "failed", *OUTCOMES.values()}:
            found = value(metrics, "smsops_hooks_total", provider="ot", kind=kind, outcome=outcome)
            assert found == 0.0, (kind, outcome)
    # SmsopsJobErrors takes increase() of these: a job's first error must not be its series'
    # first sample. Every job the daemon runs: the scheduler's, and its tasks.
    for job in ("schedule:s", "resync"):
        for event in ("error", "missed", "max_instances"):
            assert value(metrics, "smsops_job_errors_total", job=job, event=event) == 0.0
    for task in ("event-loop", "pending-past-window", "opt-out-confirm"):
        assert value(metrics, "smsops_job_errors_total", job=task, event="error") == 0.0


def test_a_reload_adds_the_zero_series_of_new_schedules_and_providers(
    tmp_path: Path, sandbox: Sandbox, ledger: SqliteLedger
) -> None:
    metrics = Metrics()
    runner = Runner(
        write(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n"),
        ledger,
        ENV,
        metrics,
    )
    assert value(metrics, "smsops_round_failures_total", schedule="new") is None
    extra = (
        f"  ot2: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT2}', from: '+12017771234'}\n"
    )
    schedules = (
        "  s: {template: t, audience: a, provider: ot}\n"
        "  new: {template: t, audience: a, provider: ot2, trigger: {every: 1h}}\n"
    )
    runner.config = write(tmp_path, sandbox, schedules, extra)
    assert value(metrics, "smsops_round_failures_total", schedule="new") == 0.0
    assert value(metrics, "smsops_sends_total", provider="ot2", status="failed") == 0.0
    # the period a "no successful round in 2x its period" alert compares with
    assert value(metrics, "smsops_schedule_period_seconds", schedule="new") == 3600.0
    assert value(metrics, "smsops_schedule_period_seconds", schedule="s") is None  # no trigger


def test_a_round_records_its_duration_its_success_and_each_request_latency(
    tmp_path: Path, sandbox: Sandbox, ledger: SqliteLedger
) -> None:
    metrics = Metrics()
    config = write(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n")
    runner = Runner(config, ledger, ENV, metrics)
    assert value(metrics, "smsops_last_round_success_timestamp_seconds", schedule="s") is None
    before = time.time()
    asyncio.run(runner.reconcile(["s"]))
    after = time.time()
    assert {r.status for r in ledger.records()} == {Status.SENT}
    assert value(metrics, "smsops_round_seconds_count", schedule="s") == 1.0
    success = value(metrics, "smsops_last_round_success_timestamp_seconds", schedule="s")
    assert before <= (success or 0.0) <= after
    # opentact takes one message a request: one observation per request
    assert value(metrics, "smsops_provider_request_seconds_count", provider="ot") == 3.0
    assert value(metrics, "smsops_sends_total", provider="ot", status="sent") == 3.0


def test_a_failed_round_leaves_the_last_success_where_it_was(
    tmp_path: Path, sandbox: Sandbox, ledger: SqliteLedger
) -> None:
    metrics = Metrics()
    # OT unset: the schedule is held (a missing secret); no round of it succeeds
    config = write(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n")
    runner = Runner(config, ledger, {}, metrics)
    asyncio.run(runner.reconcile(["s"]))
    assert value(metrics, "smsops_last_round_success_timestamp_seconds", schedule="s") is None
    assert list(ledger.records()) == []


def test_a_send_retried_in_the_run_and_then_sent_counts_once_as_sent(config_dir: Path) -> None:
    """503 then 200 on the same provider: the ledger records sent, and so do the metrics."""
    answers = iter([503, 503])

    def busy_once(request: httpx.Request) -> httpx.Response:
        status = next(answers, None)
        if status is not None:
            return httpx.Response(status, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"status": "Success", "tracking-id": "trk"})

    ledger, metrics = MemoryLedger(), Metrics()
    metrics.observe_report(apply(config_dir, ledger, route(busy_once, ot_ok)))
    assert [r.status for r in ledger.records()] == [Status.SENT, Status.SENT]
    assert value(metrics, "smsops_sends_total", provider="sky", status="sent") == 2.0
    assert value(metrics, "smsops_sends_total", provider="sky", status="failed") is None
    assert value(metrics, "smsops_sends_retryable_total", provider="sky") is None
    assert value(metrics, "smsops_retries_total") == 2.0


def test_uncertain_rows_are_a_gauge_per_schedule_until_resolved(
    tmp_path: Path, sandbox: Sandbox, ledger: SqliteLedger
) -> None:
    """What "uncertain rows present" alerts on: the ledger's open uncertain rows, read with
    the delivery counts after each round's plan, gone with a schedule a reload removed."""
    metrics = Metrics()
    sandbox.state.faults.drop_every = 1  # answers cut mid-response: the message may be out
    config = write(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n")
    runner = Runner(config, ledger, ENV, metrics)
    asyncio.run(runner.reconcile(["s"]))
    assert {r.status for r in ledger.records()} == {Status.UNCERTAIN}
    asyncio.run(runner.reconcile(["s"]))  # the next plan reads them
    assert value(metrics, "smsops_ledger_uncertain", schedule="s") == 3.0
    assert value(metrics, "smsops_last_round_success_timestamp_seconds", schedule="s")
    metrics.keep_only([])  # a reload removed it: no stale series for an alert to join
    assert value(metrics, "smsops_ledger_uncertain", schedule="s") is None
    assert value(metrics, "smsops_last_round_success_timestamp_seconds", schedule="s") is None


def test_a_reload_handing_its_schedules_as_a_generator_keeps_their_figures() -> None:
    """Service.reload_if_changed passes a generator: every figure of a kept schedule stays."""
    metrics = Metrics()
    metrics.observe_delivery({"s": {"delivered": 2, "uncertain": 1}}, ["s"])
    metrics.last_success.labels("s").set(1.0)
    metrics.keep_only(name for name in ["s"])
    assert value(metrics, "smsops_ledger_delivery", schedule="s", status="delivered") == 2.0
    assert value(metrics, "smsops_ledger_uncertain", schedule="s") == 1.0
    assert value(metrics, "smsops_last_round_success_timestamp_seconds", schedule="s") == 1.0
