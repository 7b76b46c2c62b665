"""`held: provider`: a round whose requests to a provider all failed to connect records it
(engine/reach.py, engine/holds.py); a later round the provider answers (any HTTP answer,
even a refusal) ends it. The rows keep their outcomes: retryable failures, retried later."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import pytest

from smsops.engine.clock import Clock
from smsops.engine.holds import provider_holds
from smsops.engine.project import load_project
from smsops.engine.reach import ANSWERED, Reach, unreachable
from smsops.engine.round import Round, RoundHooks
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from smsops.sandbox.server import Sandbox

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ENV = {"OT": "ot-jwt"}
DOWN = "provider 'ot' unreachable: 10 requests, none answered (connection refused)"


async def _no_wait(_: float) -> None:
    return None


CLOCK = Clock(now=lambda: AT, sleep=_no_wait)  # retries without waiting


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound and never listened on: every connection is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def _config(tmp_path: Path, base_url: str) -> Path:
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{base_url}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a:\n    contacts:\n"
        "      - {phone: '+447400123450', name: A}\n"
        "      - {phone: '+447400123451', name: B}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    return tmp_path


class Counting(MemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[dict[str, object]] = []

    def note_holds(self, held, at):  # type: ignore[no-untyped-def]
        self.written.append(dict(held))
        super().note_holds(held, at)


def _round(tmp_path: Path, ledger: MemoryLedger, **kw: object) -> None:
    config = load_project(tmp_path)
    asyncio.run(Round(config, ledger, ENV, RoundHooks(), clock=CLOCK, **kw).run(AT))  # type: ignore[arg-type]


def test_a_provider_refusing_every_connection_holds_the_schedule_once(
    tmp_path: Path, closed_port: int
) -> None:
    _config(tmp_path, f"http://127.0.0.1:{closed_port}")
    ledger = Counting()
    _round(tmp_path, ledger)
    held = ledger.holds()
    assert {n: (h.reason, h.detail, h.since) for n, h in held.items()} == {
        "s": ("provider", DOWN, AT)  # 2 sends x 5 attempts
    }
    rows = list(ledger.records())
    assert [(r.status, r.retryable) for r in rows] == [(Status.FAILED, True)] * 2
    # the daemon's rounds alike; down again (any count) is no change: one write in all
    _round(tmp_path, ledger, isolate_failures=True)
    assert ledger.written == [{"s": ("provider", DOWN)}]
    assert ledger.holds()["s"].since == AT


def test_any_answer_ends_it_even_a_refusal(tmp_path: Path, sandbox: Sandbox) -> None:
    _config(tmp_path, sandbox.base_url("opentact"))
    ledger = MemoryLedger()
    ledger.note_holds({"s": ("provider", DOWN)}, AT)
    refusing = httpx.MockTransport(lambda request: httpx.Response(400, json={"error": "no"}))
    _round(tmp_path, ledger, transport=refusing)
    assert ledger.holds() == {}
    assert {r.status for r in ledger.records()} == {Status.FAILED}


def test_a_round_that_goes_ahead_without_reaching_it_keeps_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Planning ends guardrail and secret holds; a provider hold waits for an answer:
    a round with nothing to send (or only requests that may have reached it) keeps it."""
    _config(tmp_path, sandbox.base_url("opentact"))
    ledger = MemoryLedger()
    ledger.note_holds({"s": ("provider", DOWN)}, AT)

    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    _round(tmp_path, ledger, transport=httpx.MockTransport(lost))
    assert [r.status for r in ledger.records()] == [Status.UNCERTAIN] * 2
    assert ledger.holds()["s"].reason == "provider"
    _round(tmp_path, ledger)  # nothing left to send
    assert ledger.holds()["s"].reason == "provider"
    assert sandbox.state.snapshot() == []


def test_a_guardrail_takes_over_from_a_provider_hold(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9")
    text = (
        (config / "c.yaml")
        .read_text()
        .replace("provider: ot}", "provider: ot, limits: {max_recipients: 1}}")
    )
    (config / "c.yaml").write_text(text)
    ledger = MemoryLedger()
    ledger.note_holds({"s": ("provider", DOWN)}, AT)
    _round(tmp_path, ledger, isolate_failures=True)
    assert ledger.holds()["s"].reason == "guardrail"


def _connect_error(cause: BaseException) -> httpx.ConnectError:
    error = httpx.ConnectError("ClientConnectorError: ...")
    error.__cause__ = cause  # as engine/transport.py raises it: `from` aiohttp's
    return error


KEY = object()  # aiohttp's connection key: only read when the error is printed


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (httpx.ConnectTimeout("t"), "connect timeout"),
        (
            _connect_error(aiohttp.ClientConnectorError(KEY, ConnectionRefusedError())),
            "connection refused",
        ),  # type: ignore[arg-type]
        (
            _connect_error(aiohttp.ClientConnectorError(KEY, ConnectionResetError())),
            "connection reset",
        ),  # type: ignore[arg-type]
        (_connect_error(aiohttp.ClientConnectorDNSError(KEY, OSError("no such host"))), "DNS"),  # type: ignore[arg-type]
        (_connect_error(ssl.SSLError("bad certificate")), "TLS"),
        (httpx.ConnectError("refused"), "could not connect"),  # MockTransport's: no cause
        (httpx.PoolTimeout("our pool"), None),  # waiting on ourselves, not on the provider
        (httpx.ReadTimeout("r"), None),  # connected: it may have the message (uncertain)
        (httpx.RemoteProtocolError("reset after sending"), None),
    ],
)
def test_only_a_connect_failure_is_unreachable_and_its_cause_is_a_fixed_phrase(
    error: httpx.TransportError, cause: str | None
) -> None:
    assert unreachable(error) == cause


def _seen(answered: int, unreachable: int) -> Reach:
    seen = Reach()
    for _ in range(answered):
        seen.heard(ANSWERED)
    for _ in range(unreachable):
        seen.heard("connection refused")
    return seen


def test_a_schedule_whose_failover_provider_answered_is_not_held() -> None:
    """Held means nothing of the round got through: with the primary down and the backup
    answering, the schedule is going ahead (the page shows the primary's errors)."""
    both = {("s", "primary"): _seen(0, 3), ("s", "backup"): _seen(3, 0)}
    assert provider_holds(both) == {"s": None}
    alone = {("s", "primary"): _seen(0, 3)}
    held = provider_holds(alone)["s"]
    assert held is not None
    assert held[0] == "provider"
    all_down = {("s", "primary"): _seen(0, 2), ("s", "backup"): _seen(0, 1)}
    both_down = provider_holds(all_down)["s"]
    assert both_down is not None
    assert "'backup'" in both_down[1]
    assert "'primary'" in both_down[1]
