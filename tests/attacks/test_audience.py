"""Hostile audiences: CSV headers that do not fit the templates, unreadable sources, exclusions.

The CSV headers are read once (`smsops.audience.headers`) and handed to the
template checks as an argument. Each case writes one config and runs it
through `validate`, `plan --format markdown` (the PR comment) and `render`:
every run refuses it with the error where it is written, blames nothing
else for it (a source that cannot be read is not also reported as lacking
the template's variables), and prints no full number.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.attacks.harness import BASE_NUMBERS, BASE_PROVIDERS, run_cli, write_config
from tests.attacks.test_files import TEMPLATES_AND_SCHEDULE as REST

AUDIENCES = """\
audiences:
  people:
    source: people.csv
    exclude: [optouts]
  optouts:
    source: optouts.csv
"""
COMMANDS = (["validate"], ["plan", "--format", "markdown"], ["render"])
PEOPLE_SOURCE = r"audiences\.yaml:3:13"
OPTOUTS_SOURCE = r"audiences\.yaml:6:13"
SCHEDULE = r"rest\.yaml:6:3"
OPTOUTS = "phone\n+447400123457\n"


@dataclass(frozen=True)
class Attack:
    name: str
    files: Mapping[str, str | bytes]
    located: str
    says: str
    # Text that must not appear: a second, wrong blame for the same fault.
    never: tuple[str, ...] = field(default=())


ATTACKS = [
    Attack(
        "csv-lacks-a-template-variable",
        {"people.csv": "phone,nom\n+447400123456,Sam\n", "optouts.csv": OPTOUTS},
        SCHEDULE,
        "needs name, which neither the schedule's vars nor audience 'people' provides",
    ),
    Attack(
        "missing-csv-is-not-also-blamed-for-variables",
        {"optouts.csv": OPTOUTS},
        PEOPLE_SOURCE,
        "does not exist",
        never=("needs name",),
    ),
    Attack(
        "undecodable-csv-header-is-not-also-blamed-for-variables",
        {"people.csv": b"ph\xffne,name\n+447400123456,Sam\n", "optouts.csv": OPTOUTS},
        PEOPLE_SOURCE,
        "cannot read",
        never=("needs name",),
    ),
    Attack(
        "header-without-the-phone-column",
        {"people.csv": "mobile,name\n+447400123456,Sam\n", "optouts.csv": OPTOUTS},
        PEOPLE_SOURCE,
        "has no column 'phone'",
        never=("needs name",),
    ),
    Attack(
        "excluded-audience-without-the-phone-column",
        {"people.csv": "phone,name\n+447400123456,Sam\n", "optouts.csv": "mobile\n+447400123457\n"},
        OPTOUTS_SOURCE,
        "audience 'optouts'",
        never=("audience 'people':",),
    ),
    Attack(
        # It was accepted: the number read from the first `phone`, variables from the last.
        "csv-header-repeats-a-column",
        {
            "people.csv": "phone,name,phone\n+447400123456,Sam,+447400123458\n",
            "optouts.csv": OPTOUTS,
        },
        r"people\.csv:row 1",
        "column 'phone' appears 2 times in the header (columns 1 and 3)",
    ),
    Attack(
        "csv-header-repeats-a-column-in-an-excluded-audience",
        {
            "people.csv": "phone,name\n+447400123456,Sam\n",
            "optouts.csv": "phone,phone\n+447400123457,+447400123457\n",
        },
        r"optouts\.csv:row 1",
        "audience 'optouts': ",
    ),
    Attack(
        # An opt-out list in national format without `default_region` excluded nobody,
        # and validate said valid: its rows were dropped as invalid numbers.
        "excluded-audience-row-that-does-not-parse",
        {"people.csv": "phone,name\n+447400123456,Sam\n", "optouts.csv": "phone\n07400 123457\n"},
        r"optouts\.csv:row 2",
        "set default_region on audience 'optouts' or write the number as +E.164",
    ),
    Attack(
        "excluded-inline-contact-that-does-not-parse",
        {
            "people.csv": "phone,name\n+447400123456,Sam\n",
            "audiences.yaml": AUDIENCES.replace(
                "    source: optouts.csv\n", '    contacts:\n      - phone: "07400 123457"\n'
            ),
        },
        r"audiences\.yaml:7:9",
        "would exclude nobody in its place",
    ),
    Attack(
        "empty-csv",
        {"people.csv": "", "optouts.csv": OPTOUTS},
        PEOPLE_SOURCE,
        "is empty; it needs a header row",
    ),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_an_audience_that_does_not_fit_is_refused_where_it_is_written(
    tmp_path: Path, attack: Attack
) -> None:
    files = {"providers.yaml": BASE_PROVIDERS, "rest.yaml": REST, "audiences.yaml": AUDIENCES}
    config = write_config(tmp_path, {**files, **attack.files})
    with ThreadPoolExecutor(len(COMMANDS)) as pool:
        runs = [pool.submit(run_cli, [*c, str(config)], cwd=tmp_path) for c in COMMANDS]
        outcomes = [run.result() for run in runs]
    for outcome in outcomes:
        outcome.assert_safe(code=1, located=attack.located, numbers=BASE_NUMBERS)
        assert attack.says in outcome.output, outcome.output[-2000:]
        for wrong in attack.never:
            assert wrong not in outcome.output, outcome.output[-2000:]
