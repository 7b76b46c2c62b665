"""An in-memory ledger for unit tests and dry runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from smsops.ledger.base import Ledger, SendRecord, Status


class MemoryLedger(Ledger):
    def __init__(self) -> None:
        self._rows: dict[str, SendRecord] = {}

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        claimed = []
        for record in records:
            old = self._rows.get(record.key)
            if old is not None:
                if not (old.reclaimable or (resend_uncertain and old.status is Status.UNCERTAIN)):
                    continue
                record = replace(record, attempts=old.attempts, created_at=old.created_at)
            self._rows[record.key] = record
            claimed.append(record)
        return claimed

    def settle(self, records: Iterable[SendRecord]) -> None:
        for record in records:
            if record.key not in self._rows:
                raise KeyError(f"settling a send that was never claimed: {record.key}")
            self._rows[record.key] = record

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
