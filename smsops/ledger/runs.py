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


class Heartbeat:
    """A daemon thread calling `renew(now, expires)` every third of `lease` until `stop`.

    A failed renewal (the database unreachable) is logged and tried again at
    the next beat: if the lease lapses meanwhile, other runs may mark this
    run's pending rows `uncertain`, and its own settles of them are then
    refused by the policy table (never a second send).
    """

    # Heartbeats running in this process: one run, however many handles it opens, so
    # only the last one stopped ends the lease (the others still write its claims).
    _running = 0
    _count_lock = threading.Lock()

    def __init__(self, renew: Callable[[datetime, datetime], None], lease: timedelta) -> None:
        self.renew, self.lease = renew, lease
        with Heartbeat._count_lock:
            Heartbeat._running += 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="smsops-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            now = datetime.now(UTC)
            try:
                self.renew(now, now + self.lease)
            except Exception as exc:  # the next beat tries again
                log.warning("could not renew this run's lease: %s", exc)

    def stop(self) -> None:
        """Stop renewing; the last heartbeat of the process ends the lease now."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with Heartbeat._count_lock:
            Heartbeat._running -= 1
            if Heartbeat._running:
                return
        now = datetime.now(UTC)
        with suppress(LedgerError):  # unended, the lease lapses by itself
            self.renew(now, now)
