"""An in-memory ledger for unit tests and dry runs; its rules are the policy table's."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.policy import Operation, allows, may_claim


class MemoryLedger(Ledger):
    def __init__(self) -> None:
        self._rows: dict[str, SendRecord] = {}

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        claimed = []
        for record in records:
            old = self._rows.get(record.key)
            if not may_claim(old, resend_uncertain=resend_uncertain):
                continue
            if old is not None:
                record = replace(record, attempts=old.attempts, created_at=old.created_at)
            self._rows[record.key] = record
            claimed.append(record)
        return claimed

    def move(self, operation: Operation, records: Iterable[SendRecord]) -> list[str]:
        refused = []
        for record in records:
            if allows(operation, self._rows.get(record.key), record.status, record.claimed_by):
                self._rows[record.key] = record
            else:
                refused.append(record.key)
        return refused

    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]:
        return {key: self._rows[key] for key in keys if key in self._rows}

    def records(
        self, schedule: str | None = None, status: Status | None = None
    ) -> Iterator[SendRecord]:
        for key in sorted(self._rows):
            record = self._rows[key]
            if (schedule is None or record.schedule == schedule) and (
                status is None or record.status == status
            ):
                yield record
