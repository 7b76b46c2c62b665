"""Durations (`10s`, `2h`, `1h30m`) and rates (`20/s`, `600/min`) as written in configs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|min|s|m|h|d)")
# Years a date-time may have (config `at`/`start`, `--at`): outside them are typos or
# attacks, and date arithmetic near year 1 or 9999 overflows.
YEARS = (1970, 2199)
# Beyond any range a config allows, and well inside what timedelta holds.
_LONGEST_SECONDS = 100 * 366 * 86400
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_PERIOD = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_RATE_PERIOD |= {"h": 3600, "hour": 3600}


def parse_duration(text: str) -> timedelta:
    """Parse `500ms`, `10s`, `5m`, `2h`, `1d` or a combination such as `1h30m`."""
    compact = text.replace(" ", "")
    if not compact:
        raise ValueError("a duration cannot be empty; write e.g. 30s, 10m, 2h or 1d")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(compact):
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit (ms, s, m, h, d), "
            "e.g. 30s, 10m, 2h or 1h30m"
        )
    if not total < _LONGEST_SECONDS:  # also catches inf and nan from a thousand digits
        raise ValueError(f"{text[:40]!r} is far too long for a duration")
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """The shortest config spelling of a duration (the inverse of `parse_duration`)."""
    seconds = value.total_seconds()
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    parts: list[str] = []
    remaining = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class Rate:
    """At most `count` messages per `period` seconds."""

    count: float
    period: float

    @property
    def per_second(self) -> float:
        return self.count / self.period

    def __str__(self) -> str:
        unit = {1: "s", 60: "min", 3600: "h"}.get(int(self.period), f"{self.period}s")
        count = int(self.count) if self.count == int(self.count) else self.count
        return f"{count}/{unit}"


def parse_rate(text: str) -> Rate:
    """Parse `20/s`, `600/min` or `1000/h`."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate; write messages per time, e.g. 20/s or 600/min")
    count = float(match.group(1))
    if count <= 0:
        raise ValueError(f"{text!r}: a rate must be above zero")
    return Rate(count=count, period=_RATE_PERIOD[match.group(2)])
