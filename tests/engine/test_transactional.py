"""engine/transactional.py with httpx.MockTransport: what a repeat, a failure and a
broken ledger do to a transactional send (the HTTP side: tests/daemon/test_api_*)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from smsops.config.loader import Config
from smsops.core.errors import LedgerError, Refused
from smsops.engine.apply import ApplyOptions
from smsops.engine.project import load_project
from smsops.engine.transactional import (
    MessageAnswer,
    MessageRequest,
    Outcome,
    Transactional,
    key_of,
)
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.sqlite import SqliteLedger

CONFIG = """\
providers:
  ot: {type: opentact, base_url: 'https://ot.example.test', token: '${env:OT}', from: '+12017771234'}
templates:
  t: {category: transactional, body: 'Order {{ order }} shipped'}
"""
ENV = {"OT": "jwt"}
ONCE = ApplyOptions(max_attempts=1)  # a retryable answer fails at once: no backoff waits


def request(key: str = "k", **changes: object) -> MessageRequest:
    fields: dict[str, object] = {"template": "t", "to": "+447400123456", "vars": {"order": 42}}
    return MessageRequest.model_validate(fields | {"idempotency_key": key} | changes)


class Provider:
    """Answers each request with the next status (the last one repeats); counts them."""

    def __init__(self, *statuses: int) -> None:
        self.statuses, self.calls = list(statuses), 0

    def __call__(self, _: httpx.Request) -> httpx.Response:
        self.calls += 1
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if status == 201:
            return httpx.Response(
                201, json={"success": True, "payload": {"uuid": f"u{self.calls}"}}
            )
        return httpx.Response(status, json={"success": False})


def sending(
    tmp_path: Path, provider: Provider, ledger: Ledger | None = None
) -> tuple[Transactional, object]:
    (tmp_path / "c.yaml").write_text(CONFIG)
    config = load_project(tmp_path)
    sends = Transactional(
        ledger or MemoryLedger(), ENV, transport=httpx.MockTransport(provider), options=ONCE
    )
    return sends, config


def run(sends: Transactional, config: Config, *requests: MessageRequest) -> list[Outcome]:
    async def all_of() -> list[Outcome]:
        try:
            return list(await asyncio.gather(*(sends.send(config, r) for r in requests)))
        finally:
            await sends.aclose()

    return asyncio.run(all_of())


def test_a_repeat_while_the_first_sends_waits_for_its_result(tmp_path: Path) -> None:
    provider = Provider(201)
    sends, config = sending(tmp_path, provider)
    first, second = run(sends, config, request(), request(vars={"order": "42"}))  # 42 == "42"
    assert provider.calls == 1
    assert (first.replayed, second.replayed) == (False, True)
    assert first.answer == second.answer


def test_a_failure_the_provider_certainly_did_not_take_is_sent_by_a_repeat(
    tmp_path: Path,
) -> None:
    provider, ledger = Provider(503, 201), MemoryLedger()
    sends, config = sending(tmp_path, provider, ledger)
    (down,) = run(sends, config, request())
    assert down.answer.status == "failed"
    sends, config = sending(tmp_path, provider, ledger)
    (back,) = run(sends, config, request())
    assert (back.answer.status, back.replayed, provider.calls) == ("sent", False, 2)


def test_a_rejected_send_is_not_sent_again_by_a_repeat(tmp_path: Path) -> None:
    provider = Provider(400, 201)
    sends, config = sending(tmp_path, provider)
    first, again = run(sends, config, request()) + run(
        *sending(tmp_path, provider, sends.ledger), request()
    )
    assert (first.answer.status, again.answer.status, again.replayed) == ("failed", "failed", True)
    assert provider.calls == 1


class Flaky(MemoryLedger):
    """A ledger whose first claim fails (a lock held past the wait, a lost connection)."""

    failed = False

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        if not self.failed:
            self.failed = True
            raise LedgerError("the ledger is locked")
        return super().claim(records, resend_uncertain=resend_uncertain)


def test_a_failed_ledger_write_fails_that_send_only_and_the_next_one_goes(tmp_path: Path) -> None:
    provider = Provider(201)
    sends, config = sending(tmp_path, provider, Flaky())

    async def two() -> tuple[BaseException | None, Outcome]:
        try:
            try:
                await sends.send(config, request("a"))
            except RuntimeError as exc:
                failed: BaseException | None = exc
            else:
                failed = None
            return failed, await sends.send(config, request("b"))
        finally:
            await sends.aclose()

    failed, ok = asyncio.run(two())
    assert "the ledger is locked" in str(failed)
    assert (ok.answer.status, provider.calls) == ("sent", 1)


@pytest.mark.parametrize("key", ["k", "order-42:shipped.v2"])
def test_the_answer_masks_the_number(tmp_path: Path, key: str) -> None:
    sends, config = sending(tmp_path, Provider(201))
    (sent,) = run(sends, config, request(key))
    assert sent.answer.to == "+44 74** ***456"
    assert sent.answer.key == key


OTP_CONFIG = """\
otp: {secret: '${env:OTP_SECRET}'}
providers:
  aoc: {type: aoc, base_url: 'https://aoc.example.test', api_key: '${env:AOC}', sender: ACME}
templates:
  login: {category: otp, body: 'Your code is {{ code }}'}
"""


def test_a_one_time_code_template_is_refused_nothing_claimed_or_sent(tmp_path: Path) -> None:
    """A code the caller chose, outside the OTP policy (limits, expiry, attempts) and kept
    as a sha256 of the request (a six-digit code is found in a million guesses): refused."""
    (tmp_path / "c.yaml").write_text(OTP_CONFIG)
    config = load_project(tmp_path)
    provider, ledger = Provider(201), MemoryLedger()
    env = {"AOC": "key", "OTP_SECRET": "s" * 32}
    sends = Transactional(ledger, env, transport=httpx.MockTransport(provider), options=ONCE)
    otp = request(template="login", vars={"code": "123456"})
    with pytest.raises(Refused) as refused:
        run(sends, config, otp)
    assert refused.value.status == 422
    assert "otp send" in refused.value.reason
    assert provider.calls == 0
    assert ledger.get([key_of("k")]) == {}


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 10**600, 1e300])
def test_a_number_variable_is_finite_and_as_short_as_a_text_one(value: float) -> None:
    """`1e999` is read by Python's json as inf; an int of 4,000 digits is 4,000 characters:
    the values the docs bound at 500 characters are bounded as rendered."""
    if isinstance(value, float) and value == 1e300:
        assert request(vars={"order": value}).vars["order"] == value  # 1e+300: 6 characters
        return
    with pytest.raises(ValidationError):
        request(vars={"order": value})


class PowerCut(SqliteLedger):
    """A SQLite ledger that keeps, at each settlement, the files as a power loss right then
    could leave them: every commit before it was synced (claims are FULL), the settlement
    itself is not yet (it is committed without a sync of its own), so its WAL frames are
    lost and the WAL ends where it did before it. SQLite rebuilds its index from the WAL."""

    def __init__(self, path: Path, cut: Path) -> None:
        super().__init__(path)
        self.cut = cut

    def settle(self, records: Iterable[SendRecord]) -> None:
        self.cut.mkdir(exist_ok=True)
        for name in (self.path.name, self.path.name + "-wal"):
            shutil.copyfile(self.path.with_name(name), self.cut / name)
        super().settle(records)


def test_the_answer_get_and_a_repeat_agree_and_a_power_loss_leaves_it_uncertain(
    tmp_path: Path,
) -> None:
    """The settlement is committed before the answer (GET and a repeat read it in this
    process) but not synced; lost to a power loss, the send stays claimed, and recovery
    makes it `uncertain`: a repeat of its key then answers that and sends nothing."""
    provider = Provider(201)
    ledger = PowerCut(tmp_path / "l" / "ledger.sqlite", tmp_path / "cut")
    sends, config = sending(tmp_path, provider, ledger)

    async def answer_get_repeat() -> tuple[Outcome, MessageAnswer | None, Outcome]:
        try:
            sent = await sends.send(config, request())
            return sent, await sends.look("k"), await sends.send(config, request())
        finally:
            await sends.aclose()

    sent, got, repeat = asyncio.run(answer_get_repeat())
    ledger.close()
    assert (sent.answer.status, sent.replayed, provider.calls) == ("sent", False, 1)
    assert got == sent.answer
    assert (repeat.answer, repeat.replayed) == (sent.answer, True)
    assert SqliteLedger(ledger.path).get([key_of("k")])[key_of("k")].status is Status.SENT
    after = SqliteLedger(tmp_path / "cut" / "ledger.sqlite")  # the power came back
    try:
        assert after.get([key_of("k")])[key_of("k")].status is Status.PENDING
        before_recovery = run(*sending(tmp_path, provider, after), request())
        after.mark_stale(lambda _: True, datetime.now(UTC))  # its run is gone (its lease)
        recovered = run(*sending(tmp_path, provider, after), request())
    finally:
        after.close()
    assert [o.answer.status for o in before_recovery + recovered] == ["pending", "uncertain"]
    assert all(o.replayed for o in before_recovery + recovered)
    assert provider.calls == 1  # never sent again
