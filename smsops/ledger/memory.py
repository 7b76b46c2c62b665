"""An in-memory ledger for unit tests and dry runs; its rules are the policy table's."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import chain

from smsops.core.hooks import Receipt
from smsops.ledger.base import Known, Ledger, SendRecord, Status
from smsops.ledger.held import Hold, HoldReason, SkipParts, Skips, SkipsNoted, newest, note, summed
from smsops.ledger.memory_otp import MemoryOtp
from smsops.ledger.policy import Operation, allows, may_claim
from smsops.ledger.pruning import (
    Pair,
    Pruned,
    Pruning,
    Settled,
    check_archived,
    lone,
    marked,
    settled_of,
    watermarks,
)
from smsops.ledger.suppressions import OptAction, OptEvent, changes


class MemoryLedger(MemoryOtp, Pruning, Ledger):
    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, SendRecord] = {}
        self._parked: dict[tuple[str, str], tuple[datetime, Receipt]] = {}  # in parking order
        self._listed: dict[str, OptEvent] = {}
        self._history: list[OptEvent] = []
        self._holds: dict[str, Hold] = {}
        self._skips: SkipParts = {}
        self._pruned: dict[str, datetime] = {}  # the prune watermark per schedule

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

    def settled_occurrences(self, before: datetime) -> Iterator[Settled]:
        rows = list(self._rows.values())
        with_rows = {(r.schedule, r.occurrence) for r in rows}
        skipped = [(s, o) for s, per in self._skips.items() for o in per if (s, o) not in with_rows]
        return chain(settled_of(rows, before), lone(sorted(skipped)))

    def occurrence_rows(self, occurrences: Sequence[Pair]) -> list[SendRecord]:
        wanted = set(occurrences)
        return [r for _, r in sorted(self._rows.items()) if (r.schedule, r.occurrence) in wanted]

    def prune(
        self, occurrences: Sequence[Pair], before: datetime, archived: Collection[str] | None
    ) -> Pruned:
        settled = {(s.schedule, s.occurrence) for s in self.settled_occurrences(before)}
        going = settled & set(occurrences)  # checked again now, as the SQL deletes do
        doomed = [k for k, r in self._rows.items() if (r.schedule, r.occurrence) in going]
        check_archived(doomed, archived)
        gone = {(self._rows[k].schedule, self._rows[k].occurrence) for k in doomed}
        for key in doomed:
            del self._rows[key]
        with_rows = {(r.schedule, r.occurrence) for r in self._rows.values()}
        gone |= {  # skips of an occurrence with no sends row (FORGET_LONE_SKIPS)
            (s, o)
            for s, o in occurrences
            if (s, o) not in with_rows and self._skips.get(s, {}).get(o)
        }
        for schedule, occurrence in gone:
            self._skips.get(schedule, {}).pop(occurrence, None)
        for schedule, through in watermarks(gone).items():
            self._pruned[schedule] = max(through, self._pruned.get(schedule, through))
        return Pruned(len(doomed))

    def pruned_through(self, schedule: str) -> datetime | None:
        return self._pruned.get(schedule)

    def known(self, schedule: str, occurrence: str) -> Known:
        found = super().known(schedule, occurrence)
        return marked(found, schedule, occurrence, self._pruned.get(schedule))

    def by_message_id(self, provider: str, message_ids: Collection[str]) -> list[SendRecord]:
        return [
            r
            for r in self._rows.values()
            if r.provider == provider and r.provider_message_id in message_ids
        ]

    def park(
        self, items: Sequence[Receipt], now: datetime, *, since: datetime, keep: int
    ) -> set[tuple[str, str]]:
        self._parked = {pair: kept for pair, kept in self._parked.items() if kept[0] >= since}
        new = set()
        for item in items:
            pair = (item.provider, item.message_id)
            if pair not in self._parked:
                self._parked[pair] = (now, item)
                new.add(pair)
        for pair in list(self._parked)[: max(0, len(self._parked) - keep)]:  # the oldest
            del self._parked[pair]
        return new

    def unpark(self, pairs: Collection[tuple[str, str]]) -> list[Receipt]:
        return [self._parked.pop(pair)[1] for pair in pairs if pair in self._parked]

    def parked(self) -> list[Receipt]:
        return [item for _, item in self._parked.values()]

    def opt(self, events: Sequence[OptEvent]) -> list[bool]:
        changed = changes(set(self._listed), events)
        for event, change in zip(events, changed, strict=True):
            if change:
                self._history.append(event)
                if event.action is OptAction.OUT:
                    self._listed[event.number] = event
                else:
                    del self._listed[event.number]
        return changed

    def suppressed(self, among: Sequence[str] | None = None) -> frozenset[str]:
        if among is None:
            return frozenset(self._listed)
        return frozenset(n for n in among if n in self._listed)

    def suppressions(self, since: datetime | None = None) -> list[OptEvent]:
        listed = [e for e in self._listed.values() if since is None or e.at >= since]
        return sorted(listed, key=lambda e: (e.at, e.number), reverse=True)

    def opt_history(self, number: str | None = None) -> list[OptEvent]:
        return [e for e in self._history if number is None or e.number == number]

    def note_holds(self, held: Mapping[str, tuple[HoldReason, str] | None], at: datetime) -> None:
        for schedule, hold in held.items():
            if hold is None:
                self._holds.pop(schedule, None)
                continue
            old = self._holds.get(schedule)
            if old is None or (old.reason, old.detail) != hold:
                self._holds[schedule] = Hold(schedule, *hold, at)

    def holds(self) -> dict[str, Hold]:
        return dict(sorted(self._holds.items()))

    def note_skips(self, skips: SkipsNoted) -> None:
        note(self._skips, skips)

    def recent_skips(self, last: int) -> Skips:
        every = {
            schedule: {o: summed(parts) for o, parts in occurrences.items()}
            for schedule, occurrences in self._skips.items()
        }
        return newest(every, last)
