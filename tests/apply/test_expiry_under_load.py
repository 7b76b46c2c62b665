"""Expiry under a busy provider (found by review): a shared pace never fills with dead
bookings, and a retry or failover that waited past its window's close never goes out.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from smsops.core.expiry import ExpiryReason
from smsops.engine.apply import ApplyOptions, ApplyReport, Sender
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from tests.fakeclock import FakeClock

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
CLOSES = AT + timedelta(minutes=10)
ENV = {"SKY": "sky-key", "OT": "ot-jwt"}


def write(root: Path, people: int, sky: str) -> Path:
    contacts = "".join(f"      - {{phone: '+4474001234{i:02d}'}}\n" for i in range(people))
    (root / "c.yaml").write_text(
        "providers:\n"
        f"  sky: {{type: skycore, base_url: 'http://sky.test/api', api_key: '${{env:SKY}}', "
        f"from: '12025550100', {sky}}}\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        "audiences:\n  a:\n    contacts:\n" + contacts + "schedules:\n  s:\n    template: t\n"
        "    audience: a\n    provider: [sky, ot]\n"
        "    trigger: {cron: '0 9 * * *', timezone: UTC}\n    window: 10m\n"
    )
    return root


def run(root: Path, ledger: MemoryLedger, clock: FakeClock, handler: object) -> ApplyReport:
    config = load_project(root)
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    options = ApplyOptions(max_attempts=3, backoff_base=0.001, backoff_cap=1.0, clock=clock)
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return asyncio.run(Sender(config, ledger, ENV, options, transport=transport).run(plan.sends))


def test_sends_whose_paced_slot_comes_after_the_close_are_expired_without_booking_it(
    tmp_path: Path,
) -> None:
    """2/s with 2 s of window left: four go out, the other eight expire at once.

    Before the fix each booked its half-second slot only to be found closed
    there, and a pace shared by several rounds filled with such bookings
    until nothing live could get a slot.
    """
    root = write(tmp_path, 12, "rate_limit: 2/s, max_in_flight: 4")
    clock = FakeClock(CLOSES - timedelta(seconds=1.9))  # fake time stands still
    hosts: list[str] = []

    def ok(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(200, json={"status": "Success", "tracking-id": "trk"})

    ledger = MemoryLedger()
    begun = time.monotonic()
    report = run(root, ledger, clock, ok)
    seconds = time.monotonic() - begun
    assert 3 <= report.sent <= 4  # slots at 0, 0.5, 1.0 (and 1.5) s: inside the 1.9 s left
    assert report.sent + report.expired == 12
    assert set(report.expired_by) == {("s", "2026-11-22T09:00:00Z", ExpiryReason.PACE)}
    assert len(hosts) == report.sent  # no request for an expired send, no failover either
    assert seconds < 3.0  # not 12 slots x 0.5 s: the late ones never waited for the pace
    statuses = {r.status for r in ledger.records()}
    assert statuses == {Status.SENT, Status.EXPIRED}


def test_a_retry_that_waited_for_its_slot_past_the_close_is_expired_not_sent(
    tmp_path: Path,
) -> None:
    """A's first try gets 503; while its retry waits for the one slot, B's request
    runs past the close. A's retry must not go out late (nor fail over to ot)."""
    root = write(tmp_path, 2, "max_in_flight: 1")
    clock = FakeClock(AT)
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        to = request.url.host + ":" + str(request.content)[-20:]
        requests.append(to)
        if len(requests) == 1:  # A: try again soon
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"status": "Failure"})
        clock.advance(timedelta(minutes=11))  # B outlasts the window
        return httpx.Response(200, json={"status": "Success", "tracking-id": "trk"})

    ledger = MemoryLedger()
    report = run(root, ledger, clock, handler)
    assert len(requests) == 2  # A once, B once: no late retry, no late failover
    assert (report.sent, report.expired, report.failed) == (1, 1, 0)
    (late,) = [r for r in ledger.records() if r.status is Status.EXPIRED]
    assert late.error == ExpiryReason.FAULTS.value
