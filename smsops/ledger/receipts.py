"""Delivery receipts in the ledger: which row a receipt moves, and the receipts that came early.

A receipt names a message by the provider's name in the config and the id
the provider answered the send with; the row holding that pair
(`provider`, `provider_message_id`, indexed) moves as the policy table's
RECEIPT transitions allow: `sent` or `uncertain` to `delivered` or
`undelivered` (from `uncertain`, a receipt proves the message went out).
The receipt's time, the provider's code and its error text go with it.

- Idempotent, first final word wins: a row already `delivered` or
  `undelivered` is not moved again (the table has no such move), so the
  same receipt twice, a second part of a multi-part message, or a late
  contrary word is a DUPLICATE and changes nothing. A later `delivered`
  after `undelivered` is not believed over the first: providers send the
  final word once per message, and a row that moves back and forth would
  make the counts depend on arrival order.
- Interim receipts (on its way) change no row and are not kept.
- Early receipts: a receipt for an id no row holds yet (it raced the
  settle that records the id) is PARKED in a table of its own and applied
  when a settle writes that id. Both sides write first, then look for the
  other: the receipt parks (committed), then looks for the row again; the
  settle writes the row, then takes the parked receipts of its ids, in the
  settle's own transaction (an outage cannot commit one without the other).
  Whichever commits second sees the other's write (the backend orders a
  park against an open settle: SQLite's writers take turns, PostgreSQL
  takes a lock per id, postgres_hearing.py), so a parked receipt is never
  left behind by the race; taking a parked receipt deletes it (only one
  side gets it) and the move is guarded anyway.
- Read back for `plan` (`last_deliveries`): per schedule, its newest
  occurrence with sends the provider took, and how many of them were
  delivered, undelivered or still wait for a receipt.
- Bounded: whoever holds a provider's webhook token can post receipts for
  ids that never existed. Parked receipts older than `PARK_FOR` are dropped,
  and at most `MAX_PARKED` are kept (the oldest dropped first): a real early
  receipt waits a fraction of a second, so it is among the newest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from smsops.core.hooks import Delivery, Receipt, ReceiptResult
from smsops.core.occurrence import ONCE
from smsops.ledger.policy import DONE, Operation, Status, sources

if TYPE_CHECKING:
    from smsops.ledger.base import Ledger, SendRecord

PARK_FOR = timedelta(days=2)
MAX_PARKED = 10_000
_TARGET = {Delivery.DELIVERED: Status.DELIVERED, Delivery.UNDELIVERED: Status.UNDELIVERED}
# The statuses a receipt may move: a settle into one of these may have a receipt waiting.
RECEIVING = sources(Operation.RECEIPT)

Pair = tuple[str, str]  # (provider, message id)


def delivery_rate(counts: dict[str, int]) -> float | None:
    """Delivered over rows with a final receipt (delivered + undelivered); None without any."""
    delivered = counts.get(Status.DELIVERED.value, 0)
    final = delivered + counts.get(Status.UNDELIVERED.value, 0)
    return delivered / final if final else None


@dataclass(frozen=True, slots=True)
class LastDelivery:
    """What receipts said of a schedule's newest occurrence that the provider took sends of
    (`Ledger.last_deliveries`; `plan` shows it)."""

    occurrence: str | None  # None: the provider never took a send of it (NEVER_SENT)
    delivered: int
    undelivered: int
    awaiting: int  # sent, no final receipt yet

    @property
    def sent(self) -> int:
        """The sends the provider took (every one of them a receipt may still come for)."""
        return self.delivered + self.undelivered + self.awaiting

    @property
    def rate(self) -> float | None:
        """`delivery_rate`: None until a final receipt came (never a made-up 0 %)."""
        final = (
            (Status.DELIVERED.value, self.delivered),
            (Status.UNDELIVERED.value, self.undelivered),
        )
        return delivery_rate(dict(final))


NEVER_SENT = LastDelivery(None, delivered=0, undelivered=0, awaiting=0)


def newest(occurrence: str) -> tuple[bool, str]:
    """An occurrence's place in time: fire-time labels sort by time as text, and any of them
    is newer than `once` (a schedule given a trigger after it was sent once)."""
    return occurrence != ONCE, occurrence


def last_deliveries(counts: Iterable[tuple[str, str, str, int]]) -> dict[str, LastDelivery]:
    """From (schedule, occurrence, status, rows) counts: each schedule's newest occurrence
    with rows in DONE, as a LastDelivery. Other statuses and older occurrences are ignored,
    so a backend may give only the newest occurrence's counts or every one."""
    per: dict[str, dict[str, dict[str, int]]] = {}
    for schedule, occurrence, status, n in counts:
        if Status(status) in DONE and n:
            found = per.setdefault(schedule, {}).setdefault(occurrence, {})
            found[status] = found.get(status, 0) + n
    result = {}
    for schedule, occurrences in per.items():
        last = max(occurrences, key=newest)
        rows = occurrences[last]
        result[schedule] = LastDelivery(
            last,
            delivered=rows.get(Status.DELIVERED.value, 0),
            undelivered=rows.get(Status.UNDELIVERED.value, 0),
            awaiting=rows.get(Status.SENT.value, 0),
        )
    return result


def received(row: SendRecord, receipt: Receipt, now: datetime) -> SendRecord:
    """`row` as the receipt leaves it (whether the move is allowed is the table's question)."""
    return replace(
        row,
        status=_TARGET[receipt.delivery],
        updated_at=now,
        receipt_at=receipt.at or now,
        receipt_code=receipt.code,
        receipt_error=receipt.error,
    )


def record(ledger: Ledger, items: Sequence[Receipt], now: datetime) -> list[ReceiptResult]:
    """Record each receipt once; one result per item, in order."""
    results: list[ReceiptResult | None] = [None] * len(items)
    finals: dict[Pair, list[int]] = {}
    for index, item in enumerate(items):
        if item.delivery is Delivery.INTERIM:
            results[index] = ReceiptResult.INTERIM
        else:
            finals.setdefault((item.provider, item.message_id), []).append(index)
    rows = _rows(ledger, finals)
    early = []
    for pair, indexes in finals.items():
        first, *rest = indexes  # a pair given twice in one body: the first is the word
        for index in rest:
            results[index] = ReceiptResult.DUPLICATE
        if pair in rows:
            results[first] = _apply(ledger, rows[pair], items[first], now)
        else:
            early.append(first)
    if early:
        new = ledger.park([items[i] for i in early], now, since=now - PARK_FOR, keep=MAX_PARKED)
        for index in early:
            pair = (items[index].provider, items[index].message_id)
            results[index] = ReceiptResult.PARKED if pair in new else ReceiptResult.DUPLICATE
        # A settle that committed since the look above did not find these parked: look again.
        late = _rows(ledger, new)
        for receipt in ledger.unpark(late) if late else []:
            pair = (receipt.provider, receipt.message_id)
            applied = _apply(ledger, late[pair], receipt, now)
            for index in finals[pair][:1]:
                results[index] = applied
    return [result or ReceiptResult.DUPLICATE for result in results]


def settled(ledger: Ledger, records: Iterable[SendRecord]) -> None:
    """After a settle: apply the parked receipts of the message ids it wrote."""
    written: dict[Pair, list[SendRecord]] = {}
    for r in records:
        if r.status in RECEIVING and r.provider_message_id:
            written.setdefault((r.provider, r.provider_message_id), []).append(r)
    if written:
        for receipt in ledger.unpark(written):
            pair = (receipt.provider, receipt.message_id)
            when = written[pair][0].updated_at  # the settle's time: when the row learned it
            _apply(ledger, written[pair], receipt, max(when, receipt.at or when))


def _rows(ledger: Ledger, pairs: Iterable[Pair]) -> dict[Pair, list[SendRecord]]:
    """The rows holding each pair, read with one query per provider."""
    ids: dict[str, set[str]] = {}
    for provider, message_id in pairs:
        ids.setdefault(provider, set()).add(message_id)
    found: dict[Pair, list[SendRecord]] = {}
    for provider, wanted in ids.items():
        for row in ledger.by_message_id(provider, wanted):
            if row.provider_message_id is not None:
                found.setdefault((provider, row.provider_message_id), []).append(row)
    return found


def _apply(ledger: Ledger, rows: list[SendRecord], item: Receipt, now: datetime) -> ReceiptResult:
    refused = ledger.move(Operation.RECEIPT, [received(row, item, now) for row in rows])
    return ReceiptResult.DUPLICATE if len(refused) == len(rows) else ReceiptResult.APPLIED
