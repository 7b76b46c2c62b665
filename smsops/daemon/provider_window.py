"""The last hour of each provider's requests, per minute, for the status page.

Fed where run mode already times a request (`Metrics.observe_request`, the
recorder a provider's lane keeps): one call per request with its seconds and
its results. Prometheus keeps totals since start; the page wants "the last
hour" without a Prometheus server, so this keeps a ring of `MINUTES`
per-minute buckets per provider, each with its request, error and
rate-limit counts and at most `SAMPLES` latencies (a uniform sample past
that: reservoir sampling), so memory is bounded however busy a provider is:
providers x 60 x (3 counters + 256 floats).

Written on the event loop, read from the page's worker thread: one lock.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from smsops.providers.base import Accepted, Result, Retryable

MINUTES = 60
SAMPLES = 256  # latencies kept per provider-minute
PROVIDERS = 256  # providers tracked at most (a config names far fewer)


@dataclass
class _Minute:
    minute: int  # minutes since the epoch
    requests: int = 0
    errors: int = 0
    throttled: int = 0
    seen: int = 0  # latencies offered (the sample keeps at most SAMPLES of them)
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class MinuteFigures:
    minute: int  # minutes since the epoch
    requests: int
    errors: int
    throttled: int


@dataclass(frozen=True)
class ProviderHour:
    """One provider's last hour: totals, latency percentiles (seconds; None without a
    request) and the per-minute figures, oldest first, one per minute of the hour."""

    provider: str
    requests: int
    errors: int
    throttled: int
    p50: float | None
    p90: float | None
    p99: float | None
    minutes: tuple[MinuteFigures, ...]


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The nearest-rank `p` percentile (0 < p <= 100) of sorted values; None if empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class ProviderWindow:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._rings: dict[str, list[_Minute | None]] = {}
        self._lock = threading.Lock()
        # Which latencies a busy minute keeps: any will do (no secret in the choice).
        self._random = random.Random(0)  # noqa: S311

    def recorder(self, provider: str) -> Callable[[float, Sequence[Result]], None]:
        """What records one request to `provider`: its seconds and its results."""

        def record(seconds: float, results: Sequence[Result]) -> None:
            self.record(provider, seconds, results)

        return record

    def record(self, provider: str, seconds: float, results: Sequence[Result]) -> None:
        """An error: a request with any result other than taken; throttled: one the
        provider answered 429/503 (a Retryable that asked us to wait)."""
        now = int(self._clock() // 60)
        with self._lock:
            ring = self._rings.get(provider)
            if ring is None:
                if len(self._rings) >= PROVIDERS:
                    return
                ring = self._rings[provider] = [None] * MINUTES
            slot = ring[now % MINUTES]
            if slot is None or slot.minute != now:
                slot = ring[now % MINUTES] = _Minute(now)
            slot.requests += 1
            if any(not isinstance(r, Accepted) for r in results) or not results:
                slot.errors += 1
            if any(isinstance(r, Retryable) and r.throttled for r in results):
                slot.throttled += 1
            slot.seen += 1
            if len(slot.latencies) < SAMPLES:
                slot.latencies.append(seconds)
            else:
                kept = self._random.randrange(slot.seen)
                if kept < SAMPLES:
                    slot.latencies[kept] = seconds

    def hour(self, providers: Sequence[str]) -> list[ProviderHour]:
        """The last hour of each of `providers` (in that order; zeros for one never used)."""
        now = int(self._clock() // 60)
        first = now - MINUTES + 1
        with self._lock:
            kept = {
                name: [m for m in ring if m is not None and first <= m.minute <= now]
                for name, ring in self._rings.items()
            }
            copied = {
                name: [(m.minute, m.requests, m.errors, m.throttled, list(m.latencies)) for m in ms]
                for name, ms in kept.items()
            }
        hours = []
        for name in providers:
            by_minute = {entry[0]: entry for entry in copied.get(name, [])}
            minutes = tuple(
                MinuteFigures(minute, *by_minute[minute][1:4])
                if minute in by_minute
                else MinuteFigures(minute, 0, 0, 0)
                for minute in range(first, now + 1)
            )
            latencies = sorted(s for entry in by_minute.values() for s in entry[4])
            hours.append(
                ProviderHour(
                    provider=name,
                    requests=sum(m.requests for m in minutes),
                    errors=sum(m.errors for m in minutes),
                    throttled=sum(m.throttled for m in minutes),
                    p50=percentile(latencies, 50),
                    p90=percentile(latencies, 90),
                    p99=percentile(latencies, 99),
                    minutes=minutes,
                )
            )
        return hours
