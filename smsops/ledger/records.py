"""The ledger's rows and values: a send's key (`send_key`, `OccurrenceKeys`), its row
(`SendRecord`), a person's `Decision` on an uncertain one, what the ledger holds of one
occurrence as a plan needs it (`Known`), and the units a run took (`Taken`). The
interface that stores them: base.py."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import repeat

from smsops.ledger.policy import Status, may_claim


def send_key(schedule: str, occurrence: str, recipient: str) -> str:
    """A stable key: the same inputs give the same key in every process and version."""
    keys = OccurrenceKeys(schedule, occurrence)
    return keys.text(keys.number(recipient))


class OccurrenceKeys:
    """The send keys of one occurrence (the one place a key is derived).

    A key is the first 128 bits of sha256 over schedule, occurrence and
    recipient joined by the unit separator (so ("a", "bc") and ("ab", "c")
    differ): an int (`number`, what `Known.done` holds) or 32 hex digits
    (`text`, what the ledger stores). The prefix is encoded once and the hex
    is spelled only when asked: a re-plan hashes every recipient and needs
    the text key only for the few it will send. The prefix is hashed once too:
    each key copies that state and hashes only its recipient (a copy costs less
    than hashing the prefix again: ~0.05 s of a million-row re-plan).
    """

    def __init__(self, schedule: str, occurrence: str) -> None:
        self.prefix = hashlib.sha256(f"{schedule}\x1f{occurrence}\x1f".encode())

    def number(self, recipient: str) -> int:
        digest = self.prefix.copy()
        digest.update(recipient.encode())
        return int.from_bytes(digest.digest()[:16])

    @staticmethod
    def text(number: int) -> str:
        return f"{number:032x}"

    @staticmethod
    def parse(key: str) -> int:
        """The number of a key as the ledger stores it."""
        return int(key, 16)


@dataclass(frozen=True, slots=True)
class SendRecord:
    key: str
    schedule: str
    occurrence: str
    recipient: str
    provider: str
    template: str
    text_hash: str
    segments: int
    status: Status
    created_at: datetime
    updated_at: datetime
    provider_message_id: str | None = None
    attempts: int = 0
    error: str | None = None
    # The run that holds a `pending` claim ("host:pid"), so a later run can tell
    # whether that process still lives.
    claimed_by: str | None = None
    # A `failed` send the provider certainly did not take and might take later
    # (retries ran out on 429/503/no connection): the next apply tries it again.
    retryable: bool = False
    # A person's decision on an `uncertain` row (`smsops ledger resolve`): who
    # ("user@host"), when, and the reason they gave.
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    # The provider's delivery report (receipts.py): when it says the message was
    # delivered or not, its own code for that ("N202"), and its error if any.
    receipt_at: datetime | None = None
    receipt_code: str | None = None
    receipt_error: str | None = None

    @property
    def reclaimable(self) -> bool:
        """Failed in a way a later run may retry without any risk of a double send."""
        return self.status is Status.FAILED and may_claim(self, resend_uncertain=False)

    @classmethod
    def claim(
        cls,
        schedule: str,
        occurrence: str,
        recipient: str,
        *,
        provider: str,
        template: str,
        text_hash: str,
        segments: int,
        now: datetime,
        claimed_by: str | None = None,
        key: str | None = None,
    ) -> SendRecord:
        """A new `pending` row for a send about to be attempted.

        `key`: the send's own (default: derived from schedule, occurrence and
        recipient). A transactional send's identity is its idempotency key
        alone (engine/transactional.py), whatever number it goes to.
        """
        return cls(
            key=key or send_key(schedule, occurrence, recipient),
            schedule=schedule,
            occurrence=occurrence,
            recipient=recipient,
            provider=provider,
            template=template,
            text_hash=text_hash,
            segments=segments,
            status=Status.PENDING,
            created_at=now,
            updated_at=now,
            claimed_by=claimed_by,
        )

    def settled(
        self,
        status: Status,
        now: datetime,
        *,
        provider: str | None = None,
        message_id: str | None = None,
        error: str | None = None,
        attempts: int | None = None,
        retryable: bool = False,
    ) -> SendRecord:
        return replace(
            self,
            status=status,
            updated_at=now,
            provider=provider or self.provider,
            provider_message_id=message_id or self.provider_message_id,
            error=error,
            attempts=self.attempts if attempts is None else attempts,
            retryable=retryable and status is Status.FAILED,
        )


@dataclass(frozen=True)
class Decision:
    """A person's answer to "did this uncertain send go out?" (`smsops ledger resolve`)."""

    status: Status  # SENT or FAILED (RESOLVE_TO)
    reason: str
    by: str  # "user@host"
    at: datetime


@dataclass(frozen=True)
class Known:
    """What the ledger holds for one occurrence of a schedule, as a plan needs it.

    A plan asks this of every recipient: most rows of a re-plan are done, and
    a key in a set answers in nanoseconds where a query per key costs
    microseconds (one index scan per occurrence instead of a lookup per row).
    """

    # Keys the provider took (sent, delivered, undelivered), as ints: a million
    # of them take half the memory of the hex strings.
    done: frozenset[int]
    open: dict[str, SendRecord]  # every other row (pending, failed, uncertain, expired), whole
    # No row, and at or before its schedule's prune watermark (ledger/pruning.py):
    # its rows were pruned, so it is never due again.
    pruned: bool = False

    @classmethod
    def of(cls, done_keys: Iterable[str], open_rows: dict[str, SendRecord]) -> Known:
        # `OccurrenceKeys.parse` of each, as `int(key, 16)` mapped in C: no Python call
        # a key (~0.05 s of a re-plan's 900,000).
        return cls(frozenset(map(int, done_keys, repeat(16))), open_rows)


@dataclass(frozen=True)
class Taken:
    """Units a run took of one occurrence: its shard count, and the shards now held."""

    count: int
    shards: list[int]
