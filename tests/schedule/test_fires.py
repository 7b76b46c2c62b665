"""Fire times by hand: Vixie cron's meaning, DST behaviour pinned, `every` and `at` in a zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from smsops.cli import main
from smsops.config.models import Trigger
from smsops.schedule.cron import CronTextError, normalise
from smsops.schedule.fires import fire_times

LONDON = ZoneInfo("Europe/London")


def fires(trigger: Trigger, after: str, count: int, zone: str = "UTC") -> list[str]:
    times = fire_times(trigger, ZoneInfo(zone))
    found, cursor = [], datetime.fromisoformat(after)
    while len(found) < count and (fire := times.next_after(cursor)) is not None:
        found.append(fire.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M"))
        cursor = fire
    return found


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        # 1 is Monday (APScheduler's from_crontab made it Tuesday).
        ("0 9 * * 1", ["Mon 2027-03-01 09:00", "Mon 2027-03-08 09:00"]),
        ("0 9 * * 1-5", ["Mon 2027-03-01 09:00", "Tue 2027-03-02 09:00"]),
        # Both day fields restricted: the 1st, the 15th OR any Monday.
        ("0 9 1,15 * 1", ["Mon 2027-03-01 09:00", "Mon 2027-03-08 09:00", "Mon 2027-03-15 09:00"]),
        # A day field starting with `*` makes it AND (Vixie): odd days that are Mondays.
        ("0 9 */2 * 1", ["Mon 2027-03-01 09:00", "Mon 2027-03-15 09:00", "Mon 2027-03-29 09:00"]),
        # 0 and 7 are both Sunday; 5-7 is Friday to Sunday.
        ("0 9 * * 7", ["Sun 2027-03-07 09:00", "Sun 2027-03-14 09:00"]),
        ("0 9 * * 0,7", ["Sun 2027-03-07 09:00", "Sun 2027-03-14 09:00"]),
        ("0 9 * * 5-7", ["Fri 2027-03-05 09:00", "Sat 2027-03-06 09:00", "Sun 2027-03-07 09:00"]),
        ("0 9 * * SUN-SAT", ["Mon 2027-03-01 09:00", "Tue 2027-03-02 09:00"]),
        ("0 9 * FEB,MAR mon", ["Mon 2027-03-01 09:00", "Mon 2027-03-08 09:00"]),
        # A step wider than its range keeps the start; a/n runs to the field's end.
        ("26-28/3 9 * * *", ["Mon 2027-03-01 09:26", "Tue 2027-03-02 09:26"]),
        ("50/5 9 * * *", ["Mon 2027-03-01 09:50", "Mon 2027-03-01 09:55", "Tue 2027-03-02 09:50"]),
        # A one-value range with a step is that value (cronsim alone would read 4/3).
        ("0 9 * * 4-4/3", ["Thu 2027-03-04 09:00", "Thu 2027-03-11 09:00"]),
        ("@daily", ["Tue 2027-03-02 00:00", "Wed 2027-03-03 00:00"]),
        ("@midnight", ["Tue 2027-03-02 00:00"]),
        ("@hourly", ["Mon 2027-03-01 09:00", "Mon 2027-03-01 10:00"]),
        ("@weekly", ["Sun 2027-03-07 00:00", "Sun 2027-03-14 00:00"]),
        ("@monthly", ["Thu 2027-04-01 00:00"]),
        ("@yearly", ["Sat 2028-01-01 00:00"]),
        ("@annually", ["Sat 2028-01-01 00:00"]),
    ],
)
def test_vixie_cron_semantics(cron: str, expected: list[str]) -> None:
    assert fires(Trigger(cron=cron), "2027-03-01T08:59:00+00:00", len(expected)) == expected


# Europe/London 2027: 01:00-01:59 is skipped on 28 March, repeated on 31 October.
@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        # A fixed-time job in the gap fires once, at the first minute after it (02:00 BST).
        (
            "30 1 * * *",
            "2027-03-27T12:00:00+00:00",
            ["Sun 2027-03-28 01:00", "Mon 2027-03-29 00:30"],
        ),
        (
            "0,30 1 * * *",
            "2027-03-27T12:00:00+00:00",
            ["Sun 2027-03-28 01:00", "Mon 2027-03-29 00:00"],
        ),
        # In the repeated hour it fires once, the first time (01:30 BST).
        (
            "30 1 * * *",
            "2027-10-30T12:00:00+00:00",
            ["Sun 2027-10-31 00:30", "Mon 2027-11-01 01:30"],
        ),
        # ... and from inside the second pass, not again that day.
        ("30 1 * * *", "2027-10-31T01:00:00+00:00", ["Mon 2027-11-01 01:30"]),
        # A job on real time (hour field `*`) fires in both passes, and skips nothing real.
        (
            "0 * * * *",
            "2027-10-30T23:30:00+00:00",
            ["Sun 2027-10-31 00:00", "Sun 2027-10-31 01:00", "Sun 2027-10-31 02:00"],
        ),
        (
            "*/30 * * * *",
            "2027-03-28T00:00:00+00:00",
            ["Sun 2027-03-28 00:30", "Sun 2027-03-28 01:00", "Sun 2027-03-28 01:30"],
        ),
        # 09:00 local across both changes.
        ("0 9 * * *", "2027-03-27T12:00:00+00:00", ["Sun 2027-03-28 08:00"]),
        ("0 9 * * *", "2027-10-30T12:00:00+00:00", ["Sun 2027-10-31 09:00"]),
    ],
)
def test_dst_behaviour_in_london(cron: str, after: str, expected: list[str]) -> None:
    assert fires(Trigger(cron=cron), after, len(expected), "Europe/London") == expected


def test_a_real_time_job_keeps_the_hour_across_a_half_hour_change() -> None:
    # Lord Howe goes from +11 to +10:30 at 02:00 local on 1 April 2029; cronsim
    # alone would fire at 12:30 local and skip 12:00 that day.
    local = [
        datetime.strptime(f, "%a %Y-%m-%d %H:%M").replace(tzinfo=UTC)
        for f in fires(
            Trigger(cron="0 * * * *"), "2029-04-01T00:10:00+00:00", 3, "Australia/Lord_Howe"
        )
    ]
    zone = ZoneInfo("Australia/Lord_Howe")
    assert [t.astimezone(zone).strftime("%H:%M") for t in local] == ["11:00", "12:00", "13:00"]


def test_every_whole_days_keep_the_wall_time_across_dst() -> None:
    # Anchored at midnight 2000-01-01 London: local midnight every day, GMT or BST.
    daily = Trigger(every="24h", timezone="Europe/London")
    assert fires(daily, "2027-03-27T12:00:00+00:00", 2, "Europe/London") == [
        "Sun 2027-03-28 00:00",  # 00:00 GMT
        "Sun 2027-03-28 23:00",  # 00:00 BST on the 29th
    ]
    weekly = Trigger(every="7d", start="2027-03-01T09:00:00", timezone="Europe/London")
    assert fires(weekly, "2027-03-20T00:00:00+00:00", 2, "Europe/London") == [
        "Mon 2027-03-22 09:00",
        "Mon 2027-03-29 08:00",
    ]
    # A start in the spring gap fires at the first minute after it, that day only.
    gap = Trigger(every="1d", start="2027-03-27T01:30:00", timezone="Europe/London")
    assert fires(gap, "2027-03-27T00:00:00+00:00", 3, "Europe/London") == [
        "Sat 2027-03-27 01:30",
        "Sun 2027-03-28 01:00",  # 02:00 BST
        "Mon 2027-03-29 00:30",  # 01:30 BST
    ]


def test_every_shorter_than_a_day_is_elapsed_time() -> None:
    # 60 real minutes apart: the repeated autumn hour gets both of its fires.
    hourly = Trigger(every="1h", start="2027-10-31T00:00:00", timezone="Europe/London")
    assert fires(hourly, "2027-10-30T23:30:00+00:00", 3, "Europe/London") == [
        "Sun 2027-10-31 00:00",
        "Sun 2027-10-31 01:00",
        "Sun 2027-10-31 02:00",
    ]
    # Not a whole number of days: elapsed time too.
    longer = Trigger(every="36h", start="2027-03-27T12:00:00", timezone="Europe/London")
    assert fires(longer, "2027-03-27T00:00:00+00:00", 2, "Europe/London") == [
        "Sat 2027-03-27 12:00",
        "Mon 2027-03-29 00:00",  # 36 real hours: 01:00 BST, not 00:00
    ]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2027-03-01T09:00:00", "Mon 2027-03-01 09:00"),
        ("2027-07-01T09:00:00", "Thu 2027-07-01 08:00"),
        ("2027-03-28T01:30:00", "Sun 2027-03-28 01:00"),  # skipped: the first minute after (02:00)
        ("2027-10-31T01:30:00", "Sun 2027-10-31 00:30"),  # repeated: the first pass
        ("2027-07-01T09:00:00+02:00", "Thu 2027-07-01 07:00"),  # an offset wins over the zone
    ],
)
def test_at_is_local_to_the_zone(at: str, expected: str) -> None:
    trigger = Trigger(at=at, timezone="Europe/London")
    assert fires(trigger, "2027-01-01T00:00:00+00:00", 2, "Europe/London") == [expected]


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 9 * *", "five fields"),
        ("0 0 9 * * *", "five fields"),
        ("@reboot", "unknown shortcut"),
        ("0 9 * * 8", "day of week field '8' is out of range"),
        ("60 9 * * *", "minute field '60' is out of range"),
        ("0 9 * * 5-1", "runs backwards"),
        ("0 9 L * *", "non-standard cron extension"),
        ("0 9 * * 1#2", "non-standard cron extension"),
        ("0 9 * * MON-FRX", "'FRX' is not allowed"),
        ("0 9 * JANUARY *", "is not a number, a range"),
        ("*/0 9 * * *", "a step of 0"),
        ("0 0 30 2 *", "no month has that day"),
        ("0 9 ? * *", "non-standard cron extension"),
        (",".join(["1"] * 101) + " * * * *", "far too long for a cron expression"),
    ],
)
def test_invalid_cron_text_says_why(cron: str, reason: str) -> None:
    with pytest.raises(CronTextError, match=reason):
        normalise(cron)


def test_invalid_cron_is_a_located_validate_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.yaml").write_text(
        "providers:\n  ot: {type: opentact, token: '${env:T}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: hi}\n"
        "audiences:\n  a: {contacts: [{phone: '+447400123456'}]}\n"
        "schedules:\n"
        "  s:\n    template: t\n    audience: a\n    provider: ot\n"
        "    trigger:\n      cron: '0 9 * * 8'\n"
    )
    assert main(["validate", str(tmp_path)]) == 1
    assert (
        f"{tmp_path / 'c.yaml'}:13:13: schedule 's': invalid cron expression '0 9 * * 8': "
        "day of week field '8' is out of range" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "trigger",
    [
        Trigger(cron="0 9 * * *", timezone="Europe/London"),
        Trigger(cron="*/5 * * * *", timezone="Europe/London"),
        Trigger(every="1h", timezone="Pacific/Kiritimati"),
        Trigger(at="2199-12-31T23:59:00", timezone="Pacific/Kiritimati"),
    ],
)
@pytest.mark.parametrize("after", [datetime.min, datetime.max])
def test_the_ends_of_time_give_no_fire_instead_of_overflowing(
    trigger: Trigger, after: datetime
) -> None:
    fire = fire_times(trigger, ZoneInfo(trigger.timezone)).next_after(after.replace(tzinfo=UTC))
    assert fire is None or fire.year >= 1970


def test_at_outside_the_years_is_refused() -> None:
    with pytest.raises(ValueError, match="year 9999 is out of range"):
        Trigger(at="9999-12-31T23:59:59")
