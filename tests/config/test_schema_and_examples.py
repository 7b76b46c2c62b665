"""The committed JSON Schema is current, and the examples are valid by it and by smsops."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from jsonschema import FormatChecker

from smsops.cli import main
from smsops.config.loader import config_files
from smsops.config.schema import schema_text
from smsops.config.yamlsource import load_file
from smsops.providers.registry import provider_models

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "configs"
SCHEMA_FILE = ROOT / "schemas" / "smsops.schema.json"


def test_committed_schema_equals_generated() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(provider_models()), (
        "schemas/smsops.schema.json is out of date: run `smsops schema > schemas/smsops.schema.json`"
    )


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(schema_text(provider_models()))


@pytest.mark.parametrize("path", config_files(EXAMPLES), ids=lambda p: p.name)
def test_examples_validate_against_schema(path: Path) -> None:
    data, _ = load_file(path)
    jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("path", config_files(EXAMPLES), ids=lambda p: p.name)
def test_examples_validate_against_schema_with_format_checks(path: Path) -> None:
    """What an editor does: formats checked too, so a `format: date-time` on `at`/`start`
    (RFC 3339 wants an offset) would flag the examples' local times."""
    data, _ = load_file(path)
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


def test_format_checks_are_active() -> None:
    """The check above would catch a date-time format: rfc3339-validator is installed."""
    checker = FormatChecker()
    assert "date-time" in checker.checkers
    assert not checker.conforms("2027-03-01T09:00:00", "date-time")  # local: no offset
    assert checker.conforms("2027-03-01T09:00:00+00:00", "date-time")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2027-03-01T09:00:00", True),
        ("2027-03-01 09:00", True),
        ("2027-03-01T09:00:00+05:30", True),
        ("2027-03-01T09:00:00Z", True),
        ("2027-03-01", True),
        ("next tuesday", False),
        ("2027-03-01T09:00:00 UTC", False),
    ],
)
def test_schema_takes_the_date_times_smsops_takes(value: str, valid: bool) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    trigger = {**schema["$defs"]["Trigger"], "$defs": schema["$defs"]}
    validator = jsonschema.Draft202012Validator(trigger, format_checker=FormatChecker())
    assert validator.is_valid({"at": value}) is valid
    assert validator.is_valid({"every": "1h", "start": value}) is valid


@pytest.mark.parametrize("path", config_files(EXAMPLES), ids=lambda p: p.name)
def test_examples_point_editors_at_the_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/smsops.schema.json"


def test_examples_validate_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "SES_TRANSACTIONAL_KEY",
        "SES_MARKETING_KEY",
        "SKYCORE_API_KEY",
        "OPENTACT_JWT",
        "AOC_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    assert main(["validate", str(EXAMPLES)]) == 0
    assert (
        "valid (4 files: 4 providers, 4 templates, 4 audiences, 4 schedules)"
        in capsys.readouterr().out
    )


def test_schema_rejects_what_smsops_rejects() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"providers": {"x": {"type": "aoc", "api_key": "plain"}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"templates": {"t": {"category": "otp", "body": "x", "bodyy": 1}}}, schema
        )
