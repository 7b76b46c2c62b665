"""Rows in every status through the ledger's own moves (claim, settle, receipt, expire)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.policy import Operation

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
BY = "seed-host:1:feedface"


def row(schedule: str, occurrence: str, recipient: str, status: Status) -> SendRecord:
    """One row of `schedule`'s `occurrence` written in `status`, the way a run writes it."""
    return SendRecord.claim(
        schedule, occurrence, recipient, provider="aoc", template="t", text_hash="h",
        segments=1, now=NOW, claimed_by=BY,
    ).settled(status, NOW, message_id=f"id-{schedule}-{occurrence}-{recipient}")  # fmt: skip


def write(ledger: Ledger, rows: list[SendRecord], now: datetime = NOW) -> None:
    """Write `rows` (each a `row(...)`) through the moves that reach their status, at `now`."""
    claimed = [r for r in rows if r.status is not Status.EXPIRED]
    ledger.claim(
        [SendRecord.claim(r.schedule, r.occurrence, r.recipient, provider=r.provider,
         template=r.template, text_hash=r.text_hash, segments=1, now=now, claimed_by=BY)
         for r in claimed]
    )  # fmt: skip
    assert ledger.move(Operation.EXPIRE, [r for r in rows if r.status is Status.EXPIRED]) == []
    settled = {Status.SENT, Status.FAILED, Status.UNCERTAIN}
    first = [
        r if r.status in settled else r.settled(Status.SENT, now)
        for r in claimed
        if r.status is not Status.PENDING
    ]
    ledger.settle(first)
    final = [r for r in claimed if r.status in {Status.DELIVERED, Status.UNDELIVERED}]
    ledger.receipt(final)


def generated(seed: int, schedules: list[str], rows: int) -> list[SendRecord]:
    """`rows` rows over `schedules`, a dozen fire-time occurrences each (and `once`)."""
    rng = random.Random(seed)
    occurrences = [f"2027-03-{day:02d}T09:00:00+00:00" for day in range(1, 13)] + ["once"]
    made: dict[str, SendRecord] = {}
    while len(made) < rows:
        r = row(
            rng.choice(schedules),
            rng.choice(occurrences),
            f"+1555{rng.randrange(10**6):07d}",
            rng.choice(list(Status)),
        )
        made[r.key] = r
    return list(made.values())
