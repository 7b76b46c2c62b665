"""The send loop's collector pacing: frozen and slower while loops run, as before after."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from smsops.engine.collector import FIRST, paced_for_sending


@pytest.fixture(autouse=True)
def _collector_as_found() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.other: object = self  # a cycle: only the collector frees it


def test_frozen_and_paced_inside_restored_after() -> None:
    gc.set_threshold(700, 11, 12)
    with paced_for_sending():
        assert gc.get_threshold() == (FIRST, 11, 12)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 11, 12)
    assert gc.get_freeze_count() == 0


def test_overlapping_loops_restore_when_the_last_ends() -> None:
    gc.set_threshold(700, 10, 10)
    first, second = paced_for_sending(), paced_for_sending()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == FIRST  # the second loop still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_cycles_made_while_sending_are_still_collected() -> None:
    with paced_for_sending():
        ref = weakref.ref(_Node())
        assert ref() is not None
        gc.collect()
        assert ref() is None


def test_a_higher_threshold_is_kept_and_an_exception_restores() -> None:
    gc.set_threshold(50_000, 10, 10)
    seen: list[int] = []

    def loop() -> None:
        with paced_for_sending():
            seen.append(gc.get_threshold()[0])
            raise RuntimeError

    with pytest.raises(RuntimeError):
        loop()
    assert seen == [50_000]
    assert gc.get_threshold() == (50_000, 10, 10)
    assert gc.get_freeze_count() == 0


def test_objects_frozen_by_someone_else_stay_frozen() -> None:
    gc.freeze()
    try:
        with paced_for_sending():
            pass
        assert gc.get_freeze_count() > 0  # not unfrozen by the loop's end
    finally:
        gc.unfreeze()
