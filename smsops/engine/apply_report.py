"""What one apply did: counts per outcome, expiries by reason, the first problems (masked).

Filled by the sender (`engine.apply`) as results are settled; read by the
CLI's summary, the daemon's log lines and metrics, and the catch-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from smsops.core.expiry import ExpiryReason
from smsops.core.phone import hide_number, mask, scrub_numbers
from smsops.engine.plan import Send
from smsops.engine.reach import Heard, Reach
from smsops.ledger.base import Status

PROBLEMS_KEPT = 20
# The outcome of a failure the provider says it did not take (`failed`, retryable):
# not final, a later round claims it again while its window is open.
RETRYABLE = "failed_retryable"


@dataclass
class ApplyReport:
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    expired: int = 0  # windows closed before they went out: recorded `expired`, never sent
    # (schedule, occurrence, reason) -> how many expired: one log line each
    expired_by: dict[tuple[str, str, ExpiryReason], int] = field(default_factory=dict)
    # claimed by another run first (or, for an expiry, any row already there): not ours
    taken: int = 0
    not_started: int = 0  # left when stopping (SIGINT/SIGTERM): still to send
    retries: int = 0  # requests repeated after a retryable result
    # (provider, status as the ledger records it, or RETRYABLE: not final yet)
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)
    segments: int = 0
    # currency -> the sent messages' cost, summed exactly as the plan's (`exact`)
    cost: dict[str, Decimal] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # first failures, numbers masked
    # The ledger could not be written (disk full, locked): the run stopped claiming.
    ledger_error: str | None = None
    unsettled: int = 0  # outcomes not written: those rows stay pending (then uncertain)
    # Outcomes the ledger refused: the row was no longer this run's (see GuardLost).
    refused: int = 0
    # Retryable failures of an earlier run whose window closed before a retry: now failed
    # for good (Operation.CLOSE), counted in `outcomes` as `failed` (by their provider).
    closed: int = 0
    # (schedule, provider) -> whether its requests reached the provider (`held: provider`)
    reach: dict[tuple[str, str], Reach] = field(default_factory=dict)

    def heard(self, schedules: set[str], provider: str, how: Heard) -> None:
        """Count one request to `provider` carrying messages of `schedules`."""
        for schedule in schedules:
            self.reach.setdefault((schedule, provider), Reach()).heard(how)

    def close_failed(self, provider: str) -> None:
        """Count one retryable failure the closed window made final."""
        self.closed += 1
        self.outcomes[(provider, "failed")] = self.outcomes.get((provider, "failed"), 0) + 1

    def expire(self, send: Send, provider: str, reason: ExpiryReason) -> None:
        """Count one send recorded `expired`."""
        self.expired += 1
        occurrence = (send.schedule, send.occurrence, reason)
        self.expired_by[occurrence] = self.expired_by.get(occurrence, 0) + 1
        self.outcomes[(provider, "expired")] = self.outcomes.get((provider, "expired"), 0) + 1

    def expired_occurrences(self) -> dict[tuple[str, str], dict[ExpiryReason, int]]:
        """The expired sends per (schedule, occurrence), counted by reason."""
        grouped: dict[tuple[str, str], dict[ExpiryReason, int]] = {}
        for (schedule, occurrence, reason), count in self.expired_by.items():
            reasons = grouped.setdefault((schedule, occurrence), {})
            reasons[reason] = reasons.get(reason, 0) + count
        return grouped

    def note(self, send: Send, status: Status, why: str) -> None:
        if len(self.problems) < PROBLEMS_KEPT:
            where = f"{send.schedule} {mask(send.message.recipient)}"
            shown = scrub_numbers(hide_number(why, send.message.recipient))
            self.problems.append(f"{status.value}: {where}: {shown}")
