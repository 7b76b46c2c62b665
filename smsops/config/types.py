"""Field types shared by the config models: durations, rates, secrets, names."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    Strict,
    ValidationInfo,
    WithJsonSchema,
)

from smsops.core.envref import WHOLE_REFERENCE
from smsops.core.reserved import reserved
from smsops.core.units import Rate, format_duration, parse_duration, parse_rate

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_NAME = re.compile(NAME_PATTERN)
_DURATION_SCHEMA = r"^(\d+(\.\d+)?(ms|min|s|m|h|d))+$"
_REFERENCE_SCHEMA = r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$"
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def check_name(name: str) -> str | None:
    """An error message when `name` cannot be a provider/template/audience/schedule name."""
    if _NAME.fullmatch(name):  # not .match: `$` also matches before a final newline
        return reserved(name)
    return f"{name!r} is not a valid name; use letters, digits, '_', '.' and '-'"


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, timedelta):  # a model built in code, not read from YAML
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        raise ValueError(f"write the unit: {value}s, {value}m or {value}h")
    # Anything else is refused here: pydantic would read `true` as 1 (a one-second window)
    # and a map or a list as "not a valid timedelta", which names no spelling to write.
    kinds = {dict: "a map", list: "a list", type(None): "null"}
    shown = str(value).lower() if isinstance(value, bool | float) else kinds.get(type(value))
    shown = shown or type(value).__name__
    raise ValueError(f"{shown} is not a duration; write e.g. 30s, 10m, 2h or 1d")


def _within(low: timedelta, high: timedelta) -> Callable[[Any], Any]:
    """A duration (see `_duration`) within [low, high], or an error naming the range.

    Configs are untrusted: an unbounded duration overflows date arithmetic
    (`9999999999d`) or makes a plan walk millions of fire times. The value is
    quoted as written: `0.0000001s` parses to 0, and `31d0.5s` spells as 31d.
    """

    def within(value: Any) -> Any:
        parsed = _duration(value)
        if not low <= parsed <= high:
            written = repr(value[:40]) if isinstance(value, str) else format_duration(parsed)
            raise ValueError(
                f"{written} is out of range: "
                f"write from {format_duration(low)} to {format_duration(high)}"
            )
        return parsed

    return within


def _duration_schema(low: timedelta, high: timedelta) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": _DURATION_SCHEMA,
        "description": f"from {format_duration(low)} to {format_duration(high)}",
        "examples": ["10s", "2h"],
    }


# The documented ranges (docs/schedules.md, Bounds).
WINDOW_RANGE = (timedelta(seconds=1), timedelta(days=31))
INTERVAL_RANGE = (timedelta(seconds=1), timedelta(days=366))
TIMEOUT_RANGE = (timedelta(milliseconds=100), timedelta(minutes=10))
_SPELLING = PlainSerializer(format_duration, return_type=str)
Window = Annotated[
    timedelta,
    BeforeValidator(_within(*WINDOW_RANGE)),
    _SPELLING,
    WithJsonSchema(_duration_schema(*WINDOW_RANGE)),
]
Interval = Annotated[
    timedelta,
    BeforeValidator(_within(*INTERVAL_RANGE)),
    _SPELLING,
    WithJsonSchema(_duration_schema(*INTERVAL_RANGE)),
]
Timeout = Annotated[
    timedelta,
    BeforeValidator(_within(*TIMEOUT_RANGE)),
    _SPELLING,
    WithJsonSchema(_duration_schema(*TIMEOUT_RANGE)),
]


# Slowest and fastest pacing a provider may ask for (messages per second).
RATE_RANGE = (1 / 3600, 10_000.0)


def _rate(value: Any) -> Any:
    if isinstance(value, str):
        rate = parse_rate(value)
        low, high = RATE_RANGE
        if not low <= rate.per_second <= high:
            raise ValueError(
                f"{value!r} is out of range: write from 1/h to 10000/s (messages per time)"
            )
        return rate
    if isinstance(value, Rate):
        return value
    raise ValueError("write a rate as messages per time, e.g. 20/s or 600/min")


RateLimit = Annotated[
    Rate,
    BeforeValidator(_rate),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?/(s|sec|min|m|h|hour)$"}),
]


NOT_HERE = (
    "${env:...} references are read only in a provider's credential fields and as the "
    "whole of its base_url, so a reviewer sees every other value: write this value itself"
)


class Credential:
    """The marker of a field that holds a credential: the only kind of field (with the
    whole of `base_url`) where a `${env:NAME}` reference is read (see ProviderBase)."""

    def __repr__(self) -> str:
        return "CREDENTIAL"


CREDENTIAL = Credential()


def _secret(value: Any) -> Any:
    if isinstance(value, str) and WHOLE_REFERENCE.match(value):
        return value
    raise ValueError(
        "secrets never live in YAML: write a reference like ${env:MY_API_KEY} "
        "and set that environment variable where smsops sends"
    )


# A credential: written as one `${env:NAME}` reference, never as the value itself.
SecretRef = Annotated[
    str,
    CREDENTIAL,
    BeforeValidator(_secret),
    WithJsonSchema({"type": "string", "pattern": _REFERENCE_SCHEMA}),
]


def _text(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) and "${" in value:
        # In a provider, `type` is its first field: validated already, it names the
        # provider type whose credential fields the message lists.
        kind = info.data.get("type") if isinstance(info.data, dict) else None
        if kind is None:
            raise ValueError(NOT_HERE)
        from smsops.config.providers import reference_rule  # the module imports this one

        raise ValueError(reference_rule(kind))
    return value


# Where a provider's requests go: a URL, or one whole `${env:NAME}` reference (the
# plan names it). ProviderBase checks it, naming the provider type's credential fields
# when it refuses a reference inside a URL.
BaseUrl = str

# A string the YAML holds as it is sent: never a `${env:NAME}` reference (see
# ProviderBase, which names the fields that may hold one).
Text = Annotated[str, BeforeValidator(_text)]


def _digits_string(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        # the value is not repeated: it may be a recipient's full number
        raise ValueError(
            "quote phone numbers and sender numbers (this one was read as a number, "
            "which drops a leading '+' or '0'): write it as \"...\""
        )
    return value


# Phone-like strings must be quoted in YAML so a leading '+' or '0' survives.
NumberText = Annotated[str, BeforeValidator(_digits_string), BeforeValidator(_text)]


def _clock(value: Any) -> Any:
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a time of day; write HH:MM, e.g. 21:00")
        return time(int(match.group(1)), int(match.group(2)))
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 21:00 as the sexagesimal number 1260.
        raise ValueError('quote times of day, e.g. "21:00"')
    return value


ClockTime = Annotated[
    time,
    BeforeValidator(_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"}),
]

Scalar = str | int | float | bool


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("write a number, e.g. 16 (true, false and quoted text are not numbers)")
    return value


# Every number of a config is strict, so YAML's `true` is not 1 and `"16"` is not 16:
# a count is a Count, a price a SegmentPrice (tests/config/test_strict_numbers.py
# walks the models for any other).
Count = Annotated[int, BeforeValidator(_number), Strict()]

# An amount of money (a cost limit), in a price's currency: finite, at most 10^9.
AMOUNT_MAX = 1e9
Amount = Annotated[
    float, Field(ge=0, le=AMOUNT_MAX, allow_inf_nan=False), Strict(), BeforeValidator(_number)
]

# Per segment, in the price's currency: finite and at most 10,000 (enough for
# currencies with small units; anything above is a typo or an attack).
PRICE_MAX = 10_000.0
SegmentPrice = Annotated[
    float, Field(ge=0, le=PRICE_MAX, allow_inf_nan=False), Strict(), BeforeValidator(_number)
]


def bounded_duration(low: timedelta, high: timedelta) -> Any:
    """A duration type refused outside [low, high] (its range in its schema and its errors)."""
    return Annotated[
        timedelta,
        BeforeValidator(_within(low, high)),
        _SPELLING,
        WithJsonSchema(_duration_schema(low, high)),
    ]
