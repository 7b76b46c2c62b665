"""What run mode watches between rounds: lapsed leases, stuck claims, dead runs' directories.

A replica killed mid-round (kill -9, a node lost) leaves its occurrence half
sent. The survivors' scheduled rounds would come only at the next fire or
resync (a minute later: a one-minute window is gone by then), so every
`interval` (a fifth of the lease, 2 s at most) each replica reads the
leases: when another run's lease is judged lapsed (`engine.owner`: its end
plus the grace, with this replica reaching the ledger), it requests a round
of every schedule at once. That round marks the dead run's pending rows
`uncertain` and sends what is still missing while its window is open; the
round lock lets one replica do it.

A row claimed by a live run (this one or another) still `pending` well past
its window's close is a claim nobody will settle: `/healthz` is degraded
(job `pending-past-window`) until it is settled, whatever the rounds do.

Snapshot directories of processes killed before their cleanup are swept
while the daemon runs, not only at its start (core/snapshot_dirs.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smsops.config.loader import Config
from smsops.config.models import zone_info
from smsops.core.errors import SmsopsError
from smsops.core.snapshot_dirs import SWEEP_AFTER, sweep_dead
from smsops.core.words import plural
from smsops.daemon.round_log import log_stale
from smsops.daemon.threads import own_thread
from smsops.engine.owner import STALE_AFTER, gone_runs, stale_rule
from smsops.engine.round import mark_stale
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.schedule.occurrences import window_closes

log = logging.getLogger("smsops.run")
STUCK_JOB = "pending-past-window"
# A request on the wire when its window closed settles within its timeout:
# only a row still pending this long after the close is stuck.
STUCK_AFTER = timedelta(minutes=2)
LATEST_ZONE = "Etc/GMT+12"  # a recipient-local occurrence closes last here (UTC-12)


class PendingPastWindow(SmsopsError):
    """Rows of live runs still `pending` well after their window closed."""


@dataclass(frozen=True)
class Seen:
    gone: set[str]  # runs newly judged gone
    stuck: PendingPastWindow | None


def watch_interval(lease: timedelta) -> float:
    """Seconds between looks at the leases: a fifth of the lease, 2 s at most."""
    return min(2.0, lease.total_seconds() / 5)


class Watch:
    """One look (`look`, in a worker thread) and its reactions through the runner's hooks."""

    def __init__(
        self,
        ledger: Ledger,
        config: Callable[[], Config],
        takeover: Callable[[set[str]], None],
        stuck: Callable[[PendingPastWindow | None], None],
        cache_dir: Path | None = None,
    ) -> None:
        self.ledger, self.config, self.takeover, self.stuck = ledger, config, takeover, stuck
        self.cache_dir = cache_dir
        self.gone: set[str] | None = None  # runs judged gone at the last look (None: no look yet)
        self.swept = time.monotonic()  # the directories were swept at start

    def look(self, now: datetime) -> Seen:
        """Read the leases and the pending rows (a worker thread: it waits on the ledger)."""
        # A run that closed cleanly (a CLI send, an apply, a replica shut down) is not gone
        # in this sense: it settled what it claimed and holds no round to resume.
        leases = {run.id: run.expires_at for run in self.ledger.runs() if not run.stopped}
        gone = gone_runs(leases, now)
        new = gone - self.gone if self.gone is not None else set()
        judged = gone if self.gone is None else new
        self.gone = gone
        if judged and not rounds_mark_stale(self.config()):
            # No round will come to mark a dead run's claims (an API-only daemon: no
            # schedule, no confirmations): an on-demand send it left pending would stay
            # pending forever. Marked here, at the first look for runs gone before this
            # daemon started (a round at start does that otherwise) and for each new one.
            log_stale(mark_stale(self.ledger))
        stuck = self.pending_past_window(now)
        if time.monotonic() - self.swept >= SWEEP_AFTER:
            self.swept = time.monotonic()
            sweep_dead(self.cache_dir)
        return Seen(new, stuck)

    def react(self, seen: Seen) -> None:
        """What a look found, acted on (on the event loop: it requests rounds)."""
        if seen.gone:
            self.takeover(seen.gone)
        self.stuck(seen.stuck)

    def pending_past_window(self, now: datetime) -> PendingPastWindow | None:
        """The live runs' rows pending past their window (with the margin), as one error."""
        config, is_stale = self.config(), stale_rule(self.ledger, now)
        stuck = [
            row
            for row in self.ledger.records(status=Status.PENDING)
            if not is_stale(row) and _past(config, row, now)
        ]
        if not stuck:
            return None
        schedules = sorted({row.schedule for row in stuck})
        return PendingPastWindow(
            f"{plural(len(stuck), 'send')} claimed by a live run "
            f"{'is' if len(stuck) == 1 else 'are'} still pending past their window "
            f"(schedules: {', '.join(schedules)}): their run neither sent nor settled them; "
            "see `smsops ledger list --status pending`"
        )


def rounds_mark_stale(config: Config) -> bool:
    """Whether the rounds a takeover or the start requests mark dead runs' claims: any enabled
    schedule, or the opt-out confirmations' round (engine.round.Round.prepare marks them)."""
    enabled = any(schedule.enabled for schedule in config.schedules.values())
    return enabled or config.opt_out().confirm_template is not None


def _past(config: Config, row: SendRecord, now: datetime) -> bool:
    schedule = config.schedules.get(row.schedule)
    if schedule is None:
        return False
    try:
        closes = window_closes(schedule, row.occurrence, (zone_info(LATEST_ZONE),))
    except ValueError:  # a label that names no time: judged by age alone
        closes = None
    if closes is None:  # `once` has no window: pending as long as a dead run's row
        return row.updated_at < now - STALE_AFTER
    return closes < now - STUCK_AFTER


async def watching(watch: Watch, stopped: asyncio.Event, interval: float) -> None:
    """`watch.look` every `interval` seconds until `stopped`; a failed look is tried again."""
    failing = False
    while not stopped.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), timeout=interval)
        if stopped.is_set():
            return
        try:
            seen = await own_thread(lambda: watch.look(datetime.now(UTC)), "smsops-watch")
        except Exception as exc:  # the ledger out of reach: /readyz says so; look again
            if not failing:
                log.warning("cannot look at the leases: %s", type(exc).__name__)
            failing = True
        else:
            failing = False
            watch.react(seen)
