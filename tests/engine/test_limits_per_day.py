"""`max_per_day`'s one rule (engine/limits.in_24_hours) against a count of every window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from smsops.engine.limits import DAY, in_24_hours

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)


def _counted(times: list[datetime], each: int, before: int) -> int:
    """The most messages in the 24 hours up to any send time, counted window by window."""
    return max(
        each * sum(1 for t in times if end - DAY < t <= end) + (before if end - DAY < AT else 0)
        for end in times
    )


@given(
    st.lists(st.integers(0, 4 * 24 * 60), min_size=1, max_size=60, unique=True),
    st.integers(0, 50),
    st.integers(0, 500),
)
def test_the_busiest_24_hours_are_what_every_window_counts(
    minutes: list[int], each: int, before: int
) -> None:
    times = sorted(AT + timedelta(minutes=m) for m in minutes)
    total, earlier, end = in_24_hours(times, each, AT, before)
    assert total == _counted(times, each, before)
    assert end in times
    assert earlier == (before if end - DAY < AT else 0)


def test_a_daily_fire_is_one_in_its_24_hours_and_a_due_plan_adds_the_ledgers() -> None:
    daily = [AT + timedelta(days=d) for d in range(7)]
    assert in_24_hours(daily, 5, AT, 0)[0] == 5  # 24 hours apart: never two in one window
    assert in_24_hours([AT], 3, AT, 5) == (8, 5, AT)  # a due plan: the ledger's 5 and its 3
