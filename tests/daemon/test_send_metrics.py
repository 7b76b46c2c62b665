"""smsops_sends_total counts outcomes as the ledger finally records them."""

from __future__ import annotations

from pathlib import Path

import httpx

from smsops.daemon.metrics import Metrics
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from tests.apply.test_sender import apply, config_dir, route

__all__ = ["config_dir"]  # the fixture, used by name


def busy(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, headers={"Retry-After": "0"})


def test_a_retryable_failure_later_sent_is_counted_sent_never_failed(config_dir: Path) -> None:
    """Out of retries on both providers, then sent by the next round: the ledger says sent."""
    ledger, metrics = MemoryLedger(), Metrics()
    metrics.observe_report(apply(config_dir, ledger, route(busy, busy)))
    assert {r.status for r in ledger.records()} == {Status.FAILED}
    metrics.observe_report(apply(config_dir, ledger, route(busy)))  # ot takes them now
    assert {r.status for r in ledger.records()} == {Status.SENT}

    def sends(provider: str, status: str) -> float:
        found = metrics.registry.get_sample_value(
            "smsops_sends_total", {"provider": provider, "status": status}
        )
        return found or 0.0

    assert sends("ot", "failed") == 0.0
    assert sends("ot", "sent") == 2.0
    assert (
        metrics.registry.get_sample_value("smsops_sends_retryable_total", {"provider": "ot"}) == 2
    )


def test_a_retryable_failure_whose_window_closes_counts_failed_once_and_never_before(
    tmp_path: Path,
) -> None:
    """Out of retries inside the window: counted retryable, not failed. The window closes
    before any retry: the next round that reaches it (the catch-up) records it failed for
    good, counted failed once; a second round (another replica's, a stale plan) finds it
    final and counts nothing; a later plan no longer proposes it."""
    from smsops.engine.planner import PlanOptions, make_plan
    from smsops.engine.project import load_project
    from tests.apply.test_expiry import AT, CLOSES, apply
    from tests.apply.test_expiry import config_dir as windowed
    from tests.fakeclock import FakeClock

    config = windowed.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    ledger, metrics = MemoryLedger(), Metrics()

    def failed() -> float:
        return sum(
            metrics.registry.get_sample_value(
                "smsops_sends_total", {"provider": p, "status": "failed"}
            )
            or 0.0
            for p in ("sky", "ot")
        )

    report, _ = apply(config, ledger, FakeClock(AT), busy, busy)
    metrics.observe_report(report)
    assert [(r.status, r.retryable) for r in ledger.records()] == [(Status.FAILED, True)] * 2
    assert failed() == 0.0
    assert metrics.registry.get_sample_value("smsops_sends_retryable_total", {"provider": "ot"})
    for _ in range(2):  # the window has closed: both rounds plan as just before the close
        report, hosts = apply(config, ledger, FakeClock(CLOSES), busy, busy)
        assert hosts == []  # nothing is sent after the close
        metrics.observe_report(report)
        assert failed() == 2.0
        assert [(r.status, r.retryable) for r in ledger.records()] == [(Status.FAILED, False)] * 2
    plan = make_plan(
        load_project(config), ledger, AT, lambda _: False, PlanOptions(keep_sends=True)
    )
    assert plan.sends == []  # failed for good: no run claims it again
