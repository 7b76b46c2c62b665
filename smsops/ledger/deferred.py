"""A ledger that does not exist yet and is created by its first write, not by opening it.

`apply` opens its ledger before it knows whether it will send: a missing
secret, nothing due or a refused confirmation stop it first, and an empty
ledger file (and folder) left behind would only suggest that something was
sent there. Until the first write, reads see an empty ledger: the file is
not there, so nothing was ever sent through it. The first claim or move
opens (creates) it and every call after goes to it.

Safe against another process creating it meanwhile: a plan made against
"empty" only proposes; the claim decides (a row another run wrote first is
not won, so not sent).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from smsops.core.hooks import Receipt
from smsops.ledger.base import Decision, Known, Ledger, SendRecord, StatsAndDeliveries, Status
from smsops.ledger.held import Hold, HoldReason, Skips, SkipsNoted
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.policy import Operation
from smsops.ledger.receipts import LastDelivery
from smsops.ledger.recent import Counts, Uncertain
from smsops.ledger.runs import Run
from smsops.ledger.suppressions import OptEvent


class CreatedOnFirstWrite(Ledger):
    """`open_writable` is called once, by the first write that has rows to write."""

    def __init__(
        self, open_writable: Callable[[], Ledger], *, claims_wait_on_sync: bool = False
    ) -> None:
        self._open_writable = open_writable
        # As the ledger it opens: apply asks before the first claim has created it
        # (a new SQLite file's claims were written on the loop, their syncs with them).
        self.claims_wait_on_sync = claims_wait_on_sync
        self._ledger: Ledger = MemoryLedger()  # nothing there yet: an empty ledger
        self.created = False
        # Holds and skips noted before the first write: kept (readable) in the memory
        # ledger and written when the ledger is created; alone they create no file.
        self._notes: list[Callable[[Ledger], None]] = []

    def _written(self) -> Ledger:
        if not self.created:
            self._ledger = self._open_writable()
            self.created = True
            for note in self._notes:
                note(self._ledger)
            self._notes.clear()
        return self._ledger

    def _note(self, note: Callable[[Ledger], None]) -> None:
        note(self._ledger)
        if not self.created:
            self._notes.append(note)

    def note_holds(self, held: Mapping[str, tuple[HoldReason, str] | None], at: datetime) -> None:
        given = dict(held)
        self._note(lambda ledger: ledger.note_holds(given, at))

    def holds(self) -> dict[str, Hold]:
        return self._ledger.holds()

    def note_skips(self, skips: SkipsNoted) -> None:
        given = {at: dict(counts) for at, counts in skips.items()}
        self._note(lambda ledger: ledger.note_skips(given))

    def recent_skips(self, last: int) -> Skips:
        return self._ledger.recent_skips(last)

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        rows = list(records)
        if not rows:
            return []
        return self._written().claim(rows, resend_uncertain=resend_uncertain)

    def move(self, operation: Operation, records: Iterable[SendRecord]) -> list[str]:
        rows = list(records)
        return self._written().move(operation, rows) if rows else []

    def settle(self, records: Iterable[SendRecord]) -> None:
        """The backend's own settle (SQLite's commits it without a sync of its own)."""
        rows = list(records)
        if rows:
            self._written().settle(rows)

    def resolve(
        self,
        decision: Decision,
        *,
        keys: Iterable[str] = (),
        schedule: str | None = None,
        occurrence: str | None = None,
    ) -> list[SendRecord]:
        return self._written().resolve(
            decision, keys=keys, schedule=schedule, occurrence=occurrence
        )

    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]:
        return self._ledger.get(keys)

    # What providers tell us: writes create the ledger like any other, reads see it as it is.
    def park(
        self, items: Sequence[Receipt], now: datetime, *, since: datetime, keep: int
    ) -> set[tuple[str, str]]:
        return self._written().park(items, now, since=since, keep=keep) if items else set()

    def unpark(self, pairs: Collection[tuple[str, str]]) -> list[Receipt]:
        return self._ledger.unpark(pairs)  # taking nothing from an empty ledger writes nothing

    def opt(self, events: Sequence[OptEvent]) -> list[bool]:
        return self._written().opt(events) if events else []

    def by_message_id(self, provider: str, message_ids: Collection[str]) -> list[SendRecord]:
        return self._ledger.by_message_id(provider, message_ids)

    def parked(self) -> list[Receipt]:
        return self._ledger.parked()

    def suppressed(self, among: Sequence[str] | None = None) -> frozenset[str]:
        return self._ledger.suppressed(among)

    def suppressions(self, since: datetime | None = None) -> list[OptEvent]:
        return self._ledger.suppressions(since)

    def opt_history(self, number: str | None = None) -> list[OptEvent]:
        return self._ledger.opt_history(number)

    def known(self, schedule: str, occurrence: str) -> Known:
        return self._ledger.known(schedule, occurrence)

    def records(
        self, schedule: str | None = None, status: Status | None = None
    ) -> Iterator[SendRecord]:
        return self._ledger.records(schedule, status)

    def newest_occurrence(self, schedule: str, below: str) -> str | None:
        return self._ledger.newest_occurrence(schedule, below)

    def stats(self) -> dict[str, dict[str, int]]:
        return self._ledger.stats()

    def last_deliveries(self, schedules: Collection[str]) -> dict[str, LastDelivery]:
        return self._ledger.last_deliveries(schedules)

    def stats_and_deliveries(self, schedules: Collection[str]) -> StatsAndDeliveries:
        return self._ledger.stats_and_deliveries(schedules)

    def leases(self) -> dict[str, datetime]:
        return self._ledger.leases()

    def runs(self) -> list[Run]:
        return self._ledger.runs()

    def recent_counts(self, last: int) -> Counts:
        return self._ledger.recent_counts(last)

    def open_uncertain(self, limit: int) -> Uncertain:
        return self._ledger.open_uncertain(limit)

    def round_lock(self, schedule: str) -> AbstractContextManager[bool]:
        return self._ledger.round_lock(schedule)

    def durability(self) -> str | None:
        return self._ledger.durability()

    def close(self) -> None:
        self._ledger.close()
