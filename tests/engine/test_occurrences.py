"""Fire times are computed from a given time, in the trigger's zone, never the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.config.models import Schedule
from smsops.engine.occurrences import next_fire, occurrence_label
from smsops.engine.preview import preview
from smsops.engine.project import load_project


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
    assert past.occurrence == "none (no fire time after --at)"
    assert once.occurrence == "once"
