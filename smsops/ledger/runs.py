"""Runs and their leases: who holds a `pending` claim, and whether that run still lives.

A claim names its run (`host:pid:token`, the token random per process). Each
writable ledger registers the run in its `runs` table and renews its lease
from a thread every third of the lease (`SMSOPS_LEASE` seconds, default 30);
a clean close ends the lease at once. A run whose lease lapsed is gone, on
any host: a pid means nothing on another machine (or in another container
with the same host name), a lease does.

Lease times are written by the renewing host's clock and read by another's:
the hosts' clocks must agree within a few seconds (NTP); a skew lengthens or
shortens every lease by as much.

A ledger out of reach (a PostgreSQL outage) stops every run's renewals at
once, the judge's as well. So a run renews first when the ledger is back: a
failed renewal is tried again every `retry_interval` (a second at most), not
a third of the lease later; and a run judges another's lease only once it
has itself renewed without a break for `judging_grace` after that lease's end
(`reachable_since`): a lease that lapsed while nobody could renew is given
the time to be renewed before its rows are marked `uncertain`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from smsops.core.errors import LedgerError

LEASE_ENV = "SMSOPS_LEASE"
DEFAULT_LEASE = timedelta(seconds=30)
# A run whose lease ended this long ago is forgotten: any row it left pending is
# older than this, so the age rule (engine.owner.STALE_AFTER) finds it stale anyway.
FORGET_AFTER = timedelta(hours=1)
HOST = socket.gethostname()
_TOKEN = secrets.token_hex(4)
log = logging.getLogger("smsops.ledger")


def run_id() -> str:
    """This process's run, as its claims name it (`claimed_by`)."""
    return f"{HOST}:{os.getpid()}:{_TOKEN}"


@dataclass(frozen=True)
class Run:
    """One row of `runs`: a process that writes the ledger, and its lease."""

    id: str
    host: str
    pid: int
    command: str
    started_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    @property
    def stopped(self) -> bool:
        """Ended by its own clean close, not lapsed: `Heartbeat.stop` writes its last
        heartbeat and the lease's end as one time, where a renewal always ends a lease
        after its heartbeat. A run that stopped left nothing to take over."""
        return self.expires_at <= self.heartbeat_at

    @classmethod
    def this(cls, command: str, now: datetime, lease: timedelta) -> Run:
        return cls(run_id(), HOST, os.getpid(), command, now, now, now + lease)


def lease_length(env: Mapping[str, str] = os.environ) -> timedelta:
    """The lease a run takes (`SMSOPS_LEASE`, seconds); a clear error when it is no number."""
    given = env.get(LEASE_ENV, "").strip()
    if not given:
        return DEFAULT_LEASE
    try:
        seconds = float(given)
    except ValueError:
        seconds = 0.0
    if not 0.5 <= seconds <= 3600:
        raise LedgerError(
            f"{LEASE_ENV}={given!r} is not a lease length: give the seconds a run's claims stay "
            "its own without a heartbeat, between 0.5 and 3600 (default 30)"
        )
    return timedelta(seconds=seconds)


def retry_interval(lease: timedelta) -> float:
    """Seconds between tries to renew after a failed renewal (a tenth of the lease, 1 s at most)."""
    return min(1.0, lease.total_seconds() / 10)


def judging_grace(lease: timedelta) -> timedelta:
    """How long after a lease's end (or the judge's own return) it is judged lapsed.

    Longer than `retry_interval`: a run cut off with its judge renews first.
    """
    return min(timedelta(seconds=5), lease / 6)


class _Reach:
    """Whether this process's renewals go through, per heartbeat: since when without a break."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[int, datetime | None] = {}  # heartbeat -> None while failing

    def set(self, beat: int, since: datetime | None) -> None:
        with self._lock:
            self._since[beat] = since

    def forget(self, beat: int) -> None:
        with self._lock:
            self._since.pop(beat, None)

    def since(self) -> datetime | None:
        with self._lock:
            values = list(self._since.values())
        if any(value is None for value in values):
            return None
        return max((v for v in values if v is not None), default=datetime.min.replace(tzinfo=UTC))


_REACH = _Reach()


def reachable_since() -> datetime | None:
    """Since when this process's lease renewals have gone through without a break.

    None while the latest renewal failed (the ledger is out of reach: judge
    nobody); the far past when none ever failed (or nothing renews here).
    """
    return _REACH.since()


class Heartbeat:
    """A daemon thread calling `renew(now, expires)` every third of `lease` until `stop`.

    A failed renewal (the database unreachable) is logged once and tried
    again every `retry_interval` until one goes through, so a run that lost
    the ledger renews within about a second of its return, before others
    judge it (`judging_grace`). Should its lease be judged lapsed all the
    same, other runs mark its pending rows `uncertain`; it may still record
    `sent` with the provider's id on them (the policy table), never resend.
    """

    # Heartbeats running in this process, per ledger: one run, however many handles it
    # opens of one ledger, so only the last one of that ledger stopped ends its lease (the
    # others still write its claims). Counted per ledger: a handle of another ledger left
    # open must not keep this one's lease running after its last close.
    _running: ClassVar[dict[str, int]] = {}
    _count_lock = threading.Lock()

    def __init__(
        self, renew: Callable[[datetime, datetime], None], lease: timedelta, ledger: str = ""
    ) -> None:
        self.renew, self.lease, self.ledger = renew, lease, ledger
        with Heartbeat._count_lock:
            Heartbeat._running[ledger] = Heartbeat._running.get(ledger, 0) + 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="smsops-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        beat, failed = id(self), 0
        _REACH.set(beat, datetime.min.replace(tzinfo=UTC))
        while not self._stop.wait(
            retry_interval(self.lease) if failed else self.lease.total_seconds() / 3
        ):
            now = datetime.now(UTC)
            try:
                self.renew(now, now + self.lease)
            except Exception as exc:  # tried again soon; said once per outage
                if not failed:
                    log.warning(
                        "could not renew this run's lease (trying every %.1f s): %s",
                        retry_interval(self.lease),
                        exc,
                    )
                failed += 1
                _REACH.set(beat, None)
                continue
            if failed:
                log.warning("renewed this run's lease again after %d failed tries", failed)
                failed = 0
                _REACH.set(beat, now)

    def stop(self) -> None:
        """Stop renewing; the last heartbeat of the process ends the lease now."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        _REACH.forget(id(self))
        with Heartbeat._count_lock:
            left = Heartbeat._running.pop(self.ledger) - 1
            if left:
                Heartbeat._running[self.ledger] = left
                return
        now = datetime.now(UTC)
        with suppress(LedgerError):  # unended, the lease lapses by itself
            self.renew(now, now)
