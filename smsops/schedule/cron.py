"""Cron text with Vixie cron's meaning, checked before `cronsim` computes its fire times.

`cronsim` (the implementation healthchecks.io runs) accepts more than
Vixie cron does: a seconds field, `L`, `LW`, `W` and `#`. A crontab that
works here must work in crontab, Kubernetes and GitHub Actions alike, so
those extensions are refused with a plain reason instead of being given a
meaning elsewhere unknown. What is left is parsed by `cronsim`:

- fields minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC,
  day of week 0-7 or SUN-SAT (0 and 7 are Sunday); lists, ranges and steps
  (`*/n`, `a-b/n`, `a/n` = `a-<field max>/n`; a step wider than its range
  keeps the range's start);
- day of month OR day of week when both are restricted (neither field
  starts with `*`), AND otherwise - Vixie's rule, which `cronsim` follows;
- `@hourly @daily @midnight @weekly @monthly @yearly @annually`.
"""

from __future__ import annotations

import re
from datetime import datetime

from cronsim import CronSim, CronSimError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_LENGTH = 200  # the longest sensible list is all 60 minutes, ~170 characters
FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_RANGES = {"minute": "0-59", "hour": "0-23", "day of month": "1-31"}
_RANGES |= {"month": "1-12 or JAN-DEC", "day of week": "0-7 or SUN-SAT, 0 and 7 are Sunday"}
# One list item: a start (`*`, a number or a name), an optional `-end`, an optional `/step`.
_ITEM = re.compile(r"^(\*|[0-9]+|[A-Z]{3})(?:-([0-9]+|[A-Z]{3}))?(?:/([0-9]+))?$")


class CronTextError(ValueError):
    """Cron text that is not a five-field Vixie crontab; the message says why, plainly."""


def normalise(text: str) -> str:
    """The five fields of `text` (aliases expanded, upper case), or `CronTextError`."""
    if len(text) > MAX_LENGTH:
        raise CronTextError(
            f"{len(text)} characters is far too long for a cron expression (at most {MAX_LENGTH})"
        )
    stripped = " ".join(text.split())
    if stripped.startswith("@"):
        expanded = ALIASES.get(stripped.lower())
        if expanded is None:
            raise CronTextError(
                f"unknown shortcut {stripped!r}; use one of {', '.join(ALIASES)} or five fields"
            )
        return expanded
    fields = stripped.upper().split(" ") if stripped else []
    if len(fields) != len(FIELDS):
        raise CronTextError(
            f"a cron expression has five fields (minute hour day-of-month month day-of-week), "
            f"this one has {len(fields)}; e.g. '0 9 * * MON-FRI'"
        )
    fields = [_check_field(name, field) for name, field in zip(FIELDS, fields, strict=True)]
    try:
        CronSim(" ".join(fields), datetime(2000, 1, 1))
    except CronSimError as exc:
        # cronsim's reasons are terse ("Bad day-of-month"): say what is allowed.
        raise CronTextError(f"{_explain(fields)} (cronsim: {exc})") from None
    return " ".join(fields)


def _check_field(name: str, field: str) -> str:
    """The field, checked item by item; `a-a/n` is rewritten to `a` (see below)."""
    names = _MONTHS if name == "month" else _DAYS if name == "day of week" else []
    items = []
    for item in field.split(","):
        match = _ITEM.match(item)
        if not match:
            extension = any(mark in item for mark in "#LW?") and not any(n in item for n in names)
            why = (
                "is a non-standard cron extension (L, W, # and ? are not Vixie cron)"
                if extension
                else "is not a number, a range a-b, or a step */n, a-b/n or a/n"
            )
            raise CronTextError(f"{name} field {field!r}: {item!r} {why}")
        for part in match.group(1, 2):
            if part and part.isalpha() and part not in names:
                allowed = f"; names here are {'-'.join((names[0], names[-1]))}" if names else ""
                raise CronTextError(
                    f"{name} field {field!r}: {part!r} is not allowed{allowed} "
                    f"(the field takes {_RANGES[name]})"
                )
        if match.group(3) is not None and int(match.group(3)) == 0:
            raise CronTextError(f"{name} field {field!r}: a step of 0 never advances")
        # cronsim 2.x reads a one-value range with a step (`4-4/3`) as `4/3`
        # (4 to the field's end); in Vixie cron it is just 4.
        start, end = (_value(part, names) for part in match.group(1, 2))
        if start is not None and start == end and match.group(3) is not None:
            item = match.group(1)
        items.append(item)
    return ",".join(items)


def _value(part: str | None, names: list[str]) -> int | None:
    if part is None or part == "*":
        return None
    return names.index(part) + (names is _MONTHS) if part.isalpha() else int(part)


def _explain(fields: list[str]) -> str:
    """Which field is out of range, and what that field takes."""
    for name, field in zip(FIELDS, fields, strict=True):
        probe = ["*"] * len(FIELDS)
        probe[FIELDS.index(name)] = field
        try:
            CronSim(" ".join(probe), datetime(2000, 1, 1))
        except CronSimError:
            return (
                f"{name} field {field!r} is out of range or a range runs backwards "
                f"(it takes {_RANGES[name]}; write a range low-high)"
            )
    return (
        "no month has that day (a day of month above 29 needs a month that has it, "
        "e.g. '0 9 30 2 *' never fires)"
    )
