"""`smsops run`: the long-running reconciler on an APScheduler clock.

Each schedule's trigger is a job that wakes the runner for that schedule; a
steady resync catches up what is still inside its window (restarts, quiet
hours, recipient-local times); `once` schedules go at start and when they
first appear. Jobs only request rounds and return at once (see `rounds`),
so APScheduler never skips a fire because a round is still sending.

The config directory is watched: loading and validating a change runs in a
worker thread and never waits for a round, so it is reported (accepted, or
refused with file:line:col) within the poll interval plus the load, however
long rounds take. A valid change replaces the jobs at once and applies to
rounds that start after it; an invalid one is refused and the old config
keeps running.

No exception leaves a job, a task or a loop callback unreported: each is one
masked line, `smsops_job_errors_total` and a degraded `/healthz`.

Over 250 lines: the jobs, the reload and the lifecycle are one argument
about what may wait for what, best read together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from smsops.config.loader import Config, config_files, files_read
from smsops.core.errors import ConfigError
from smsops.core.hooks import HookSink
from smsops.core.phone import scrub_numbers
from smsops.daemon.failures import guarded
from smsops.daemon.metrics import LOOP_JOB, RESYNC_JOB, Metrics, fire_job
from smsops.daemon.runner import Runner
from smsops.daemon.threads import OneAtATime, own_thread
from smsops.daemon.watch import Watch, watch_interval, watching
from smsops.ledger.base import Ledger
from smsops.ledger.runs import lease_length
from smsops.schedule.triggers import RESYNC, trigger_for

log = logging.getLogger("smsops.run")
T = TypeVar("T")
GRACE = 30.0  # seconds in-flight sends get to settle on SIGTERM
READY_WAIT = 0.8  # seconds /readyz waits for the ledger (under a probe's usual 1 s timeout)


@dataclass
class Health:
    generation: int = 0
    reload_error: str | None = None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # of `generation`
    fingerprint: tuple[tuple[str, int, int], ...] = field(default_factory=tuple)


def fingerprint(root: Path, sources: Iterable[Path] = ()) -> tuple[tuple[str, int, int], ...]:
    """What identifies the config on disk: path, mtime and size of each file it reads.

    Those are the YAML files the walk finds now (so a new `*.yaml` counts)
    and `sources`, the files they named at the last load (`files_read`);
    any other file in the directory (a README) is not the config. Paths are
    resolved, so a git-sync sidecar swapping a symlink counts.
    """
    found = set()
    for path in [*config_files(root), *sources]:
        try:
            stat = path.stat()
            found.add((str(path.resolve()), stat.st_mtime_ns, stat.st_size))
        except OSError:
            found.add((str(path), -1, -1))  # missing or looping: its return is a change
    return tuple(sorted(found))


class Service:
    def __init__(
        self,
        root: Path,
        load: Callable[[Path], Config],
        ledger: Ledger,
        runner: Runner,
        metrics: Metrics,
        poll: float = 2.0,
        hooks: HookSink | None = None,
    ) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.root, self.load, self.ledger, self.runner = root, load, ledger, runner
        self.metrics, self.poll = metrics, poll
        # Where webhooks' receipts and inbound texts go (daemon/hooks.py); None: they get 503.
        self.hooks = hooks
        self.look_every = watch_interval(lease_length())  # leases, stuck claims (see watch)
        self.read = files_read(root)  # what the config read at the last load
        self.health = Health(generation=1, fingerprint=fingerprint(root, self.read))
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.stopped = asyncio.Event()
        self._probing = OneAtATime(self._probe, "smsops-readyz")  # one probe thread at most
        self._kept: dict[str, Any] = {}  # what the API's routes keep (see `keep`)
        metrics.generation.set(1)

    def keep(self, name: str, make: Callable[[], T]) -> T:
        """The one `name` of this service, made at first use (the API's routes keep their
        sender, its connection pool, here); `close` closes those with an `aclose`."""
        if name not in self._kept:
            self._kept[name] = make()
        found: T = self._kept[name]
        return found

    async def close(self) -> None:
        """Close what the API's routes kept (after the HTTP server has stopped)."""
        kept, self._kept = list(self._kept.values()), {}
        for thing in kept:
            if hasattr(thing, "aclose"):
                with contextlib.suppress(Exception):  # closing must not hide the stop's cause
                    await thing.aclose()

    # --- jobs -------------------------------------------------------------
    def install_jobs(self) -> None:
        """Replace every job with the current config's (jobs are only ever swapped whole)."""
        for job in self.scheduler.get_jobs():
            job.remove()
        config = self.runner.config
        for name, schedule in config.schedules.items():
            trigger = trigger_for(schedule) if schedule.enabled else None
            if trigger is None:
                continue
            window = schedule.effective_window
            self.scheduler.add_job(
                self.runner.wake,
                trigger,
                args=[[name], "fire"],
                id=fire_job(name),
                name=name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(window.total_seconds()) if window else None,
            )
        self.scheduler.add_job(
            self.runner.wake,
            "interval",
            seconds=RESYNC.total_seconds(),
            args=[None, "resync"],
            id=RESYNC_JOB,
            coalesce=True,
            max_instances=1,
        )
        self.export_next_fires()

    def job_event(self, event: Any) -> None:
        """APScheduler's word on a job: raised, missed its time, or done.

        Our jobs only request rounds, so neither should happen; if one does,
        it is said and counted, never dropped: a missed or skipped fire still
        requests its round (the plan at that time sends what is still due).
        """
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

        job = str(event.job_id)
        if event.code == EVENT_JOB_EXECUTED:
            self.runner.jobs.succeeded(job)
        elif event.code == EVENT_JOB_ERROR:
            if not isinstance(event.exception, asyncio.CancelledError):  # a stop is no failure
                self.runner.job_failed(job, event.exception)
        else:
            kind = "missed" if event.code == EVENT_JOB_MISSED else "max_instances"
            self.metrics.job_errors.labels(job, kind).inc()
            log.warning(
                "job %s did not start on time (%s); a fire or resync still requests its rounds",
                job,
                kind,
                extra={"job": job},
            )
            if job.startswith(fire_job("")):
                self.runner.request([job.removeprefix(fire_job(""))], "fire")
            elif job == RESYNC_JOB:
                self.runner.request(None, "resync")

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The event loop's report of an exception nobody handled: one masked line."""
        error = context.get("exception")
        if not isinstance(error, BaseException):
            error = RuntimeError(str(context.get("message", "unknown event loop error")))
        self.runner.job_failed(LOOP_JOB, error)

    def export_next_fires(self) -> None:
        self.metrics.next_fire.clear()
        for job in self.scheduler.get_jobs():
            when = getattr(job, "next_run_time", None)
            if job.id.startswith("schedule:") and when is not None:
                self.metrics.next_fire.labels(job.name).set(when.timestamp())

    # --- reload -----------------------------------------------------------
    async def watch(self) -> None:
        while not self.stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), timeout=self.poll)
            if not self.stopped.is_set():
                try:
                    await self.reload_if_changed()
                except Exception as exc:  # the watch outlives any one change it cannot take
                    self.health.reload_error = self.runner.describe(exc)
                    self.metrics.reload_failures.inc()
                    self.metrics.reload_error.set(1)
                    log.error("config change refused: %s", self.health.reload_error)

    async def reload_if_changed(self) -> None:
        """Load a changed config in a worker thread; adopt it, or report why not.

        Never waits for a round: the new generation applies to rounds that
        start after it, then every schedule's round is requested (merged
        with a running one), so new `once` schedules go now.
        """
        try:
            config = await own_thread(self._load_if_changed)
        except ConfigError as exc:
            # /healthz is read by anyone who can reach the port: numbers masked, as in logs
            self.health.reload_error = scrub_numbers("; ".join(str(p) for p in exc.problems))
            self.metrics.reload_failures.inc()
            self.metrics.reload_error.set(1)
            for problem in exc.problems:
                log.error("config change refused: %s", problem)
            log.error("the previous config (generation %d) keeps running", self.health.generation)
            return
        if config is None:
            return
        self.runner.config = config
        self.health.generation += 1
        self.health.loaded_at = datetime.now(UTC)
        self.health.reload_error = None
        self.metrics.generation.set(self.health.generation)
        self.metrics.reload_error.set(0)
        self.metrics.keep_only(name for name, s in config.schedules.items() if s.enabled)
        self.install_jobs()
        log.info("config generation %d loaded", self.health.generation)
        self.runner.request(None, "reload")

    def _load_if_changed(self) -> Config | None:
        """The config on disk if it changed since the last look (None if not); off the loop."""
        if fingerprint(self.root, self.read) == self.health.fingerprint:
            return None
        self.read = files_read(self.root)  # the YAML may name other files now
        self.health.fingerprint = fingerprint(self.root, self.read)
        return self.load(self.root)

    # --- lifecycle --------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Not possible off the main thread: tests then call stop() themselves.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)
        loop.set_exception_handler(self.loop_error)
        from apscheduler.events import (
            EVENT_JOB_ERROR,
            EVENT_JOB_EXECUTED,
            EVENT_JOB_MAX_INSTANCES,
            EVENT_JOB_MISSED,
        )

        events = EVENT_JOB_ERROR | EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        self.scheduler.add_listener(self.job_event, events)
        self.scheduler.start()
        self.install_jobs()
        look = Watch(
            self.ledger,
            lambda: self.runner.config,
            self.runner.takeover,
            self.runner.stuck,
            self.runner.cache_dir,
        )
        tasks = [
            guarded("config-watch", self.watch(), self.runner.job_failed),
            guarded(
                "lease-watch", watching(look, self.stopped, self.look_every), self.runner.job_failed
            ),
        ]
        self.runner.request(None, "start")
        await self.stopped.wait()
        self.scheduler.shutdown(wait=False)
        self.runner.stop()
        try:
            await asyncio.wait_for(self.runner.idle(), timeout=GRACE)
        except TimeoutError:
            log.error("in-flight sends did not settle within %.0f s; they stay pending", GRACE)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("stopped")

    def _probe(self) -> None:
        self.ledger.get(["readiness-probe"])

    def stop(self) -> None:
        if not self.stopped.is_set():
            log.info("stopping: claiming nothing new, settling what is in flight")
            self.runner.stop()
            self.stopped.set()

    async def ready(self) -> tuple[bool, str]:
        """Ready: the ledger answers, every secret an enabled schedule needs is set, and no
        schedule is held over its limits.

        The ledger is asked off the event loop and for at most READY_WAIT
        seconds: a database that does not answer (a PostgreSQL server down or
        unreachable) makes it 503, and it is ready again once a query answers.
        A probe still waiting on the database is awaited again, never doubled.
        """
        try:
            await self._probing(READY_WAIT)
        except TimeoutError:
            return False, f"ledger unreachable: no answer within {READY_WAIT:g} s"
        except Exception as exc:
            return False, f"ledger unreachable: {type(exc).__name__}"
        if self.runner.missing:
            return False, "; ".join(str(missing) for missing in self.runner.missing)
        if held := self.runner.over_limits:
            return False, "; ".join(
                f"schedule {name!r} held, over its limits: {', '.join(over)}"
                for name, over in held.items()
            )
        return True, "ok"
