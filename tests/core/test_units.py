from __future__ import annotations

from datetime import timedelta

import pytest

from smsops.core.units import Rate, format_duration, parse_duration, parse_rate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10s", timedelta(seconds=10)),
        ("500ms", timedelta(milliseconds=500)),
        ("2h", timedelta(hours=2)),
        ("90m", timedelta(minutes=90)),
        ("5min", timedelta(minutes=5)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "ten s", "10 seconds", "s10", "1h junk"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["10s", "2h", "1h30m", "500ms", "1d", "1d2h3m4s"])
def test_format_duration_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("text", "per_second", "shown"),
    [
        ("20/s", 20.0, "20/s"),
        ("600/min", 10.0, "600/min"),
        ("3600/h", 1.0, "3600/h"),
        ("2.5 / s", 2.5, "2.5/s"),
    ],
)
def test_parse_rate(text: str, per_second: float, shown: str) -> None:
    rate = parse_rate(text)
    assert rate.per_second == per_second
    assert str(rate) == shown


@pytest.mark.parametrize("text", ["20", "fast", "0/s", "20/week", "/s"])
def test_parse_rate_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


def test_rate_is_a_value() -> None:
    assert Rate(20, 1) == parse_rate("20/s")


@pytest.mark.parametrize("text", ["9999999999d", "1" * 400 + "s", "101000000h"])
def test_durations_past_a_century_are_refused_not_overflowed(text: str) -> None:
    with pytest.raises(ValueError, match="far too long for a duration"):
        parse_duration(text)
