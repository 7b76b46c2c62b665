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
