"""One-time codes in the ledger: what is stored of each code, and the rules that read it.

Stored per code (`otp_codes`): its id (also the occurrence of its send in
`sends`), the number, provider and template, the keyed hash of the code
(HMAC-SHA256 with the server secret; none when the provider makes and checks
the code itself, SendWithSES), when it was made and expires, the attempts it
allows and has had, and its status: `pending` (claimed, its request not yet
answered), `sent`, `uncertain` (may have reached the phone: verifiable),
`failed` (certainly never sent: neither verifiable nor counted against the
number's sends) or `approved` (verified; a code verifies once). Every request
and its outcome is one row of `otp_events`.

The rules, here once for every backend:
- `send_refusal`: a number gets at most `max_sends` codes per `send_window`
  and none within `min_gap` of its last (failed ones do not count);
- `verdict`: only the number's newest live code verifies (a new one replaces
  the old); not there or already approved: `not_found`; past its expiry:
  `expired`; out of attempts: `too_many_attempts`; else the attempt is
  counted before the code is compared, so no number of parallel guesses gets
  more than `max_attempts` tries.

Atomicity: a backend runs `open_code` and `take_attempt` each as one
transaction that holds the number (memory: a lock; SQLite: its write lock;
PostgreSQL: an advisory lock per number), so two replicas cannot both pass
the send limit, nor both spend the last attempt; `approve` approves a code
only while it is live, in the same kind of transaction, so one code is
approved once however many checks race.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from smsops.core.units import format_duration
from smsops.core.words import plural


class CodeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    UNCERTAIN = "uncertain"
    FAILED = "failed"
    APPROVED = "approved"


class Verdict(StrEnum):
    """What a verify answers: each outcome distinct, never one for another."""

    APPROVED = "approved"  # the code is right; it will not verify again
    WRONG_CODE = "wrong_code"  # not this code; attempts_left says how many tries remain
    EXPIRED = "expired"  # the newest code is past its expiry: send a new one
    TOO_MANY_ATTEMPTS = "too_many_attempts"  # its attempts are spent: send a new one
    NOT_FOUND = "not_found"  # no code for this number (or it verified already)
    UNAVAILABLE = "unavailable"  # the provider that checks it could not answer: try again


class SendOutcome(StrEnum):
    """What a send answers."""

    SENT = "sent"  # the provider took it
    UNCERTAIN = "uncertain"  # it may have gone out (verifiable; not sent again)
    FAILED = "failed"  # it certainly did not go out
    RATE_LIMITED = "rate_limited"  # this number had too many codes, or one too recently


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Codes that may have reached the phone (and so verify and count against sends).
LIVE = frozenset({CodeStatus.PENDING, CodeStatus.SENT, CodeStatus.UNCERTAIN})


@dataclass(frozen=True)
class OtpCode:
    id: str
    recipient: str  # E.164
    provider: str
    template: str
    digest: str | None  # HMAC-SHA256 hex of the code; None: the provider checks it
    created_at: datetime
    expires_at: datetime
    max_attempts: int
    attempts: int = 0
    status: CodeStatus = CodeStatus.PENDING
    approved_at: datetime | None = None

    @property
    def attempts_left(self) -> int:
        return max(0, self.max_attempts - self.attempts)


@dataclass(frozen=True)
class SendRule:
    """A template's send limits (from its `otp` policy)."""

    max_sends: int
    window: timedelta
    min_gap: timedelta

    @property
    def look_back(self) -> timedelta:
        return max(self.window, self.min_gap)


@dataclass(frozen=True)
class RateLimited:
    """A send refused: why, and in how many seconds one may be asked for again."""

    reason: str
    retry_after: float


@dataclass(frozen=True)
class OtpEvent:
    """One request and its outcome (`otp_events`)."""

    at: datetime
    action: str  # "send" or "verify"
    recipient: str
    provider: str | None
    template: str | None
    outcome: str  # a SendOutcome or a Verdict
    code_id: str | None = None


def send_refusal(recent: Sequence[OtpCode], now: datetime, rule: SendRule) -> RateLimited | None:
    """Whether a number whose codes since `now - rule.look_back` are `recent` may get another."""
    live = sorted(c.created_at for c in recent if c.status is not CodeStatus.FAILED)
    newest = live[-1] if live else None
    if newest is not None and now < newest + rule.min_gap:
        wait = (newest + rule.min_gap - now).total_seconds()
        gap = format_duration(rule.min_gap)
        return RateLimited(f"a code was sent to this number less than {gap} ago", wait)
    in_window = [at for at in live if at > now - rule.window]
    if len(in_window) >= rule.max_sends:
        wait = (in_window[-rule.max_sends] + rule.window - now).total_seconds()
        window = format_duration(rule.window)
        reason = f"this number was sent {plural(len(in_window), 'code')} in the last {window}"
        return RateLimited(reason, wait)
    return None


def verdict(newest: OtpCode | None, now: datetime) -> Verdict | None:
    """The outcome the newest live code of a number gives before any comparison (None: compare)."""
    if newest is None or newest.status is CodeStatus.APPROVED:
        return Verdict.NOT_FOUND
    if now >= newest.expires_at:
        return Verdict.EXPIRED
    if newest.attempts >= newest.max_attempts:
        return Verdict.TOO_MANY_ATTEMPTS
    return None


class OtpRows(ABC):
    """What a backend does inside one transaction that holds a number (its SQL only)."""

    @abstractmethod
    def recent(self, recipient: str, since: datetime) -> list[OtpCode]:
        """The number's codes made after `since`."""

    @abstractmethod
    def newest(self, recipient: str, provider: str | None) -> OtpCode | None:
        """The number's newest code that is live or approved (of `provider`, if given)."""

    @abstractmethod
    def get(self, code_id: str) -> OtpCode | None: ...

    @abstractmethod
    def insert(self, code: OtpCode) -> None: ...

    @abstractmethod
    def update(self, code: OtpCode) -> None:
        """Write attempts, status and approved_at of the code with this id."""

    @abstractmethod
    def event(self, event: OtpEvent) -> None: ...


class OtpStore(ABC):
    """The one-time code half of a ledger; the backends give `_otp_rows` and the guarded writes."""

    @abstractmethod
    def _otp_rows(self, recipient: str) -> AbstractContextManager[OtpRows]:
        """One transaction holding `recipient` (committed when the block ends)."""

    @abstractmethod
    def otp_events(self, recipient: str | None = None) -> list[OtpEvent]:
        """Every request and outcome (of one number, if given), oldest first."""

    def otp_codes(self, recipient: str) -> list[OtpCode]:
        """Every code of a number, oldest first."""
        with self._otp_rows(recipient) as rows:
            return sorted(rows.recent(recipient, EPOCH), key=lambda c: c.created_at)

    def open_code(self, code: OtpCode, rule: SendRule) -> RateLimited | None:
        """Store `code` (pending) unless the number's limits refuse it; the refusal, logged."""
        with self._otp_rows(code.recipient) as rows:
            recent = rows.recent(code.recipient, code.created_at - rule.look_back)
            refused = send_refusal(recent, code.created_at, rule)
            if refused is None:
                rows.insert(code)
            else:
                outcome = SendOutcome.RATE_LIMITED
                rows.event(_event(code.created_at, "send", code, outcome.value, with_id=False))
        return refused

    def code_sent(self, code: OtpCode, outcome: SendOutcome, now: datetime) -> None:
        """The send's answer: the code becomes sent, uncertain or failed; logged."""
        with self._otp_rows(code.recipient) as rows:
            current = rows.get(code.id)
            if current is not None and current.status is CodeStatus.PENDING:
                rows.update(replace(current, status=CodeStatus(outcome.value)))
            rows.event(_event(now, "send", code, outcome.value))

    def take_attempt(
        self, recipient: str, provider: str | None, now: datetime
    ) -> OtpCode | Verdict:
        """Count one attempt on the number's newest code: it (to compare), or the verdict."""
        with self._otp_rows(recipient) as rows:
            newest = rows.newest(recipient, provider)
            found = verdict(newest, now)
            if found is not None:
                rows.event(OtpEvent(now, "verify", recipient, provider, None, found.value))
                return found
            assert newest is not None
            counted = replace(newest, attempts=newest.attempts + 1)
            rows.update(counted)
            return counted

    def approve(self, code: OtpCode, now: datetime) -> Verdict:
        """APPROVED if this call approved it; NOT_FOUND if another check approved it first."""
        with self._otp_rows(code.recipient) as rows:
            current = rows.get(code.id)
            result = Verdict.NOT_FOUND
            if current is not None and current.status in LIVE:
                rows.update(replace(current, status=CodeStatus.APPROVED, approved_at=now))
                result = Verdict.APPROVED
            rows.event(_event(now, "verify", code, result.value))
        return result

    def record_verdict(self, code: OtpCode, result: Verdict, now: datetime) -> None:
        with self._otp_rows(code.recipient) as rows:
            rows.event(_event(now, "verify", code, result.value))


def _event(
    now: datetime, action: str, code: OtpCode, outcome: str, *, with_id: bool = True
) -> OtpEvent:
    code_id = code.id if with_id else None
    return OtpEvent(now, action, code.recipient, code.provider, code.template, outcome, code_id)


def code_digest(secret: str, code_id: str, recipient: str, code: str) -> str:
    """HMAC-SHA256 of a code, bound to its id and number (one code's hash says nothing of
    another's); hex."""
    import hmac

    message = f"{code_id}\x1f{recipient}\x1f{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def matches(code: OtpCode, digest: str) -> bool:
    """Whether `digest` is the code's, compared in constant time."""
    import hmac

    return code.digest is not None and hmac.compare_digest(code.digest, digest)
