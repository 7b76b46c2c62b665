"""Prometheus metrics of run mode, in a registry of their own."""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from smsops import __version__
from smsops.config.loader import Config
from smsops.core.hooks import Receipt, ReceiptResult
from smsops.daemon.confirm_round import CONFIRM_JOB
from smsops.daemon.hooks import OUTCOMES
from smsops.daemon.provider_window import ProviderWindow
from smsops.daemon.watch import STUCK_JOB
from smsops.engine.apply import ApplyReport
from smsops.engine.apply_report import RETRYABLE
from smsops.engine.lanes import Recorder
from smsops.engine.plan import Plan
from smsops.ledger.policy import Status
from smsops.providers.base import Result
from smsops.providers.hooks import Kind
from smsops.schedule.period import longest_gap

# What a send ends as in the ledger (smsops_sends_total's status label).
FINAL = (Status.SENT, Status.FAILED, Status.UNCERTAIN, Status.EXPIRED)
# Every outcome a webhook request is counted with (daemon/hooks.py answers them).
HOOK_OUTCOMES = ("accepted", *OUTCOMES.values(), "failed")
# smsops_job_errors_total's labels: the scheduler's jobs (each schedule's fire job and the
# resync) and what may go wrong with one; the daemon's tasks, which only raise.
RESYNC_JOB = "resync"
LOOP_JOB = "event-loop"  # an exception the event loop caught that no task handled
SCHEDULER_EVENTS = ("error", "missed", "max_instances")
TASKS = (LOOP_JOB, STUCK_JOB, CONFIRM_JOB)


def fire_job(schedule: str) -> str:
    """The scheduler job that fires `schedule` (its id)."""
    return f"schedule:{schedule}"


# A round plans and sends a schedule: from milliseconds to many minutes (a paced backlog).
ROUND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# One request to a provider, answer read: its `timeout` (30 s by default) bounds it.
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sends = Counter(
            "smsops_sends",
            "Sends settled, by provider and the status the ledger finally keeps (a retryable "
            "failure is not one: see smsops_sends_retryable; it counts here as sent when a "
            "retry goes out, as failed when its window closes first)",
            ["provider", "status"],
            registry=r,
        )
        self.retryable = Counter(
            "smsops_sends_retryable",
            "Sends out of retries that the provider did not take: recorded failed for a later "
            "round to claim again while the window is open",
            ["provider"],
            registry=r,
        )
        self.segments = Counter("smsops_segments", "Segments sent", registry=r)
        self.cost = Counter(
            "smsops_cost", "Estimated cost of sent messages", ["currency"], registry=r
        )
        self.retries = Counter(
            "smsops_retries", "Requests repeated after 429/503/connect errors", registry=r
        )
        self.skipped = Gauge(
            "smsops_plan_skipped",
            "Recipients skipped by the latest plan",
            ["schedule", "reason"],
            registry=r,
        )
        self.pending = Gauge(
            "smsops_plan_to_send", "Sends the latest plan found missing", ["schedule"], registry=r
        )
        self.in_flight = Gauge("smsops_in_flight", "Requests on the wire", registry=r)
        self.next_fire = Gauge(
            "smsops_next_fire_timestamp_seconds",
            "Next fire time per schedule",
            ["schedule"],
            registry=r,
        )
        self.generation = Gauge("smsops_config_generation", "Config generations loaded", registry=r)
        self.reload_failures = Counter(
            "smsops_config_reload_failures", "Refused config changes", registry=r
        )
        self.reload_error = Gauge(
            "smsops_config_reload_error", "1 while the newest config on disk is refused", registry=r
        )
        self.missed = Counter(
            "smsops_missed_occurrences",
            "Occurrences whose window closed while smsops was not running",
            ["schedule"],
            registry=r,
        )
        self.expired = Counter(
            "smsops_expired_sends",
            "Sends whose window closed before they went out (recorded expired), by reason",
            ["schedule", "reason"],
            registry=r,
        )
        self.reconciles = Counter("smsops_reconciles", "Plan+apply rounds", ["trigger"], registry=r)
        self.round_failures = Counter(
            "smsops_round_failures",
            "Rounds whose plan or send raised, per schedule",
            ["schedule"],
            registry=r,
        )
        self.fires_merged = Counter(
            "smsops_fires_merged",
            "Round requests (fires, resyncs, reloads) merged into a follow-up of a running round",
            ["schedule"],
            registry=r,
        )
        self.rounds_skipped = Counter(
            "smsops_rounds_skipped",
            "Rounds this replica did not run, by schedule and why (another replica ran them)",
            ["schedule", "reason"],
            registry=r,
        )
        self.takeovers = Counter(
            "smsops_takeovers",
            "Other runs whose lease this replica saw lapse (it then requested every round)",
            registry=r,
        )
        self.job_errors = Counter(
            "smsops_job_errors",
            "Scheduler jobs, daemon tasks and loop callbacks that raised (error) or could "
            "not start on time (missed, max_instances)",
            ["job", "event"],
            registry=r,
        )
        self.held = Gauge(
            "smsops_schedule_held",
            "1 while the schedule's latest plan is over this limit: held, nothing of it sent",
            ["schedule", "limit"],
            registry=r,
        )
        self.hooks = Counter(
            "smsops_hooks",
            "Webhook requests (POST /hooks/PROVIDER/KIND), by provider, kind (receipts, "
            "inbound) and outcome (accepted, or why refused: malformed, unauthorized, "
            "not_found, too_large, unsupported_type, unavailable, failed)",
            ["provider", "kind", "outcome"],
            registry=r,
        )
        self.receipts = Counter(
            "smsops_receipts",
            "Receipts the webhooks took, each counted once on arrival by what the ledger did: "
            "delivered / undelivered when it moved a row, else duplicate, parked, interim (a "
            "parked one applied later is not counted again: see smsops_ledger_delivery)",
            ["provider", "status"],
            registry=r,
        )
        self.delivery = Gauge(
            "smsops_ledger_delivery",
            "Sends the ledger holds as delivered or undelivered (from receipts), per schedule",
            ["schedule", "status"],
            registry=r,
        )
        self.uncertain = Gauge(
            "smsops_ledger_uncertain",
            "Sends the ledger holds as uncertain (a person decides: smsops ledger resolve), "
            "per schedule",
            ["schedule"],
            registry=r,
        )
        self.api_requests = Counter(
            "smsops_api_requests",
            "API requests (docs/api.md), by route and outcome: the route's own (a send's "
            "status, replayed, ...) or why refused (malformed, unauthorized, not_found, "
            "conflict, too_large, unsupported_type, invalid, unavailable, failed)",
            ["route", "outcome"],
            registry=r,
        )
        self.auth_refusals = Counter(
            "smsops_auth_refusals",
            "Wrong tokens at the run server's doors, by surface (api, status, login, hooks) and "
            "reason: wrong_token (a credential shown and wrong) or limited (429: that "
            "address was wrong too often, its credential not compared)",
            ["surface", "reason"],
            registry=r,
        )
        self.api_seconds = Histogram(
            "smsops_api_seconds",
            "Time from an API request's head to its answer, by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.build_info = Gauge(
            "smsops_build_info",
            "1, labelled with the smsops version and the Python running it",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.round_seconds = Histogram(
            "smsops_round_seconds",
            "Time a schedule's round took to plan and send (rounds that planned)",
            ["schedule"],
            buckets=ROUND_BUCKETS,
            registry=r,
        )
        self.request_seconds = Histogram(
            "smsops_provider_request_seconds",
            "Time from a request to a provider leaving to its answer read, by provider",
            ["provider"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "smsops_last_round_success_timestamp_seconds",
            "When a round of the schedule last planned and sent without failing",
            ["schedule"],
            registry=r,
        )
        self.period = Gauge(
            "smsops_schedule_period_seconds",
            "The longest gap between the schedule's coming fire times (none for `once` "
            "and recipient-local schedules)",
            ["schedule"],
            registry=r,
        )
        # The last hour of each provider's requests, for the status page (not exported).
        self.window = ProviderWindow()
        self._reasons: dict[str, set[str]] = {}  # the skip reasons exported per schedule
        self._held: dict[str, set[str]] = {}  # the limits exported per schedule

    def adopt(self, config: Config) -> None:
        """A config generation loaded: its schedules' and providers' counters exist from now.

        An alert on `rate(smsops_sends_total{status="failed"}[5m])` sees
        nothing of a series' first increment when the series only appears
        with it: every label set a config can produce starts at 0 here (and a
        reload adds the new ones; counters of removed names stay, as counters do).
        """
        for provider in config.providers:
            for status in FINAL:
                self.sends.labels(provider, status.value)
            self.retryable.labels(provider)
            for status in (Status.DELIVERED, Status.UNDELIVERED):
                self.receipts.labels(provider, status.value)
            for kind in get_args(Kind):
                for outcome in HOOK_OUTCOMES:
                    self.hooks.labels(provider, kind, outcome)
        for task in TASKS:
            self.job_errors.labels(task, "error")
        jobs = [RESYNC_JOB, *(fire_job(n) for n, s in config.schedules.items() if s.enabled)]
        for job in jobs:
            for event in SCHEDULER_EVENTS:
                self.job_errors.labels(job, event)
        periods: dict[str, float] = {}
        for name, schedule in config.schedules.items():
            if not schedule.enabled:
                continue
            self.round_failures.labels(name)
            self.missed.labels(name)
            gap = longest_gap(schedule, datetime.now(UTC))
            if gap is not None:
                periods[name] = gap.total_seconds()
        self.period.clear()
        for name, seconds in periods.items():
            self.period.labels(name).set(seconds)

    def observe_request(self, provider: str) -> Recorder:
        """What records one request to `provider` (a lane keeps it: no lookup per request):
        its latency in the histogram, and it in the status page's last hour."""
        observe = self.request_seconds.labels(provider).observe
        window = self.window.recorder(provider)

        def record(seconds: float, results: Sequence[Result]) -> None:
            observe(seconds)
            window(seconds, results)

        return record

    def observe_plan(self, plan: Plan) -> None:
        """The latest plan's figures per schedule; a reason no longer seen is dropped."""
        for s in plan.schedules:
            self.pending.labels(s.schedule).set(s.to_send)
            reasons = {reason.value: count for reason, count in s.skip_counts.items()}
            for gone in self._reasons.get(s.schedule, set()) - reasons.keys():
                self.skipped.remove(s.schedule, gone)
            for reason, count in reasons.items():
                self.skipped.labels(s.schedule, reason).set(count)
            self._reasons[s.schedule] = set(reasons)
            limits = {over.limit for over in s.over_limits}
            for gone in self._held.get(s.schedule, set()) - limits:
                self.held.remove(s.schedule, gone)
            for limit in limits:
                self.held.labels(s.schedule, limit).set(1)
            self._held[s.schedule] = limits

    def observe_delivery(self, stats: dict[str, dict[str, int]], schedules: Iterable[str]) -> None:
        """Delivered, undelivered and uncertain rows of these schedules, from `Ledger.stats()`."""
        for schedule in schedules:
            counts = stats.get(schedule, {})
            self.uncertain.labels(schedule).set(counts.get(Status.UNCERTAIN.value, 0))
            for status in (Status.DELIVERED, Status.UNDELIVERED):
                self.delivery.labels(schedule, status.value).set(counts.get(status.value, 0))

    def keep_only(self, schedules: Iterable[str]) -> None:
        """Drop the figures of schedules a reload removed (`schedules`: read once, so a
        generator keeps every figure of its schedules)."""
        keep = set(schedules)
        for gone in self._reasons.keys() - keep:
            self.pending.remove(gone)
            for reason in self._reasons.pop(gone):
                self.skipped.remove(gone, reason)
        for gone in {labels[0] for labels in self._labels(self.delivery)} - keep:
            for status in (Status.DELIVERED, Status.UNDELIVERED):
                self.delivery.remove(gone, status.value)
            self.uncertain.remove(gone)
        for gone in self._held.keys() - keep:
            for limit in self._held.pop(gone):
                self.held.remove(gone, limit)
        for (gone,) in set(self._labels(self.last_success)) - {(name,) for name in keep}:
            self.last_success.remove(gone)

    def observe_receipts(
        self, provider: str, receipts: Sequence[Receipt], results: Sequence[ReceiptResult]
    ) -> None:
        """Count what each receipt did: a row moved counts by its new status, so a long
        message's second postback (a duplicate) never counts as a second delivery."""
        for receipt, result in zip(receipts, results, strict=True):
            applied = result is ReceiptResult.APPLIED
            status = receipt.delivery.value if applied else result.value
            self.receipts.labels(provider, status).inc()

    def observe_report(self, report: ApplyReport) -> None:
        for (provider, status), count in report.outcomes.items():
            if status == RETRYABLE:  # not final: counted when a later round settles it
                self.retryable.labels(provider).inc(count)
            else:
                self.sends.labels(provider, status).inc(count)
        self.segments.inc(report.segments)
        for currency, amount in report.cost.items():
            self.cost.labels(currency).inc(float(amount))  # a counter takes a float
        self.retries.inc(report.retries)
        for (schedule, _, reason), count in report.expired_by.items():
            self.expired.labels(schedule, reason.short).inc(count)

    @staticmethod
    def _labels(gauge: Gauge) -> list[tuple[str, ...]]:
        """The label values of every series `gauge` has."""
        return [
            tuple(sample.labels[k] for k in gauge._labelnames)
            for metric in gauge.collect()
            for sample in metric.samples
        ]
