"""The status page's last hour of provider requests: bounded, per minute, forgetting the old."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from smsops.daemon.provider_window import MINUTES, SAMPLES, ProviderWindow, percentile
from smsops.providers.base import Accepted, Rejected, Retryable, Uncertain


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_requests_errors_and_rate_limit_waits_per_minute() -> None:
    clock = Clock()
    window = ProviderWindow(clock)
    record = window.recorder("sky")
    record(0.010, [Accepted("a")])
    record(0.020, [Accepted("b"), Rejected("no")])
    clock.now += 60
    record(0.030, [Retryable("HTTP 429 from the provider", throttled=True)])
    record(0.040, [Retryable("no connection")])
    record(0.050, [Uncertain("timeout")])
    record(0.060, [])  # cancelled before an answer: a request, an error
    (sky, idle) = window.hour(["sky", "idle"])
    assert (sky.requests, sky.errors, sky.throttled) == (6, 5, 1)
    assert [(m.requests, m.errors, m.throttled) for m in sky.minutes[-2:]] == [(2, 1, 0), (4, 4, 1)]
    assert len(sky.minutes) == MINUTES
    assert (sky.p50, sky.p90, sky.p99) == (0.030, 0.060, 0.060)
    assert (idle.requests, idle.p50, len(idle.minutes)) == (0, None, MINUTES)


def test_an_hour_later_it_is_forgotten_and_memory_stays_bounded() -> None:
    clock = Clock()
    window = ProviderWindow(clock)
    for _ in range(SAMPLES * 3):
        window.record("sky", 0.5, [Accepted(None)])
    (sky,) = window.hour(["sky"])
    assert sky.requests == SAMPLES * 3
    assert sky.p50 == 0.5
    assert sum(len(m.latencies) for m in window._rings["sky"] if m is not None) == SAMPLES
    clock.now += 60 * MINUTES
    (sky,) = window.hour(["sky"])
    assert (sky.requests, sky.p50) == (0, None)


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=200), st.integers(1, 100))
def test_percentile_is_the_nearest_rank(values: list[float], p: int) -> None:
    ordered = sorted(values)
    # the definition: the smallest value with at least p% of values at or below it
    expected = next(v for v in ordered if sum(x <= v for x in ordered) >= p / 100 * len(ordered))
    assert percentile(ordered, p) == expected
    assert math.isclose(percentile(ordered, 100) or 0, max(values))
