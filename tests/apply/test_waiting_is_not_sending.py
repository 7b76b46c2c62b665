"""A request waiting out its retry holds no in-flight slot: the others keep the cap busy.

Issue 14's soak: with `max_in_flight: 16`, 50 ms of latency and every 7th
request answered 503 with `Retry-After: 1`, only 4-5 requests were in
flight, because each retry slept inside its slot. Here the same faults,
through httpx.MockTransport: the number of requests on the wire (counted by
the transport itself) peaks at the cap and stays near it on average.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from smsops.engine.apply import ApplyOptions, Sender
from smsops.engine.lanes import Lanes
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from tests.apply.test_sender import AT

CAP = 16
LATENCY = 0.05
SENDS = 320


class Wire:
    """A provider with latency that answers every 7th request 503, Retry-After: 1."""

    def __init__(self) -> None:
        self.requests = 0
        self.open = 0
        self.peak = 0
        self.changes: list[tuple[float, int]] = []  # (time, requests open from then on)

    def _count(self, delta: int) -> None:
        self.open += delta
        self.peak = max(self.peak, self.open)
        self.changes.append((time.monotonic(), self.open))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        busy = self.requests % 7 == 0
        self._count(+1)
        try:
            await asyncio.sleep(LATENCY)
        finally:
            self._count(-1)
        if busy:
            return httpx.Response(503, headers={"Retry-After": "1"})
        return httpx.Response(201, json={"success": True, "payload": {"uuid": "u", "state": "x"}})

    def average(self, until: float) -> float:
        """Time-weighted requests open from the first request until `until`."""
        total, (last, level) = 0.0, self.changes[0]
        for at, now_open in self.changes[1:]:
            if at > until:
                break
            total += (at - last) * level
            last, level = at, now_open
        total += (until - last) * level
        return total / (until - self.changes[0][0])


def test_retries_waiting_for_retry_after_leave_the_slots_to_others(tmp_path: Path) -> None:
    contacts = "\n".join(f"      - {{phone: '+4474001{i:05d}'}}" for i in range(SENDS))
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        f"from: '+12017771234', max_in_flight: {CAP}}}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        f"audiences:\n  a:\n    contacts:\n{contacts}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    config = load_project(tmp_path)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    wire = Wire()
    options = ApplyOptions(backoff_base=0.01, claimed_by="h:1:r")
    # Shared lanes, as run mode uses them: the cap is the lane's, not the sender's.
    sender = Sender(
        config,
        ledger,
        {"OT": "jwt"},
        options,
        transport=httpx.MockTransport(wire.handle),
        shared=Lanes(),
    )

    report = asyncio.run(sender.run(plan.sends))

    assert report.sent == SENDS
    assert report.retries > SENDS // 8  # the faults happened: ~1 in 7 requests retried
    assert {r.status for r in ledger.records()} == {Status.SENT}
    assert wire.peak == CAP  # never above the cap, and it was reached
    # While the first attempts go out (the tail is only retries' last waits),
    # slots stay busy: at least 75% of the cap on average. Retries sleeping
    # in their slots gave 4-5 (under a third of the cap).
    first_pass_over = wire.changes[0][0] + (SENDS / CAP) * LATENCY
    assert wire.average(first_pass_over) >= 0.75 * CAP, wire.average(first_pass_over)
