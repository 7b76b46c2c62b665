"""The sender's decisions, with httpx.MockTransport: retry, failover, uncertain, write-ahead."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smsops.core.errors import LedgerError
from smsops.engine import ledger_writes
from smsops.engine.apply import ApplyOptions, ApplyReport, Sender
from smsops.engine.clock import Clock
from smsops.engine.plan import Disposition
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ENV = {"SKY": "sky-key", "OT": "ot-jwt"}
FAST = ApplyOptions(max_attempts=3, backoff_base=0.001, backoff_cap=1.0, claimed_by="h:1:r")
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  sky: {type: skycore, base_url: 'http://sky.test/api', api_key: '${env:SKY}', "
        "from: '12025550100'}\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a:\n    contacts:\n"
        "      - {phone: '+447400123450', name: A}\n"
        "      - {phone: '+447400123451', name: B}\n"
        "schedules:\n  s: {template: t, audience: a, provider: [sky, ot]}\n"
    )
    return tmp_path


def sky_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "Success", "tracking-id": "trk"})


def ot_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"success": True, "payload": {"uuid": "u-1", "state": "x"}})


def route(sky: Handler, ot: Handler = ot_ok) -> httpx.MockTransport:
    return httpx.MockTransport(lambda r: sky(r) if r.url.host == "sky.test" else ot(r))


def apply(config_dir: Path, ledger: MemoryLedger, transport: httpx.MockTransport) -> ApplyReport:
    config = load_project(config_dir)
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    sender = Sender(config, ledger, ENV, FAST, transport=transport)
    return asyncio.run(sender.run(plan.sends))


def statuses(ledger: MemoryLedger) -> list[tuple[Status, str, int]]:
    return [(r.status, r.provider, r.attempts) for r in ledger.records()]


def test_a_rejection_fails_over_to_the_next_provider(config_dir: Path) -> None:
    def sky_rejects(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"status": "Failure", "error-code": "E1", "error-info": "no"}
        )

    ledger = MemoryLedger()
    report = apply(config_dir, ledger, route(sky_rejects))
    assert (report.sent, report.failed) == (2, 0)
    assert statuses(ledger) == [(Status.SENT, "ot", 2)] * 2


def test_a_possibly_accepted_message_is_uncertain_and_never_retried(config_dir: Path) -> None:
    calls: list[str] = []

    def sky_breaks(request: httpx.Request) -> httpx.Response:
        calls.append("sky")
        return httpx.Response(500, text="<html>oops</html>")

    ledger = MemoryLedger()
    report = apply(config_dir, ledger, route(sky_breaks))
    assert (report.uncertain, len(calls)) == (2, 2)  # one request each, no failover
    assert statuses(ledger) == [(Status.UNCERTAIN, "sky", 1)] * 2
    assert all("HTTP 500, the request may have been taken" in p for p in report.problems)


def test_a_timeout_after_sending_is_uncertain(config_dir: Path) -> None:
    def sky_times_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    ledger = MemoryLedger()
    assert apply(config_dir, ledger, route(sky_times_out)).uncertain == 2


def test_retryable_until_the_last_provider_then_retried_by_the_next_apply(
    config_dir: Path,
) -> None:
    attempts = {"sky": 0, "ot": 0}

    def busy(name: str) -> Handler:
        def handler(request: httpx.Request) -> httpx.Response:
            attempts[name] += 1
            return httpx.Response(429, headers={"Retry-After": "0"}, json={})

        return handler

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    ledger = MemoryLedger()
    report = apply(config_dir, ledger, route(busy("sky"), busy("ot")))
    assert report.failed == 2
    assert attempts == {"sky": 6, "ot": 6}  # 3 attempts each, per message
    assert statuses(ledger) == [(Status.FAILED, "ot", 6)] * 2
    assert all(r.retryable for r in ledger.records())

    plan = make_plan(load_project(config_dir), ledger, AT, lambda _: False)
    assert plan.schedules[0].counts == {Disposition.RETRY: 2}
    report = apply(config_dir, ledger, route(refused))  # sky unreachable: ot takes them
    assert report.sent == 2
    assert statuses(ledger) == [(Status.SENT, "ot", 10)] * 2


def test_only_won_claims_are_sent(config_dir: Path) -> None:
    sent: list[str] = []

    def sky_records(request: httpx.Request) -> httpx.Response:
        sent.append(request.read().decode())
        return sky_ok(request)

    config = load_project(config_dir)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    first = Sender(config, ledger, ENV, FAST, transport=route(sky_records))
    asyncio.run(first.run(plan.sends[:1]))
    # A second run working from the same (now stale) plan sends only what it wins.
    second = Sender(config, ledger, ENV, FAST, transport=route(sky_records))
    report = asyncio.run(second.run(plan.sends))
    assert (report.sent, report.taken, len(sent)) == (1, 1, 2)


def test_stop_claims_nothing_more(config_dir: Path) -> None:
    config = load_project(config_dir)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    sender = Sender(config, ledger, ENV, FAST, transport=route(sky_ok))
    sender.stop()
    report = asyncio.run(sender.run(plan.sends))
    assert (report.sent, report.not_started) == (0, 2)
    assert list(ledger.records()) == []


class SyncingLedger(MemoryLedger):
    """As SQLite: a claim's commit waits on a disk sync, so it is written off the loop.

    The first claim holds until the test lets it go, once the loop has run on."""

    claims_wait_on_sync = True

    def __init__(self) -> None:
        super().__init__()
        self.syncing, self.synced = threading.Event(), threading.Event()

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        self.syncing.set()
        assert self.synced.wait(10), "the loop never ran while the claim was syncing"
        return super().claim(records, resend_uncertain=resend_uncertain)


def test_a_stop_while_a_claim_syncs_leaves_no_claimed_row_unsent(config_dir: Path) -> None:
    """The loop runs on while a claim is synced: a stop then claims nothing more, and what the
    synced claim won still goes out and is settled, never left pending or made uncertain."""
    config = load_project(config_dir)
    ledger = SyncingLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    requests: list[str] = []

    def sky_counts(request: httpx.Request) -> httpx.Response:
        requests.append("sky")
        return sky_ok(request)

    sender = Sender(config, ledger, ENV, FAST, transport=route(sky_counts))

    async def run() -> ApplyReport:
        sending = asyncio.ensure_future(sender.run(plan.sends))
        assert await asyncio.to_thread(ledger.syncing.wait, 10)
        sender.stop()  # on the loop, while the claim is in the writer thread
        ledger.synced.set()
        return await sending

    report = asyncio.run(run())
    rows = list(ledger.records())
    assert rows
    assert len(requests) == len(rows) == report.sent
    assert report.sent + report.not_started == 2
    assert {r.status for r in rows} == {Status.SENT}


class BrokenLedger(MemoryLedger):
    """Claims work until `claims_left` runs out; settles never do (disk full)."""

    def __init__(self, claims_left: int) -> None:
        super().__init__()
        self.claims_left = claims_left
        self.settles = 0  # calls of settle()

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        if self.claims_left <= 0:
            raise LedgerError("cannot claim sends in the ledger: the disk is full")
        self.claims_left -= 1
        return super().claim(records, resend_uncertain=resend_uncertain)

    def settle(self, records: Iterable[SendRecord]) -> None:
        self.settles += 1
        raise LedgerError("cannot settle sends in the ledger: the disk is full")


def test_results_that_cannot_be_written_leave_their_rows_pending(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pauses between the tries of the kept settlements (~15 s) are not what is tested here.
    monkeypatch.setattr(ledger_writes, "RETRY_PAUSES", (0.0,) * len(ledger_writes.RETRY_PAUSES))
    requests: list[str] = []

    def sky_counts(request: httpx.Request) -> httpx.Response:
        requests.append("sky")
        return sky_ok(request)

    ledger = BrokenLedger(claims_left=1)
    report = apply(config_dir, ledger, route(sky_counts))
    # Both were claimed in one write and sent; their results could not be written.
    assert len(requests) == report.sent == 2
    assert report.unsettled == 2
    assert report.ledger_error is not None
    assert "disk is full" in report.ledger_error
    # Written once during the run, then at close: once at once and once after each pause.
    assert ledger.settles == 2 + len(ledger_writes.RETRY_PAUSES)
    # The rows stay pending: the next run marks them uncertain, never resends them.
    assert statuses(ledger) == [(Status.PENDING, "sky", 0)] * 2


def test_a_claim_that_cannot_be_written_is_never_sent(config_dir: Path) -> None:
    requests: list[str] = []

    def sky_counts(request: httpx.Request) -> httpx.Response:
        requests.append("sky")
        return sky_ok(request)

    ledger = BrokenLedger(claims_left=0)
    report = apply(config_dir, ledger, route(sky_counts))
    assert requests == []
    assert (report.sent, report.not_started, report.unsettled) == (0, 2, 0)
    assert report.ledger_error is not None
    assert list(ledger.records()) == []


def test_a_sent_result_for_a_row_marked_stale_meanwhile_is_still_recorded(
    config_dir: Path,
) -> None:
    """Another apply took this run for dead mid-send and marked its claims uncertain: the
    provider took them, so this run records sent with their ids (more knowledge, no resend)."""
    ledger = MemoryLedger()

    def sky_meanwhile(request: httpx.Request) -> httpx.Response:
        ledger.mark_stale(lambda _: True, AT)  # this run was taken for dead
        return sky_ok(request)

    report = apply(config_dir, ledger, route(sky_meanwhile))
    assert report.sent == 2  # the provider took them
    assert report.refused == 0
    assert report.ledger_error is None
    assert [(r.status, r.provider_message_id) for r in ledger.records()] == [
        (Status.SENT, "trk")
    ] * 2


def test_a_result_for_a_row_another_run_took_is_reported_not_written(config_dir: Path) -> None:
    """Another apply marks this run's claims uncertain mid-send and they fail: refused (a
    failure after the mark is not believed); the run ends, says so, keeps them uncertain."""
    ledger = MemoryLedger()

    def sky_meanwhile(request: httpx.Request) -> httpx.Response:
        ledger.mark_stale(lambda _: True, AT)  # this run was taken for dead
        return httpx.Response(400, json={"status": "Failure", "error": "bad number"})

    report = apply(config_dir, ledger, route(sky_meanwhile, lambda r: sky_meanwhile(r)))
    assert report.refused == 2
    assert report.ledger_error is None  # the ledger works: nothing else stopped
    assert report.problems  # one line per refused write (the two may share one)
    refusals = [p for p in report.problems if p.startswith("not recorded: ")]
    assert refusals
    for problem in refusals:
        assert "held by another run" in problem or "no longer pending" in problem
    for problem in report.problems:
        assert "7400123450" not in problem
        assert "7400123451" not in problem
    # The rows stay what the other run made them: uncertain, for a person to resolve.
    assert [r.status for r in ledger.records()] == [Status.UNCERTAIN] * 2


def test_a_worker_waiting_out_a_retry_leaves_its_slot_to_the_next_send(tmp_path: Path) -> None:
    """One slot (`max_in_flight: 1`) and the first send told to retry: while it waits, the
    other sends go out. Its wait ends only once they are all answered, so a run whose
    workers all sat in retry waits (no spare worker in their place) would never end."""
    contacts = "".join(f"      - {{phone: '+44740012345{i}', name: N{i}}}\n" for i in range(6))
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234', max_in_flight: 1}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        f"audiences:\n  a:\n    contacts:\n{contacts}"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    answered: list[str] = []
    others_done = asyncio.Event()
    told_to_wait: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        to = json.loads(request.content)["to"]
        if not told_to_wait:
            told_to_wait.append(to)
            return httpx.Response(429, headers={"Retry-After": "0"}, json={})
        answered.append(to)
        if len(answered) == 5:
            others_done.set()
        return ot_ok(request)

    async def sleep(seconds: float) -> None:
        await others_done.wait()

    config = load_project(tmp_path)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    options = replace(FAST, clock=Clock(sleep=sleep))
    sender = Sender(config, ledger, ENV, options, transport=httpx.MockTransport(handler))

    report = asyncio.run(asyncio.wait_for(sender.run(plan.sends), timeout=30))
    assert report.sent == 6
    assert answered[-1] == told_to_wait[0]  # retried after the five others went out
