"""The one-time code store, the same contract on every backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from smsops.ledger.base import Ledger
from smsops.ledger.otp import (
    CodeStatus,
    OtpCode,
    OtpStore,
    RateLimited,
    SendOutcome,
    SendRule,
    Verdict,
    code_digest,
    matches,
)

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
UK = "+447400123456"
RULE = SendRule(max_sends=3, window=timedelta(minutes=10), min_gap=timedelta(seconds=30))


def store(ledger: Ledger) -> OtpStore:
    assert isinstance(ledger, OtpStore)
    return ledger


def code(n: int, at: datetime, *, provider: str = "aoc", attempts: int = 5) -> OtpCode:
    return OtpCode(
        id=f"c{n}",
        recipient=UK,
        provider=provider,
        template="login",
        digest=code_digest("s" * 32, f"c{n}", UK, "123456"),
        created_at=at,
        expires_at=at + timedelta(minutes=10),
        max_attempts=attempts,
    )


def test_send_limit_and_gap(open_ledger_handle: Callable[[], Ledger]) -> None:
    otp = store(open_ledger_handle())
    assert otp.open_code(code(1, T0), RULE) is None
    gap = otp.open_code(code(2, T0 + timedelta(seconds=10)), RULE)
    assert isinstance(gap, RateLimited)
    assert gap.retry_after == 20
    assert otp.open_code(code(3, T0 + timedelta(seconds=40)), RULE) is None
    assert otp.open_code(code(4, T0 + timedelta(seconds=80)), RULE) is None
    full = otp.open_code(code(5, T0 + timedelta(seconds=120)), RULE)
    assert isinstance(full, RateLimited)
    assert full.retry_after == 480
    assert otp.open_code(code(6, T0 + timedelta(minutes=10, seconds=1)), RULE) is None
    outcomes = [e.outcome for e in otp.otp_events(UK)]
    assert outcomes == ["rate_limited", "rate_limited"]


def test_failed_codes_do_not_count(open_ledger_handle: Callable[[], Ledger]) -> None:
    otp = store(open_ledger_handle())
    first = code(1, T0)
    assert otp.open_code(first, RULE) is None
    otp.code_sent(first, SendOutcome.FAILED, T0)
    assert otp.open_code(code(2, T0 + timedelta(seconds=1)), RULE) is None
    assert otp.take_attempt(UK, None, T0 + timedelta(seconds=2)).id == "c2"  # type: ignore[union-attr]


def test_verify_outcomes(open_ledger_handle: Callable[[], Ledger]) -> None:
    otp = store(open_ledger_handle())
    assert otp.take_attempt(UK, None, T0) is Verdict.NOT_FOUND
    sent = code(1, T0, attempts=2)
    otp.open_code(sent, RULE)
    otp.code_sent(sent, SendOutcome.SENT, T0)
    first = otp.take_attempt(UK, None, T0)
    assert isinstance(first, OtpCode)
    assert first.attempts == 1
    assert first.attempts_left == 1
    assert matches(first, code_digest("s" * 32, "c1", UK, "123456"))
    assert not matches(first, code_digest("s" * 32, "c1", UK, "654321"))
    second = otp.take_attempt(UK, "aoc", T0)
    assert isinstance(second, OtpCode)
    assert second.attempts_left == 0
    assert otp.take_attempt(UK, None, T0) is Verdict.TOO_MANY_ATTEMPTS
    assert otp.take_attempt(UK, "other", T0) is Verdict.NOT_FOUND


def test_expiry_and_single_use(open_ledger_handle: Callable[[], Ledger]) -> None:
    otp = store(open_ledger_handle())
    sent = code(1, T0)
    otp.open_code(sent, RULE)
    otp.code_sent(sent, SendOutcome.UNCERTAIN, T0)
    assert otp.take_attempt(UK, None, T0 + timedelta(minutes=10)) is Verdict.EXPIRED
    taken = otp.take_attempt(UK, None, T0 + timedelta(minutes=9))
    assert isinstance(taken, OtpCode)
    assert otp.approve(taken, T0) is Verdict.APPROVED
    assert otp.approve(taken, T0) is Verdict.NOT_FOUND  # once
    assert otp.take_attempt(UK, None, T0) is Verdict.NOT_FOUND
    (stored,) = otp.otp_codes(UK)
    assert stored.status is CodeStatus.APPROVED
    assert stored.approved_at == T0
    assert stored.attempts == 1  # the approved attempt counted, the settle kept it


def test_a_newer_code_replaces_the_older(open_ledger_handle: Callable[[], Ledger]) -> None:
    otp = store(open_ledger_handle())
    older, newer = code(1, T0), code(2, T0 + timedelta(minutes=1))
    for each in (older, newer):
        assert otp.open_code(each, RULE) is None
        otp.code_sent(each, SendOutcome.SENT, each.created_at)
    taken = otp.take_attempt(UK, None, T0 + timedelta(minutes=2))
    assert isinstance(taken, OtpCode)
    assert taken.id == "c2"


def test_send_settle_keeps_attempts(open_ledger_handle: Callable[[], Ledger]) -> None:
    otp = store(open_ledger_handle())
    sent = code(1, T0)
    otp.open_code(sent, RULE)
    otp.take_attempt(UK, None, T0)  # a verify before the send's answer (pending is live)
    otp.code_sent(sent, SendOutcome.SENT, T0)
    (stored,) = otp.otp_codes(UK)
    assert stored.attempts == 1
    assert stored.status is CodeStatus.SENT


def test_two_handles_cannot_both_pass_the_limit(open_ledger_handle: Callable[[], Ledger]) -> None:
    """Two handles (two replicas on PostgreSQL) asking at once: the limit holds."""
    handles = [store(open_ledger_handle()) for _ in range(2)]
    rule = replace(RULE, max_sends=1, min_gap=timedelta(0))
    results: list[RateLimited | None] = []
    barrier = threading.Barrier(8)

    def ask(n: int) -> None:
        barrier.wait()
        results.append(handles[n % 2].open_code(code(n, T0), rule))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is None for result in results) == 1
    assert len(handles[0].otp_codes(UK)) == 1
