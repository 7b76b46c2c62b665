"""Why a send expired: its window closed before it could go out (a closed set, worded for users).

An `expired` ledger row keeps its reason in its `error` column as the
enum's value, so `ledger list` and `ledger export` show it as written here
and `ExpiryReason.of` reads it back for counts.
"""

from __future__ import annotations

from enum import StrEnum


class ExpiryReason(StrEnum):
    # The round that planned it was still working through its sends (a slow
    # provider, a big audience) when the window closed.
    SENDING = "window closed while the round was still sending"
    # It was claimed, and the retry its provider's faults asked for (backoff,
    # Retry-After) would have started after the window closed.
    FAULTS = "window closed while a retry waited out provider faults"
    # Its provider's `rate_limit` had no room for it before the window's close:
    # recorded when that is known (at its turn for the pace), never sent late.
    PACE = "window closes before the provider's rate_limit has room for it"
    # Another run (a replica, or this process before a restart) claimed part of
    # the occurrence and stopped mid-round: killed, or cut off from the ledger;
    # no run resumed the rest before the window closed.
    STOPPED = "window closed after the run sending it stopped mid-round"
    # No round reached it before the window closed: smsops was not running,
    # or the schedule's previous round was still sending.
    NOT_REACHED = (
        "window closed before any round reached it (smsops was not running, "
        "or the schedule's previous round was still sending)"
    )

    @property
    def short(self) -> str:
        """One word for metric labels and JSON keys."""
        return self.name.lower()

    @classmethod
    def of(cls, error: str | None) -> ExpiryReason | None:
        """The reason an expired row's `error` holds (None: not one of ours)."""
        return next((reason for reason in cls if reason.value == error), None)
