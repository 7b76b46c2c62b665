"""Any exception while one unit is built, sent or read is that unit's outcome (issue 19, 2).

`failed` when the request certainly did not leave (it could not be built),
`uncertain` when it may have (the transport or the reading of the answer
raised), always with a reason; the other units and providers go on, and no
claimed row stays `pending`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from smsops.engine.apply import ApplyOptions, ApplyReport, Sender
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.engine.windows import Windows
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from smsops.providers.skycore import SkycoreAdapter

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ENV = {"SKY": "sky-key", "OT": "ot-jwt"}
FAST = ApplyOptions(max_attempts=3, backoff_base=0.001, backoff_cap=1.0, claimed_by="h:1:r")
HOSTILE = "447400123450"  # the one recipient whose unit misbehaves
HEALTHY = 20


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    many = "".join(f"      - {{phone: '+4474009{i:05d}'}}\n" for i in range(HEALTHY))
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  sky: {type: skycore, base_url: 'http://sky.test/api', api_key: '${env:SKY}', "
        "from: '12025550100'}\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Your order has shipped.'}\n"
        "audiences:\n"
        f"  few:\n    contacts:\n      - {{phone: '+{HOSTILE}'}}\n      - {{phone: '+447400123451'}}\n"
        f"  many:\n    contacts:\n{many}"
        "schedules:\n"
        "  hostile: {template: t, audience: few, provider: sky}\n"
        "  healthy: {template: t, audience: many, provider: ot}\n"
    )
    return tmp_path


def ok(request: httpx.Request) -> httpx.Response:
    if request.url.host == "sky.test":
        return httpx.Response(200, json={"status": "Success", "tracking-id": "trk"})
    return httpx.Response(201, json={"success": True, "payload": {"uuid": "u-1"}})


def apply(
    config_dir: Path, handler: Callable[[httpx.Request], httpx.Response] = ok
) -> tuple[ApplyReport, MemoryLedger]:
    config = load_project(config_dir)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    sender = Sender(config, ledger, ENV, FAST, transport=httpx.MockTransport(handler))
    return asyncio.run(sender.run(plan.sends)), ledger


def outcome(ledger: MemoryLedger) -> tuple[dict[str, tuple[Status, str | None]], list[Status]]:
    """The hostile schedule's rows by number, and the healthy schedule's statuses."""
    hostile = {
        r.recipient.lstrip("+"): (r.status, r.error)
        for r in ledger.records()
        if r.schedule == "hostile"
    }
    healthy = [r.status for r in ledger.records() if r.schedule == "healthy"]
    return hostile, healthy


def assert_one_unit_hit(
    ledger: MemoryLedger, report: ApplyReport, status: Status, reason: str
) -> None:
    hostile, healthy = outcome(ledger)
    assert hostile[HOSTILE][0] == status, hostile
    assert reason in str(hostile[HOSTILE][1]), hostile
    assert [s for n, (s, _) in hostile.items() if n != HOSTILE] == [Status.SENT]
    assert healthy == [Status.SENT] * HEALTHY
    assert Status.PENDING not in {r.status for r in ledger.records()}
    assert report.sent == HEALTHY + 1


def test_a_transport_that_raises_leaves_that_unit_uncertain(config_dir: Path) -> None:
    """An exception from inside the exchange: the request may have left."""

    def handler(request: httpx.Request) -> httpx.Response:
        if HOSTILE in request.content.decode():
            raise RuntimeError("the connection pool broke mid-write")
        return ok(request)

    report, ledger = apply(config_dir, handler)
    assert_one_unit_hit(ledger, report, Status.UNCERTAIN, "RuntimeError")


def test_a_build_that_raises_fails_that_unit(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception while building: nothing left, so `failed` (it may fail over)."""
    build = SkycoreAdapter.build

    def broken(self: SkycoreAdapter, messages: Any) -> httpx.Request:
        if messages[0].recipient == f"+{HOSTILE}":
            raise ZeroDivisionError("a bug in the adapter")
        return build(self, messages)

    monkeypatch.setattr(SkycoreAdapter, "build", broken)
    report, ledger = apply(config_dir)
    assert_one_unit_hit(ledger, report, Status.FAILED, "ZeroDivisionError")


def test_reading_an_answer_that_raises_leaves_that_unit_uncertain(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = SkycoreAdapter.accepted

    def broken(self: SkycoreAdapter, response: Any, body: Any, messages: Any) -> Any:
        if messages[0].recipient == f"+{HOSTILE}":
            raise OverflowError("a bug in the reading")
        return accepted(self, response, body, messages)

    monkeypatch.setattr(SkycoreAdapter, "accepted", broken)
    report, ledger = apply(config_dir)
    assert_one_unit_hit(ledger, report, Status.UNCERTAIN, "OverflowError")


def test_an_exception_after_the_claim_outside_the_exchange_settles_the_claimed_rows(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backstop: no answer gets there, but a bug must neither leave a claimed row
    `pending` nor pass silently: the row is settled, the run stops claiming and raises."""

    def throttle(request: httpx.Request) -> httpx.Response:
        if HOSTILE in request.content.decode():
            return httpx.Response(429, headers={"Retry-After": "0"})
        return ok(request)

    def broken(self: Windows, *args: Any) -> Any:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(Windows, "open_at", broken)
    config = load_project(config_dir)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    sender = Sender(config, ledger, ENV, FAST, transport=httpx.MockTransport(throttle))
    with pytest.raises(OverflowError):
        asyncio.run(sender.run(plan.sends))
    hostile, _ = outcome(ledger)
    assert hostile[HOSTILE][0] == Status.UNCERTAIN, hostile
    assert "the send stopped after its claim: date value out of range" in str(hostile[HOSTILE][1])
    assert Status.PENDING not in {r.status for r in ledger.records()}


def test_a_header_value_with_a_line_break_fails_before_anything_leaves(
    config_dir: Path,
) -> None:
    config = load_project(config_dir)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    env = ENV | {"SKY": "sky-key\r\nX-Injected: 1"}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(request)

    sender = Sender(config, ledger, env, FAST, transport=httpx.MockTransport(handler))
    report = asyncio.run(sender.run(plan.sends))
    hostile, healthy = outcome(ledger)
    assert {status for status, _ in hostile.values()} == {Status.FAILED}
    assert all("line break" in str(error) for _, error in hostile.values())
    assert "sky-key" not in repr(hostile)
    assert healthy == [Status.SENT] * HEALTHY
    assert all(r.url.host == "ot.test" for r in seen)
    assert report.sent == HEALTHY
