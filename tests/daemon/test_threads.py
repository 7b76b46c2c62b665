"""Work off the event loop: a hanging check runs once, however often it is asked."""

from __future__ import annotations

import asyncio
import threading

import pytest

from smsops.daemon.threads import OneAtATime


def test_a_hanging_probe_is_one_thread_however_often_it_is_asked() -> None:
    release = threading.Event()
    calls: list[int] = []

    def probe() -> str:
        calls.append(1)
        release.wait(10)  # a database that does not answer (until released)
        return "answered"

    async def scenario() -> tuple[int, int, str]:
        checking = OneAtATime(probe, "test-probe")
        timeouts = 0
        for _ in range(20):  # a probe every few seconds while the server hangs
            with pytest.raises(TimeoutError):
                await checking(0.01)
            timeouts += 1
        threads = sum(t.name == "test-probe" for t in threading.enumerate())
        release.set()
        return timeouts, threads, await checking(5)

    timeouts, threads, answer = asyncio.run(scenario())
    assert (timeouts, threads) == (20, 1)
    assert answer == "answered"
    assert len(calls) == 1  # the one run in progress answered the next caller


def test_after_an_answer_or_a_failure_the_next_call_asks_again() -> None:
    outcomes: list[object] = [ValueError("refused"), "ok"]

    def probe() -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def scenario() -> object:
        checking = OneAtATime(probe, "test-probe")
        with pytest.raises(ValueError, match="refused"):
            await checking(5)
        return await checking(5)

    assert asyncio.run(scenario()) == "ok"
    assert outcomes == []
