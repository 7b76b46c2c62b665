"""One-time codes kept in memory (the memory ledger's `OtpStore`); a lock is the transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from smsops.ledger.otp import LIVE, CodeStatus, OtpCode, OtpEvent, OtpRows, OtpStore


class _Rows(OtpRows):
    def __init__(self, codes: dict[str, OtpCode], events: list[OtpEvent]) -> None:
        self.codes, self.events = codes, events

    def recent(self, recipient: str, since: datetime) -> list[OtpCode]:
        return [c for c in self.codes.values() if c.recipient == recipient and c.created_at > since]

    def newest(self, recipient: str, provider: str | None) -> OtpCode | None:
        wanted = LIVE | {CodeStatus.APPROVED}
        found = [
            c
            for c in self.codes.values()
            if c.recipient == recipient
            and c.status in wanted
            and (provider is None or c.provider == provider)
        ]
        return max(found, key=lambda c: (c.created_at, c.id), default=None)

    def get(self, code_id: str) -> OtpCode | None:
        return self.codes.get(code_id)

    def insert(self, code: OtpCode) -> None:
        self.codes[code.id] = code

    def update(self, code: OtpCode) -> None:
        self.codes[code.id] = code

    def event(self, event: OtpEvent) -> None:
        self.events.append(event)


class MemoryOtp(OtpStore):
    def __init__(self) -> None:
        self._otp_lock = threading.Lock()
        self._codes: dict[str, OtpCode] = {}
        self._otp_log: list[OtpEvent] = []

    @contextmanager
    def _otp_rows(self, recipient: str) -> Iterator[OtpRows]:
        with self._otp_lock:
            yield _Rows(self._codes, self._otp_log)

    def otp_events(self, recipient: str | None = None) -> list[OtpEvent]:
        with self._otp_lock:
            return [e for e in self._otp_log if recipient is None or e.recipient == recipient]
