"""A provider's limits shared by every process on one ledger: what a taker asks and is told.

`rate_limit` is the provider account's limit, so replicas of `smsops run` (and
an `apply` beside them) on one PostgreSQL ledger must share it. The ledger
keeps, per provider, the next free send slot and the requests that still
count against the provider's sliding second (docs/scale-out.md, "Shared
provider limits"). A taker asks for `messages` slots; the answer is a hold to
answer once the provider has replied, or a wait before asking again. Every
time is the database's clock, handed back as seconds from its "now", so the
replicas' own clocks never matter.

SQLite and memory ledgers have one writer process: they share nothing
(`Ledger.shared_pace` is None) and each process paces itself (engine.pacing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Pace:
    """One provider's limit as a taker states it (replicas of one config state the same)."""

    provider: str  # the provider's name in the config: replicas share by name
    interval: float  # seconds between slots (1 / the paced rate)
    limit: int  # messages in any one second, at most
    lapse: float  # seconds an unanswered request counts at most (its timeout and 1 s more)


@dataclass(frozen=True)
class Taken:
    """The answer to one `take`: `hold` granted (send now), else wait `wait` seconds."""

    hold: int | None
    wait: float
    next_in: float  # seconds until the provider's next free slot (a booking now would wait)


class SharedPace(Protocol):
    def take(self, pace: Pace, messages: int, reserved: bool) -> Taken:
        """Slots for one request of `messages`, or how long to wait.

        `reserved`: this request already booked its slot in the schedule (an
        earlier answer said wait); it now waits only for the sliding second.
        Raises LedgerError when the ledger cannot be reached (no slot: no send).
        """
        ...

    def answered(self, hold: int) -> None:
        """The provider answered the request of `hold`: it counts one second more."""
        ...
