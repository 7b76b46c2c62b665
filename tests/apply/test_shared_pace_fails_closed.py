"""A shared limit that cannot be asked (its ledger down) sends nothing: no slot, no send.

The sender asks the ledger's shared pace (ledger/pace.py) before each
request. When that raises, the request is never made: a send not yet claimed
is left for a later run (`not_started`, no row), a claimed one waiting for
its retry is settled `failed` (retryable) with the reason; the run stops
claiming, as after a failed claim, and never crashes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from smsops.core.errors import LedgerError
from smsops.engine.apply import ApplyOptions, ApplyReport, Sender
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.pace import Pace, SharedPace, Taken
from tests.apply.test_sender import AT

SENDS = 5


class Pace503:
    """A shared pace that grants `grants` requests, then finds its ledger down."""

    def __init__(self, grants: int) -> None:
        self.grants, self.asked = grants, 0

    def take(self, pace: Pace, messages: int, reserved: bool) -> Taken:
        self.asked += 1
        if self.asked > self.grants:
            raise LedgerError("cannot take a send slot in the ledger: server closed the connection")
        return Taken(self.asked, 0.0, 0.0)

    def answered(self, hold: int) -> None:
        raise LedgerError("cannot record an answer in the ledger: server closed the connection")


class SharedLedger(MemoryLedger):
    def __init__(self, pace: SharedPace) -> None:
        super().__init__()
        self.pace = pace

    def shared_pace(self) -> SharedPace | None:
        return self.pace


def send_all(
    tmp_path: Path, pace: SharedPace, answer: int, sends: int = SENDS
) -> tuple[SharedLedger, int, ApplyReport]:
    contacts = "\n".join(f"      - {{phone: '+4474001{i:05d}'}}" for i in range(sends))
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234', rate_limit: 50/s, max_in_flight: 1}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        f"audiences:\n  a:\n    contacts:\n{contacts}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    config = load_project(tmp_path)
    ledger = SharedLedger(pace)
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    requests = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        if answer == 503:
            return httpx.Response(503, headers={"Retry-After": "0"})
        return httpx.Response(201, json={"success": True, "payload": {"uuid": "u", "state": "x"}})

    # The retry waits past the chunk of slots its first request was granted (50 ms at 50/s).
    options = ApplyOptions(backoff_base=0.4, claimed_by="h:1:r")
    sender = Sender(config, ledger, {"OT": "jwt"}, options, transport=httpx.MockTransport(handle))
    report = asyncio.run(sender.run(plan.sends))
    return ledger, requests, report


def test_no_slot_means_no_claim_and_no_request(tmp_path: Path) -> None:
    ledger, requests, report = send_all(tmp_path, Pace503(grants=0), answer=201)
    assert requests == 0
    assert list(ledger.records()) == []  # nothing claimed: a later run sends them
    assert report.not_started == SENDS
    assert report.ledger_error is not None
    assert "no send slot for ot" in report.ledger_error


def test_a_claimed_send_whose_retry_gets_no_slot_is_failed_retryable_not_sent(
    tmp_path: Path,
) -> None:
    ledger, requests, report = send_all(tmp_path, Pace503(grants=1), answer=503, sends=1)
    assert requests == 1  # the first request (503); its retry found no slot
    (row,) = list(ledger.records())
    assert row.status is Status.FAILED
    assert row.retryable
    assert row.error is not None
    assert "no send slot" in row.error
    assert report.failed == 1
