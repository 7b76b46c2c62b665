"""Hostile schedule and provider values: durations, rates, prices, cron text and dates.

Each is a config from a pull request; each must be refused by `validate`
(and `plan`) within the time limit, at the line of the offending value,
with no traceback - never an OverflowError, a NaN reaching the cost
estimate, or a plan that walks millions of fire times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.attacks.harness import BASE_NUMBERS, BASE_PROVIDERS, BASE_REST, run_cli, write_config


@dataclass(frozen=True)
class Attack:
    name: str
    file: str  # "providers.yaml" or "rest.yaml"
    needle: str  # the hostile line as written, to find its line number
    replace: tuple[str, str]  # (old, new) in that file's base text
    says: str  # a regular expression the error must match
    command: str = "validate"


def scheduled(extra: str) -> tuple[str, str]:
    """Give the base schedule `extra` lines (a trigger, a window...)."""
    return ("    provider: ses\n", "    provider: ses\n" + extra)


def provider(extra: str) -> tuple[str, str]:
    """Give the base `sky` provider `extra` lines."""
    return ('    from: "12025550100"\n', '    from: "12025550100"\n' + extra)


ATTACKS = [
    Attack(
        "window overflowing timedelta",
        "rest.yaml",
        "window: 9999999999d",
        scheduled("    trigger: {cron: '0 9 * * *'}\n    window: 9999999999d\n"),
        r"far too long for a duration",
    ),
    Attack(
        "a thousand-digit window (float infinity)",
        "rest.yaml",
        "window: 1111",
        scheduled("    trigger: {cron: '0 9 * * *'}\n    window: " + "1" * 1000 + "s\n"),
        r"far too long for a duration",
    ),
    Attack(
        "window of ten years",
        "rest.yaml",
        "window: 3650d",
        scheduled("    trigger: {every: 1s}\n    window: 3650d\n"),
        r"'3650d' is out of range: write from 1s to 31d",
        "plan",
    ),
    Attack(
        "every second in a two-hour window",
        "rest.yaml",
        "window: 2h",
        scheduled("    trigger: {every: 1s}\n    window: 2h\n"),
        r"can hold 7200 fires of this trigger, more than 100",
        "plan",
    ),
    Attack(
        "every minute of a month",
        "rest.yaml",
        "window: 31d",
        scheduled("    trigger: {cron: '* * * * *', timezone: Europe/London}\n    window: 31d\n"),
        r"can hold \d+ fires of this trigger, more than 100",
    ),
    Attack(
        "every second in the default window",
        "rest.yaml",
        "trigger: {every: 1s}",
        scheduled("    trigger: {every: 1s}\n"),
        r"a window of 1h \(the default\) can hold 3600 fires",
    ),
    Attack(
        "window that is not a number",
        "rest.yaml",
        "window: .nan",
        scheduled("    trigger: {cron: '0 9 * * *'}\n    window: .nan\n"),
        r"nan is not a duration",
    ),
    Attack(
        "every below a microsecond",
        "rest.yaml",
        "every: 0.0000001ms",
        scheduled("    trigger: {every: 0.0000001ms}\n"),
        r"'0.0000001ms' is out of range: write from 1s to 366d",  # as written, not "0s"
    ),
    Attack(
        "a window just past its bound (its seconds' fraction)",
        "rest.yaml",
        "window: 31d0.5s",
        scheduled("    trigger: {cron: '0 9 * * *'}\n    window: 31d0.5s\n"),
        r"'31d0.5s' is out of range: write from 1s to 31d",  # not "31d is out of range"
    ),
    Attack(
        "price not a number",
        "providers.yaml",
        "price_per_segment: .nan",
        provider("    price_per_segment: .nan\n"),
        r"price_per_segment.*finite number",
        "plan",
    ),
    Attack(
        "price infinite",
        "providers.yaml",
        "price_per_segment: .inf",
        provider("    price_per_segment: .inf\n"),
        r"price_per_segment.*finite number",
    ),
    Attack(
        "price negative",
        "providers.yaml",
        "price_per_segment: -0.5",
        provider("    price_per_segment: -0.5\n"),
        r"greater than or equal to 0",
    ),
    Attack(
        "price absurd",
        "providers.yaml",
        "price_per_segment: 1.0e+300",
        provider("    price_per_segment: 1.0e+300\n"),
        r"less than or equal to 10000",
    ),
    Attack(
        "regional price not a number",
        "providers.yaml",
        "GB: .nan",
        provider("    price_per_segment:\n      default: 0.01\n      regions:\n        GB: .nan\n"),
        r"finite number",
    ),
    Attack(
        "rate past any provider",
        "providers.yaml",
        "rate_limit: 99999999999999/s",
        provider("    rate_limit: 99999999999999/s\n"),
        r"out of range: write from 1/h to 10000/s",
    ),
    Attack(
        "rate of a thousand digits",
        "providers.yaml",
        "rate_limit: 9999",
        provider("    rate_limit: " + "9" * 1000 + "/s\n"),
        r"out of range: write from 1/h to 10000/s",
    ),
    Attack(
        "timeout of years",
        "providers.yaml",
        "timeout: 99999h",
        provider("    timeout: 99999h\n"),
        r"out of range: write from 100ms to 10m",
    ),
    Attack(
        "max_in_flight infinite",
        "providers.yaml",
        "max_in_flight: .inf",
        provider("    max_in_flight: .inf\n"),
        r"max_in_flight",
    ),
    Attack(
        "cron garbage",
        "rest.yaml",
        "cron: \"'; rm -rf /",
        scheduled('    trigger:\n      cron: "\'; rm -rf / #"\n'),
        r"invalid cron expression",
    ),
    Attack(
        "cron with seven fields",
        "rest.yaml",
        "cron: '* * * * * * *'",
        scheduled("    trigger:\n      cron: '* * * * * * *'\n"),
        r"this one has 7",
    ),
    Attack(
        "cron as a 100 KB string",
        "rest.yaml",
        "cron: '1,1,1",
        scheduled("    trigger:\n      cron: '" + ",".join(["1"] * 50000) + " * * * *'\n"),
        r"\d+ characters is far too long for a cron expression \(at most 200\)",
    ),
    Attack(
        "cron extension",
        "rest.yaml",
        "cron: '0 9 LW * *'",
        scheduled("    trigger:\n      cron: '0 9 LW * *'\n"),
        r"non-standard cron extension",
    ),
    Attack(
        "cron that never fires",
        "rest.yaml",
        "cron: '0 9 31 2 *'",
        scheduled("    trigger:\n      cron: '0 9 31 2 *'\n"),
        r"no month has that day",
    ),
    Attack(
        "at in year 9999",
        "rest.yaml",
        "at: '9999-12-31T23:59:59'",
        scheduled("    trigger:\n      at: '9999-12-31T23:59:59'\n    window: 31d\n"),
        r"year 9999 is out of range",
        "plan",
    ),
    Attack(
        "start in year 1",
        "rest.yaml",
        "start: '0001-01-01T00:00:00'",
        scheduled("    trigger:\n      every: 1h\n      start: '0001-01-01T00:00:00'\n"),
        r"year 1 is out of range",
    ),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_hostile_schedule_values_are_refused_where_written(tmp_path: Path, attack: Attack) -> None:
    files = {"providers.yaml": BASE_PROVIDERS, "rest.yaml": BASE_REST}
    old, new = attack.replace
    assert old in files[attack.file]
    files[attack.file] = files[attack.file].replace(old, new, 1)
    config = write_config(tmp_path, files)
    line = next(
        number
        for number, text in enumerate(files[attack.file].splitlines(), start=1)
        if attack.needle in text
    )
    outcome = run_cli([attack.command, str(config)], cwd=tmp_path)
    outcome.assert_safe(
        code=1,
        located=rf"{re.escape(attack.file)}:{line}:\d+: ",
        numbers=BASE_NUMBERS,
        ledger=tmp_path / ".smsops" / "ledger.sqlite",
        max_seconds=20,
    )
    assert re.search(attack.says, outcome.output), outcome.output
    assert "nothing was sent" in outcome.output


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_plan_at_the_ends_of_time_is_a_usage_error(tmp_path: Path, at: str) -> None:
    rest = BASE_REST.replace(
        "    provider: ses\n",
        "    provider: ses\n    trigger: {cron: '0 9 * * *', timezone: Europe/London}\n",
    )
    config = write_config(tmp_path, {"providers.yaml": BASE_PROVIDERS, "rest.yaml": rest})
    outcome = run_cli(["plan", str(config), "--at", at], cwd=tmp_path)
    outcome.assert_safe(code=None, numbers=BASE_NUMBERS, max_seconds=20)
    assert outcome.code != 0
    assert "the year must be from 1970 to 2199" in outcome.output


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
def test_a_zone_file_that_is_not_a_zone_is_refused(tmp_path: Path, zone: str) -> None:
    """`localtime` would make one config fire at other times on another host."""
    from smsops.config.models import zone_info

    with pytest.raises(ValueError, match="unknown time zone"):
        zone_info(zone)
