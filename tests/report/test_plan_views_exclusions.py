"""Every view of a plan says how many recipients each exclusion removed.

An opt-out list that removes nobody (the wrong file, a PR that empties it) is
then seen in the PR comment, not only when someone complains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsops.cli import main
from tests.attacks.harness import BASE_PROVIDERS, write_config
from tests.attacks.test_files import TEMPLATES_AND_SCHEDULE

AUDIENCES = """\
audiences:
  people:
    source: people.csv
    exclude: [optouts, blocked]
  optouts:
    source: optouts.csv
  blocked:
    contacts:
      - {phone: "+447400999999"}
"""
PEOPLE = "phone,name\n+447400123456,Sam\n+447400123457,Ann\n+447400123458,Bob\n"
OPTOUTS = "phone\n+447400123457\n+447400123458\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    files = {
        "providers.yaml": BASE_PROVIDERS,
        "rest.yaml": TEMPLATES_AND_SCHEDULE,
        "audiences.yaml": AUDIENCES,
        "people.csv": PEOPLE,
        "optouts.csv": OPTOUTS,
    }
    return write_config(tmp_path, files)


def _plan(config: Path, view: str, capsys: pytest.CaptureFixture[str]) -> str:
    ledger = str(config.parent / "ledger.sqlite")
    assert main(["plan", str(config), "--format", view, "--ledger", ledger]) in (0, 2)
    return capsys.readouterr().out


def test_json_counts_each_exclusion(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = json.loads(_plan(config, "json", capsys))
    (greet,) = plan["schedules"]
    assert greet["exclusions"] == {"optouts": 2, "blocked": 0}
    assert greet["to_send"] == 1


def test_text_counts_each_exclusion(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _plan(config, "text", capsys)
    assert "excluded: 2 by optouts, 0 by blocked" in out


def test_markdown_counts_each_exclusion(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _plan(config, "markdown", capsys)
    assert "- excluded: 2 by `optouts`, 0 by `blocked`" in out
