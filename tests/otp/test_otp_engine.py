"""One-time codes end to end over loopback to the sandbox: SendWithSES and AOC, every outcome."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from smsops.config.loader import Config
from smsops.core.errors import OtpRefused, OtpUnusable
from smsops.engine.otp import Otp, OtpAnswer
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.otp import CodeStatus
from smsops.sandbox.server import Sandbox
from tests.fakeclock import FakeClock
from tests.otp.conftest import ENV, SECRET, T0, UK, last_code, sandbox_messages


def otp(config: Config, ledger: MemoryLedger, clock: FakeClock, env: Any = ENV) -> Otp:
    return Otp(config, ledger, env, clock=clock)


def send(service: Otp, **request: Any) -> OtpAnswer:
    return asyncio.run(
        service.send(
            request.get("to", UK), request.get("template", "login"), request.get("provider")
        )
    )


def verify(service: Otp, code: str, provider: str | None = None, to: str = UK) -> OtpAnswer:
    return asyncio.run(service.verify(to, code, provider))


def test_sendwithses_sends_with_send_otp_and_verifies_with_verify_otp(
    config: Config, sandbox: Sandbox
) -> None:
    ledger, clock = MemoryLedger(), FakeClock(T0)
    service = otp(config, ledger, clock)
    answer = send(service, provider="ses")
    assert answer.as_json() == {"status": "sent", "provider": "ses"}
    (message,) = sandbox_messages(sandbox)
    assert message["provider"] == "sendwithses"
    assert message["request"] == {"mobile": UK}  # /send-otp: SendWithSES makes the code
    code = last_code(sandbox)
    wrong = "000000" if code != "000000" else "111111"
    assert verify(service, wrong).as_json() == {
        "status": "wrong_code",
        "provider": "ses",
        "attempts_left": 2,
    }
    assert verify(service, code).status == "approved"
    assert verify(service, code).status == "not_found"  # a code verifies once
    (stored,) = ledger.otp_codes(UK)
    assert stored.digest is None
    assert stored.status is CodeStatus.APPROVED
    (row,) = ledger.records(schedule="otp:login")
    assert row.status is Status.SENT
    assert row.provider == "ses"
    assert row.occurrence == stored.id
    outcomes = [(e.action, e.outcome) for e in ledger.otp_events(UK)]
    assert outcomes == [
        ("send", "sent"),
        ("verify", "wrong_code"),
        ("verify", "approved"),
        ("verify", "not_found"),
    ]


def test_aoc_sends_type_otp_with_a_fresh_code(config: Config, sandbox: Sandbox) -> None:
    ledger, clock = MemoryLedger(), FakeClock(T0)
    service = otp(config, ledger, clock)
    assert send(service, provider="aoc").status == "sent"
    first = last_code(sandbox)
    clock.advance(timedelta(minutes=1))
    assert send(service, provider="aoc").status == "sent"
    second = last_code(sandbox)
    messages = sandbox_messages(sandbox)
    assert [m["request"]["type"] for m in messages] == ["OTP", "OTP"]
    assert messages[0]["text"] == f"Your ACME code is {first}. It expires in 10 minutes."
    assert len(first) == len(second) == 6
    codes = ledger.otp_codes(UK)
    assert all(c.digest is not None and first not in c.digest for c in codes)
    rows = list(ledger.records(schedule="otp:login"))
    assert len({row.text_hash for row in rows}) == 1  # the body's hash, never the code's text
    assert verify(service, first).status == "wrong_code"  # the newer code replaced it
    assert verify(service, second).status == "approved"


def test_wrong_code_then_lock_after_the_limit(config: Config, sandbox: Sandbox) -> None:
    service = otp(config, MemoryLedger(), FakeClock(T0))
    send(service, provider="aoc")
    code = last_code(sandbox)
    wrong = "000000" if code != "000000" else "111111"
    left = [verify(service, wrong).attempts_left for _ in range(3)]
    assert left == [2, 1, 0]
    assert verify(service, code).as_json() == {"status": "too_many_attempts"}


def test_expiry_with_a_fixed_clock(config: Config, sandbox: Sandbox) -> None:
    clock = FakeClock(T0)
    service = otp(config, MemoryLedger(), clock)
    send(service, template="short", provider="aoc")
    code = last_code(sandbox)
    assert len(code) == 4
    clock.advance(timedelta(seconds=59))
    still = verify(service, "0000" if code != "0000" else "1111")
    assert still.status == "wrong_code"
    clock.advance(timedelta(seconds=1))
    assert verify(service, code).status == "expired"


def test_not_found(config: Config, sandbox: Sandbox) -> None:
    service = otp(config, MemoryLedger(), FakeClock(T0))
    assert verify(service, "123456").status == "not_found"
    send(service, provider="aoc")
    assert verify(service, last_code(sandbox), provider="ses").status == "not_found"


def test_the_send_limit_per_number(config: Config, sandbox: Sandbox) -> None:
    clock = FakeClock(T0)
    service = otp(config, MemoryLedger(), clock)
    assert send(service, provider="aoc").status == "sent"
    too_soon = send(service, provider="aoc")
    assert too_soon.status == "rate_limited"
    assert too_soon.retry_after == 30
    for _ in range(2):
        clock.advance(timedelta(seconds=30))
        assert (
            send(service, provider="ses").status == "sent"
        )  # counted over templates and providers
    clock.advance(timedelta(seconds=30))
    full = send(service, provider="aoc")
    assert full.status == "rate_limited"
    assert full.retry_after == 510
    assert len(sandbox_messages(sandbox)) == 3  # nothing sent when refused
    clock.advance(timedelta(seconds=510))
    assert send(service, provider="aoc").status == "sent"


def test_a_rejected_send_is_failed_and_not_counted(config: Config, sandbox: Sandbox) -> None:
    import httpx

    httpx.put(sandbox.url + "/_sandbox/faults", json={"status_every": 1, "status": 400})
    ledger = MemoryLedger()
    service = otp(config, ledger, FakeClock(T0))
    answer = send(service, provider="aoc")
    assert answer.status == "failed"
    assert answer.reason
    assert verify(service, "123456").status == "not_found"
    httpx.put(sandbox.url + "/_sandbox/faults", json={"status_every": 0})
    assert send(service, provider="aoc").status == "sent"  # no gap after a failed send


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        ({"to": "07400123456", "provider": "aoc"}, "E.164"),
        ({"to": "+44", "provider": "aoc"}, "not a number"),
        ({"to": "+447700900123", "provider": "aoc"}, "not a number"),
        ({"to": "+" + "4" * 40, "provider": "aoc"}, "E.164"),
        ({"to": 447400123456, "provider": "aoc"}, "E.164"),
        ({"template": "nope", "provider": "aoc"}, "no template named 'nope'"),
        ({"template": "x" * 10_000, "provider": "aoc"}, "no template named '...'"),
        ({"template": ["login"], "provider": "aoc"}, "no template named '...'"),
        ({"template": "notice", "provider": "aoc"}, "not of category otp"),
        ({"provider": "nope"}, "no provider named"),
        ({"provider": {"x": 1}}, "provider's name"),
        ({}, "several providers"),
    ],
)
def test_bad_send_requests_send_nothing(
    config: Config, sandbox: Sandbox, request_: dict[str, Any], says: str
) -> None:
    ledger = MemoryLedger()
    service = otp(config, ledger, FakeClock(T0))
    with pytest.raises(OtpRefused, match=says):
        send(service, **request_)
    assert sandbox_messages(sandbox) == []
    assert ledger.otp_events() == []


@pytest.mark.parametrize(
    "request_",
    [
        {"template": "+447400123456", "provider": "aoc"},
        {"template": "\x1b[31m447400123456\n", "provider": "aoc"},
        {"template": "login", "provider": "447400123456"},
    ],
)
def test_a_refused_name_never_repeats_a_number(
    config: Config, sandbox: Sandbox, request_: dict[str, Any]
) -> None:
    """The refusal is the API's 404 answer and the CLI's error: a number is masked there."""
    service = otp(config, MemoryLedger(), FakeClock(T0))
    with pytest.raises(OtpRefused) as refused:
        send(service, **request_)
    assert "7400123456" not in str(refused.value)
    assert "\x1b" not in str(refused.value)  # shown as repr: the escape stays inert text
    assert sandbox_messages(sandbox) == []


@pytest.mark.parametrize(
    "code",
    [
        "12345a",
        "123",
        "12345678901",
        " 123456",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "",
        "1" * 10_000,
        None,
        123456,
    ],
)
def test_codes_of_wrong_length_or_characters_are_refused(
    config: Config, sandbox: Sandbox, code: Any
) -> None:
    ledger = MemoryLedger()
    service = otp(config, ledger, FakeClock(T0))
    send(service, provider="aoc")
    with pytest.raises(OtpRefused, match="digits"):
        asyncio.run(service.verify(UK, code))
    (stored,) = ledger.otp_codes(UK)
    assert stored.attempts == 0  # refused before anything was checked


def test_the_secret_is_needed_for_codes_smsops_makes(config: Config, sandbox: Sandbox) -> None:
    without = {k: v for k, v in ENV.items() if k != "OTP_SECRET"}
    with pytest.raises(OtpUnusable, match="OTP_SECRET"):
        send(otp(config, MemoryLedger(), FakeClock(T0), without), provider="aoc")
    with pytest.raises(OtpUnusable, match="5 characters long, and a token needs at least 32"):
        send(
            otp(config, MemoryLedger(), FakeClock(T0), ENV | {"OTP_SECRET": "short"}),
            provider="aoc",
        )
    assert sandbox_messages(sandbox) == []
    assert (
        send(otp(config, MemoryLedger(), FakeClock(T0), without), provider="ses").status == "sent"
    )
    assert SECRET not in repr(otp(config, MemoryLedger(), FakeClock(T0)).codes.otp_events())


@pytest.mark.parametrize(
    ("secret", "rule"),
    [
        ("a" * 32, "is one character repeated"),
        ("ab" * 16, "is a sequence of 2 characters repeated"),
        ("abcdefg" * 4 + "abcdgfe", "uses only 7 different characters"),
    ],
)
def test_a_weak_secret_is_refused_by_the_token_rule(
    config: Config, sandbox: Sandbox, secret: str, rule: str
) -> None:
    weak = otp(config, MemoryLedger(), FakeClock(T0), ENV | {"OTP_SECRET": secret})
    with pytest.raises(
        OtpUnusable, match=rf"the otp secret \(\$\{{env:OTP_SECRET\}}\) {rule}"
    ) as refused:
        send(weak, provider="aoc")
    assert secret not in str(refused.value)
    assert sandbox_messages(sandbox) == []


@pytest.mark.parametrize(("echo_status", "outcome"), [(400, "failed"), (500, "uncertain")])
def test_a_provider_echoing_the_request_reveals_neither_code_nor_number(
    config: Config,
    sandbox: Sandbox,
    echo_status: int,
    outcome: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy that writes the request back in its error (the sandbox's echo fault) hands the
    text, so the live code, and the number to the send's reason: the API's answer, the
    ledger's error column and its views. An uncertain code still verifies."""
    import httpx

    httpx.put(sandbox.url + "/_sandbox/faults", json={"echo_every": 1, "echo_status": echo_status})
    code = "730516"  # the echo records nothing, so the code is chosen here
    digits = iter(code)
    monkeypatch.setattr("smsops.engine.otp.secrets.choice", lambda _: next(digits))
    ledger = MemoryLedger()
    answer = send(otp(config, ledger, FakeClock(T0)), provider="aoc")
    assert answer.status == outcome
    assert answer.reason
    assert "Your ACME code is" in answer.reason
    number = UK.removeprefix("+")
    (row,) = ledger.records("otp:login")
    assert code not in answer.reason
    assert number not in answer.reason
    assert row.error
    assert code not in row.error


def test_an_unavailable_verify_reveals_neither_number_nor_code(
    config: Config, sandbox: Sandbox
) -> None:
    """SendWithSES checks its own codes: a proxy echoing the verify request in a 500 makes
    the verify `unavailable`, and its reason (the API's answer) quotes that request."""
    import httpx

    service = otp(config, MemoryLedger(), FakeClock(T0))
    assert send(service, provider="ses").status == "sent"
    httpx.put(sandbox.url + "/_sandbox/faults", json={"echo_every": 1, "echo_status": 500})
    answer = verify(service, "730516")
    assert answer.status == "unavailable"
    assert answer.reason
    assert "verify-otp" in answer.reason
    assert "730516" not in answer.reason
    assert UK.removeprefix("+") not in answer.reason
