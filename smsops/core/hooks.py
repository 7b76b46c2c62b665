"""What a provider tells us after a send: delivery receipts and inbound texts (issue 21).

The provider modules read a webhook body into these (each provider's own
format: Skycore's XML postbacks, Twilio's form callbacks, a generic JSON
form); the run server hands them to a `HookSink`, which records them in the
ledger (receipts move `sent` rows to `delivered` / `undelivered`; an inbound
STOP or START changes the suppression list). Both sides meet only here, in
the bottom layer, so the HTTP side never imports the ledger and the ledger
never parses a body.

Every field is bounded and already checked when one of these exists: the
parsers refuse a body that would make one otherwise (a 400 with a reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

# Bounds of what a hook may carry (a parser refuses anything longer).
MAX_MESSAGE_ID = 128  # characters of a provider's message id
MAX_ERROR = 200  # characters of a provider's error text or code, kept for people
MAX_INBOUND_TEXT = 1600  # characters of an inbound text (ten concatenated segments)
MAX_RECEIPTS = 1000  # receipts in one body (the generic form accepts a list)


class Delivery(StrEnum):
    """What a receipt says about a message the provider accepted."""

    DELIVERED = "delivered"  # final: the handset has it
    UNDELIVERED = "undelivered"  # final: it will not arrive (failed, expired, rejected)
    INTERIM = "interim"  # on its way (Skycore N201, Twilio queued/sent): counted, changes no row


@dataclass(frozen=True, slots=True)
class Receipt:
    provider: str  # the provider's name in the config (the `{provider}` of the hook's path)
    message_id: str  # the id the provider answered the send with (provider_message_id)
    delivery: Delivery
    code: str  # the provider's own word for it, as received ("N202", "undelivered")
    error: str | None = None  # the provider's error code or text, when it gives one
    at: datetime | None = None  # when the provider says it happened (aware, UTC)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A text a person sent to one of our numbers (Skycore SMS_MO, Twilio inbound)."""

    provider: str
    sender: str  # the person's number in E.164 (normalised by the parser)
    to: str  # our number or short code, as the provider gives it
    text: str
    at: datetime | None = None


class ReceiptResult(StrEnum):
    """What recording one receipt did (the hook's answer and the metrics count these)."""

    APPLIED = "applied"  # a row moved to delivered / undelivered
    DUPLICATE = "duplicate"  # the row already says so (or a later final word): nothing changed
    PARKED = "parked"  # no row has this id yet (it raced the settle): kept, applied when it appears
    INTERIM = "interim"  # an interim receipt: counted, no row changes


class InboundResult(StrEnum):
    OPTED_OUT = "opted_out"  # an opt-out keyword: the number is suppressed
    OPTED_IN = "opted_in"  # an opt-in keyword: the number's suppression is lifted
    OTHER = "other"  # any other text: recorded, nothing changes


class HookSink(Protocol):
    """Where the run server puts what a hook carried (engine/hearing.py writes the ledger)."""

    def receipts(self, items: Sequence[Receipt]) -> list[ReceiptResult]:
        """Record each receipt once (the same receipt twice changes nothing); one result each."""
        ...

    def inbound(self, message: Inbound) -> InboundResult:
        """Record an inbound text; STOP / START keywords change the suppression list."""
        ...
