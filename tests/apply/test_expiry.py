"""The sender never sends after a window closes: it records such sends `expired`, with why.

A fake clock (tests/fakeclock.py) stands for the time: the fake
provider "takes" time by moving it, so windows close without real waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from smsops.core.expiry import ExpiryReason
from smsops.engine.apply import ApplyOptions, ApplyReport, Sender
from smsops.engine.plan import Disposition
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from tests.fakeclock import FakeClock

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
OCCURRENCE = "2026-11-22T09:00:00Z"
CLOSES = AT + timedelta(minutes=10)
ENV = {"SKY": "sky-key", "OT": "ot-jwt"}
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """Two recipients, one request at a time to sky (failing over to ot), a 10-minute window."""
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  sky: {type: skycore, base_url: 'http://sky.test/api', api_key: '${env:SKY}', "
        "from: '12025550100', max_in_flight: 1}\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a:\n    contacts:\n"
        "      - {phone: '+447400123450', name: A}\n"
        "      - {phone: '+447400123451', name: B}\n"
        "schedules:\n  s:\n    template: t\n    audience: a\n    provider: [sky, ot]\n"
        "    trigger: {cron: '0 9 * * *', timezone: UTC}\n    window: 10m\n"
    )
    return tmp_path


def sky_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "Success", "tracking-id": "trk"})


def apply(
    config_dir: Path, ledger: MemoryLedger, clock: FakeClock, sky: Handler, ot: Handler = sky_ok
) -> tuple[ApplyReport, list[str]]:
    """Plan at AT and send; the hosts of the requests made, in order."""
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return sky(request) if request.url.host == "sky.test" else ot(request)

    config = load_project(config_dir)
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    options = ApplyOptions(max_attempts=3, backoff_base=0.001, backoff_cap=1.0, clock=clock)
    sender = Sender(config, ledger, ENV, options, transport=httpx.MockTransport(handler))
    return asyncio.run(sender.run(plan.sends)), hosts


def rows(ledger: MemoryLedger) -> dict[str, SendRecord]:
    return {r.recipient: r for r in ledger.records()}


def test_the_planner_gives_each_send_its_close(config_dir: Path) -> None:
    config = load_project(config_dir)
    options = PlanOptions(keep_sends=True)
    plan = make_plan(config, MemoryLedger(), AT + timedelta(minutes=3), lambda _: False, options)
    assert [s.closes for s in plan.sends] == [CLOSES, CLOSES]


def test_a_send_reached_after_its_window_closed_is_expired_not_sent(config_dir: Path) -> None:
    clock = FakeClock(AT)

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(timedelta(minutes=11))  # the first request outlasts the window
        return sky_ok(request)

    ledger = MemoryLedger()
    report, hosts = apply(config_dir, ledger, clock, slow)
    assert hosts == ["sky.test"]  # no request for the second: its window had closed
    assert (report.sent, report.expired, report.failed) == (1, 1, 0)
    assert report.expired_by == {("s", OCCURRENCE, ExpiryReason.SENDING): 1}
    assert report.outcomes[("sky", "expired")] == 1
    # rows are stamped with the real time, whatever the round's clock says: another
    # run judges a pending row's age by it
    assert all(r.updated_at > datetime.now(UTC) - timedelta(minutes=1) for r in ledger.records())
    (late,) = [r for r in rows(ledger).values() if r.status is Status.EXPIRED]
    assert (late.error, late.attempts, late.occurrence) == (
        ExpiryReason.SENDING.value,
        0,
        OCCURRENCE,
    )
    # and a later plan counts it as expired: never claimed again
    plan = make_plan(load_project(config_dir), ledger, AT, lambda _: False)
    assert plan.total(Disposition.EXPIRED) == 1
    assert plan.to_send == 0


@pytest.mark.parametrize(
    ("start", "retry_after"),
    [
        (CLOSES - timedelta(milliseconds=100), "1"),  # the retry would start after the close
        (AT, "900"),  # longer than a run waits, and past the close
    ],
)
def test_a_retry_that_would_start_after_the_close_is_expired(
    config_dir: Path, start: datetime, retry_after: str
) -> None:
    clock = FakeClock(start)  # still open when claimed

    def unavailable(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": retry_after}, json={})

    ledger = MemoryLedger()
    report, hosts = apply(config_dir, ledger, clock, unavailable)
    assert hosts == ["sky.test", "sky.test"]  # one request each: no retry, no failover to ot
    assert clock.slept == []
    assert (report.expired, report.failed, report.retries) == (2, 0, 0)
    assert report.expired_by == {("s", OCCURRENCE, ExpiryReason.FAULTS): 2}
    for row in rows(ledger).values():
        assert (row.status, row.error, row.attempts) == (
            Status.EXPIRED,
            ExpiryReason.FAULTS.value,
            1,
        )
        assert row.provider == "sky"


def test_a_retry_inside_the_window_still_goes_out(config_dir: Path) -> None:
    clock = FakeClock(AT)
    answers = iter([httpx.Response(503, headers={"Retry-After": "1"}, json={})])

    def once_unavailable(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or sky_ok(request)

    report, _ = apply(config_dir, MemoryLedger(), clock, once_unavailable)
    assert (report.sent, report.expired, report.retries) == (2, 0, 1)
    assert clock.slept == [1.0]  # Retry-After is a floor; the fake clock moved by it


def test_no_failover_once_the_window_has_closed(config_dir: Path) -> None:
    """A rejection after the close is a failure; the next provider is not tried late."""
    clock = FakeClock(AT)

    def slow_rejection(request: httpx.Request) -> httpx.Response:
        clock.advance(timedelta(minutes=11))
        return httpx.Response(
            200, json={"status": "Failure", "error-code": "E", "error-info": "no"}
        )

    ledger = MemoryLedger()
    report, hosts = apply(config_dir, ledger, clock, slow_rejection)
    assert "ot.test" not in hosts
    assert (report.failed, report.expired, report.sent) == (1, 1, 0)
    statuses = sorted(r.status for r in ledger.records())
    assert statuses == [Status.EXPIRED, Status.FAILED]


def test_an_expiry_leaves_a_row_another_run_wrote_as_it_is(config_dir: Path) -> None:
    """Only a send with no row is inserted `expired`; the rest count as taken."""
    clock = FakeClock(CLOSES)  # every window closed before the first claim
    ledger = MemoryLedger()
    config = load_project(config_dir)
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    first = plan.sends[0]
    theirs = SendRecord.claim(
        first.schedule,
        first.occurrence,
        first.message.recipient,
        provider="sky",
        template="t",
        text_hash="h",
        segments=1,
        now=AT,
        claimed_by="other:2:x",
    )
    ledger.claim([theirs])
    options = ApplyOptions(clock=clock, claimed_by="h:1:r")
    sender = Sender(config, ledger, ENV, options, transport=httpx.MockTransport(sky_ok))
    report = asyncio.run(sender.run(plan.sends))
    assert (report.expired, report.taken, report.sent) == (1, 1, 0)
    stored = rows(ledger)
    assert stored[first.message.recipient] == theirs  # still the other run's pending claim
    (mine,) = [r for r in stored.values() if r.key != theirs.key]
    assert (mine.status, mine.claimed_by) == (Status.EXPIRED, "h:1:r")
    assert mine.error == ExpiryReason.SENDING.value


def test_a_claim_written_after_the_close_sends_nothing(config_dir: Path) -> None:
    """A busy ledger held the claim past the close: the claimed rows expire, no request leaves."""
    clock = FakeClock(AT)

    class SlowLedger(MemoryLedger):
        def claim(
            self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
        ) -> list[SendRecord]:
            won = super().claim(records, resend_uncertain=resend_uncertain)
            clock.advance(timedelta(minutes=11))
            return won

    ledger = SlowLedger()
    report, hosts = apply(config_dir, ledger, clock, sky_ok)
    assert hosts == []
    assert report.expired_by == {("s", OCCURRENCE, ExpiryReason.SENDING): 2}
    assert [(r.status, r.error) for r in ledger.records()] == [
        (Status.EXPIRED, ExpiryReason.SENDING.value)
    ] * 2
