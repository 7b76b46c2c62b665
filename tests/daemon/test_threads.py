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


def test_a_run_hanging_past_its_freshness_is_given_up_for_a_new_one_up_to_a_cap() -> None:
    """Every run hangs (the server is gone): a new run after each freshness, three at most."""
    release = threading.Event()
    calls: list[int] = []

    def probe() -> str:
        calls.append(1)
        release.wait(10)
        return "late"

    async def scenario() -> tuple[list[str], int]:
        checking = OneAtATime(probe, "test-fresh", fresh_after=0.05, most=3)
        seen = []
        for _ in range(6):
            try:
                seen.append(await checking(0.1))
            except TimeoutError:
                seen.append("timeout")
        threads = sum(t.name == "test-fresh" for t in threading.enumerate())
        release.set()
        return seen, threads

    seen, threads = asyncio.run(scenario())
    assert threads == 3  # never more than `most` hanging at once
    assert seen == ["timeout"] * 6
    assert len(calls) == 3


def test_after_its_freshness_a_hanging_run_no_longer_hides_one_that_answers() -> None:
    release = threading.Event()
    calls: list[int] = []

    def probe() -> str:
        calls.append(1)
        if len(calls) == 1:  # the first hangs on a connection the network dropped
            release.wait(10)
        return "answered"

    async def scenario() -> str:
        checking = OneAtATime(probe, "test-fresh", fresh_after=0.05, most=3)
        with pytest.raises(TimeoutError):
            await checking(0.1)  # still fresh for the first 0.05 s: waited on, then given up
        return await checking(1)  # past its freshness: a new run, which answers

    assert asyncio.run(scenario()) == "answered"
    assert len(calls) == 2
    release.set()
