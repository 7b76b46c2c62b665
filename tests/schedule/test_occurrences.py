"""Fire times are computed from a given time, in the trigger's zone, never the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.config.models import Schedule
from smsops.engine.preview import preview
from smsops.engine.project import load_project
from smsops.schedule.occurrences import due_occurrences, next_fire, occurrence_label


def schedule(trigger: dict[str, object] | None) -> Schedule:
    return Schedule.model_validate(
        {"template": "t", "audience": "a", "provider": "p", "trigger": trigger}
    )


@pytest.mark.parametrize(
    ("trigger", "after", "expected"),
    [
        (None, "2026-11-22T09:00:00+00:00", None),
        (
            {"cron": "0 9 * * MON-FRI", "timezone": "Europe/London"},
            "2026-11-20T09:00:00+00:00",
            "2026-11-23T09:00:00Z",
        ),
        # Across the spring DST change, 09:00 London is 08:00 UTC.
        (
            {"cron": "0 9 * * *", "timezone": "Europe/London"},
            "2027-03-28T00:00:00+00:00",
            "2027-03-28T08:00:00Z",
        ),
        (
            {"every": "24h", "start": "2026-01-01T18:00:00", "timezone": "Europe/Lisbon"},
            "2026-11-22T09:00:00+00:00",
            "2026-11-22T18:00:00Z",
        ),
        ({"every": "1h"}, "2026-11-22T09:00:00+00:00", "2026-11-22T10:00:00Z"),
        (
            {"at": "2027-03-01T09:00:00", "timezone": "Europe/London"},
            "2026-11-22T09:00:00+00:00",
            "2027-03-01T09:00:00Z",
        ),
        ({"at": "2026-03-01T09:00:00"}, "2026-11-22T09:00:00+00:00", None),
    ],
)
def test_next_fire(trigger: dict[str, object] | None, after: str, expected: str | None) -> None:
    fire = next_fire(schedule(trigger), datetime.fromisoformat(after))
    assert (occurrence_label(fire) if fire else None) == expected


def test_past_at_is_not_shown_as_once(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "providers:\n  ot: {type: opentact, token: '${env:T}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: hi}\n"
        "audiences:\n  a: {contacts: [{phone: '+447400123456'}]}\n"
        "schedules:\n"
        "  past: {template: t, audience: a, provider: ot, trigger: {at: '2026-01-01T09:00:00'}}\n"
        "  now: {template: t, audience: a, provider: ot}\n"
    )
    past, once = preview(load_project(tmp_path), datetime(2026, 11, 22, tzinfo=UTC))
    assert past.occurrences == ["none (no fire time after --at)"]
    assert once.occurrences == ["once"]


@pytest.mark.parametrize(
    ("trigger", "window", "at", "expected"),
    [
        (None, None, "2026-11-22T09:00:00+00:00", ["once"]),
        # Inside the window of today's 09:00 London fire.
        (
            {"cron": "0 9 * * *", "timezone": "Europe/London"},
            "2h",
            "2026-11-22T10:59:59+00:00",
            ["2026-11-22T09:00:00Z"],
        ),
        # The window closes at fire + window (exclusive).
        ({"cron": "0 9 * * *", "timezone": "Europe/London"}, "2h", "2026-11-22T11:00:00+00:00", []),
        # Before the fire time nothing is due.
        ({"cron": "0 9 * * *", "timezone": "Europe/London"}, "2h", "2026-11-22T08:59:59+00:00", []),
        # Exactly at the fire time it is due.
        (
            {"cron": "0 9 * * *", "timezone": "Europe/London"},
            "2h",
            "2026-11-22T09:00:00+00:00",
            ["2026-11-22T09:00:00Z"],
        ),
        # A window longer than the interval: several occurrences are open, oldest first.
        (
            {"every": "1h"},
            "3h",
            "2026-11-22T09:30:00+00:00",
            ["2026-11-22T07:00:00Z", "2026-11-22T08:00:00Z", "2026-11-22T09:00:00Z"],
        ),
        # The default window is 1h.
        (
            {"at": "2027-03-01T09:00:00", "timezone": "Europe/London"},
            None,
            "2027-03-01T09:59:00+00:00",
            ["2027-03-01T09:00:00Z"],
        ),
        (
            {"at": "2027-03-01T09:00:00", "timezone": "Europe/London"},
            None,
            "2027-03-01T10:00:00+00:00",
            [],
        ),
    ],
)
def test_due_occurrences(
    trigger: dict[str, object] | None, window: str | None, at: str, expected: list[str]
) -> None:
    data: dict[str, object] = {
        "template": "t",
        "audience": "a",
        "provider": "p",
        "trigger": trigger,
    }
    if window:
        data["window"] = window
    assert due_occurrences(Schedule.model_validate(data), datetime.fromisoformat(at)) == expected


def test_missed_since_is_every_fire_after_the_newest_whose_window_closed() -> None:
    from smsops.schedule.occurrences import LOOKBACK, fire_of, missed_since

    every_minute = schedule({"every": "1m"})  # the default window: 1h
    newest = fire_of("2026-11-22T08:00:00Z")
    assert newest is not None
    at = datetime(2026, 11, 22, 9, 30, 30, tzinfo=UTC)
    # 08:01 to 08:30: after the newest, their windows closed by 09:30:30; 08:31 is still open.
    labels = [occurrence_label(f) for f in missed_since(every_minute, newest, at)]
    assert labels == [f"2026-11-22T08:{m:02}:00Z" for m in range(1, 31)]
    # Ten days down: a week of them at most.
    assert len(missed_since(every_minute, newest, at + timedelta(days=10))) == LOOKBACK / timedelta(
        minutes=1
    )
    assert missed_since(schedule(None), newest, at) == []  # untriggered: no windows


@pytest.mark.parametrize("label", ["once", "2026-11-22T09:00:00", "not a time", None])
def test_only_a_utc_label_names_a_fire_time(label: str | None) -> None:
    from smsops.schedule.occurrences import fire_of

    assert fire_of(label) is None
