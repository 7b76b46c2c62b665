"""The suppression list on every backend: an opt-out adds the number, an opt-in removes it,
and the history keeps both events with their source and keyword."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from smsops.ledger.base import Ledger
from smsops.ledger.suppressions import OptAction, OptEvent

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
A, B = "+447700900001", "+12025550123"


def out(number: str, minutes: int = 0, source: str = "sky", keyword: str = "STOP") -> OptEvent:
    return OptEvent(number, OptAction.OUT, T0 + timedelta(minutes=minutes), source, keyword)


def back(number: str, minutes: int = 0, source: str = "sky", keyword: str = "START") -> OptEvent:
    return OptEvent(number, OptAction.IN, T0 + timedelta(minutes=minutes), source, keyword)


@pytest.fixture
def ledger(open_ledger_handle: Callable[[], Ledger]) -> Ledger:
    return open_ledger_handle()


def test_an_opt_out_suppresses_and_an_opt_in_lifts_it_keeping_both(ledger: Ledger) -> None:
    assert ledger.suppressed() == frozenset()
    assert ledger.opt([out(A), out(B, 1, source="cli", keyword="")]) == [True, True]
    assert ledger.suppressed() == {A, B}
    assert [(s.number, s.source, s.keyword) for s in ledger.suppressions()] == [
        (B, "cli", ""), (A, "sky", "STOP"),
    ]  # fmt: skip
    assert ledger.opt([back(A, 5)]) == [True]
    assert ledger.suppressed() == {B}
    history = [(e.number, e.action, e.source, e.keyword) for e in ledger.opt_history()]
    assert history == [
        (A, OptAction.OUT, "sky", "STOP"),
        (B, OptAction.OUT, "cli", ""),
        (A, OptAction.IN, "sky", "START"),
    ]


def test_a_repeated_stop_changes_nothing_and_adds_no_event(ledger: Ledger) -> None:
    assert ledger.opt([out(A), out(A, 1, keyword="stop")]) == [True, False]
    assert ledger.opt([out(A, 2)]) == [False]
    assert ledger.opt([back(B)]) == [False]  # nothing to lift
    assert len(ledger.opt_history()) == 1
    assert ledger.suppressions()[0].at == T0


def test_another_handle_sees_the_list(open_ledger_handle: Callable[[], Ledger]) -> None:
    first, second = open_ledger_handle(), open_ledger_handle()
    first.opt([out(A)])
    assert second.suppressed() == {A}
    second.opt([back(A, 1), out(A, 2, source="import", keyword="")])
    assert first.suppressed() == {A}
    assert [e.action for e in first.opt_history(A)] == [OptAction.OUT, OptAction.IN, OptAction.OUT]


def test_asked_of_some_numbers_the_list_answers_for_those_only(ledger: Ledger) -> None:
    """An on-demand send asks of one number; the answer equals the whole list's, read by key."""
    numbers = [f"+4477009{i:05d}" for i in range(300)]
    ledger.opt([out(n, i) for i, n in enumerate(numbers[::3])])
    whole = ledger.suppressed()
    for asked in ([], [A], numbers[:1], numbers[1:2], numbers, [*numbers[:5], A, numbers[0]]):
        assert ledger.suppressed(asked) == whole & set(asked)
    hostile = ["'; DROP TABLE suppressions; --", '"]', "\x00", "%s"]
    assert ledger.suppressed(hostile) == frozenset()
    assert ledger.suppressed() == whole
