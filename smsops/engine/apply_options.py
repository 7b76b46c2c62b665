"""The sender's values: its options (`ApplyOptions`) and a claim to run once a
request's pace allows it (`Claim`). Apart from the sender (`engine.apply`) so that
its settling half (`engine.apply_settle`) names them without importing it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from smsops.core.expiry import ExpiryReason
from smsops.engine.clock import SYSTEM_CLOCK, Clock
from smsops.engine.plan import Send


@dataclass(frozen=True)
class Claim:
    """Claims sends once their request may go out (returns the ones this run won);
    or records them `expired` when their paced slot would come after their window."""

    claim: Callable[[list[Send]], Awaitable[list[Send]]]
    expire: Callable[[list[Send]], Awaitable[None]]

    async def __call__(self, sends: list[Send]) -> list[Send]:
        return await self.claim(sends)


@dataclass(frozen=True)
class ApplyOptions:
    resend_uncertain: bool = False
    max_attempts: int = 5  # per provider, for retryable results
    backoff_base: float = 0.5  # seconds
    backoff_cap: float = 30.0  # also the longest Retry-After honoured in-run
    claimed_by: str | None = None
    # Whether a window has closed, and the waits between retries. Rows are
    # stamped with the real time whatever it says: another run judges a
    # pending row's age by it (`apply --at` in the past runs its clock from then).
    clock: Clock = SYSTEM_CLOCK
    # Occurrences a catch-up round hands over as already closed, (schedule,
    # occurrence) -> why; any other closed send expired "while sending".
    overdue: Mapping[tuple[str, str], ExpiryReason] = field(default_factory=dict)
