"""`smsops status`: the view in a terminal (80 columns, inert) and as versioned JSON that the
committed schemas/status.schema.json accepts, checked by a JSON Schema validator with formats."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
from jsonschema import FormatChecker

from smsops.cli import main
from smsops.core.terminal import BIDI_CONTROLS
from smsops.engine.status import STATUS_VERSION, status_schema
from smsops.ledger.base import Status
from smsops.ledger.sqlite import SqliteLedger
from smsops.ledger.suppressions import OptAction, OptEvent
from tests.ledger.seeding import NOW, generated, row, write
from tests.ledger.status_config import CONFIG, SCHEDULES, status_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "status.schema.json"
OCCURRENCE = "2027-03-01T09:00:00+00:00"
# Names a config cannot hold but a ledger row can (written by another tool, a reserved
# name, a damaged file): terminal escapes, bidi, a shell command, a newline, markup.
HOSTILE = [
    "evil\x1b]52;c;aGk=\x07\x1b[2J",
    "\u202eyllaer\u202c; rm -rf ~",
    "$(touch /tmp/pwned)'`x`\"",
    "two\nlines\rover\x9b31m",
    "<script>alert(1)</script>",
]
TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    path = tmp_path / "l.sqlite"
    ledger = SqliteLedger(path)
    write(ledger, generated(7, SCHEDULES, 300))
    write(ledger, [row(name, OCCURRENCE, "+15550000009", Status.UNCERTAIN) for name in HOSTILE])
    write(ledger, [row("alpha", name, "+15550000009", Status.UNCERTAIN) for name in HOSTILE])
    ledger.opt([OptEvent("+15550001234", OptAction.OUT, NOW, "sky", "STOP")])
    ledger.close()
    return path


def _status(tmp_path: Path, ledger: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    status_config(tmp_path)
    code = main(["status", str(tmp_path / "config"), "--ledger", str(ledger), "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _assert_inert(text: str) -> None:
    """No control a terminal obeys, no bidi control, no full number."""
    assert TERMINAL.search(text.replace("\n", "")) is None
    assert not any(chr(c) in text for c in BIDI_CONTROLS)
    assert "5550001234" not in text
    assert "5550000009" not in text


def test_committed_schema_equals_generated() -> None:
    assert SCHEMA_FILE.read_text() == status_schema(), (
        "schemas/status.schema.json is out of date: run "
        "`python -c 'from smsops.engine.status import status_schema; print(status_schema(), "
        'end="")\' > schemas/status.schema.json`'
    )


def test_json_output_validates_against_the_committed_schema_with_formats(
    tmp_path: Path,
    ledger_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SKY_KEY", "k")
    data = json.loads(_status(tmp_path, ledger_file, "json", capsys))
    schema = json.loads(SCHEMA_FILE.read_text())
    checker = FormatChecker()
    assert "date-time" in checker.checkers  # formats are checked, not ignored
    validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []
    assert data["version"] == STATUS_VERSION
    assert [s["name"] for s in data["schedules"]] == SCHEDULES
    broken = {**data, "generated_at": "yesterday"}
    assert not validator.is_valid(broken)  # the format check bites


def test_hostile_names_stay_inert_in_json(
    tmp_path: Path, ledger_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _status(tmp_path, ledger_file, "json", capsys)
    _assert_inert(text)
    uncertain = json.loads(text)["needs_person"]["uncertain"]
    names = {(u["schedule"], u["occurrence"]) for u in uncertain}
    assert {(n, OCCURRENCE) for n in HOSTILE} <= names  # the same values, read back exactly
    assert {("alpha", n) for n in HOSTILE} <= names
    for group in uncertain:  # each command is one command, its values quoted
        words = shlex.split(group["resolve_sent"])
        assert words[:5] == ["smsops", "ledger", "resolve", "--as", "sent"]
        assert words[words.index("--schedule") + 1] == group["schedule"]
        assert words[words.index("--occurrence") + 1] == group["occurrence"]


def test_hostile_names_stay_inert_in_text(
    tmp_path: Path, ledger_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _status(tmp_path, ledger_file, "text", capsys)
    _assert_inert(text)
    assert "\\x1b]52" in text  # shown, escaped: the reader sees what is there
    assert "<U+202E>" in text
    assert "+1 55** ***234" in text


def test_text_fits_80_columns_and_says_what_needs_a_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = Path("l.sqlite")
    ledger = SqliteLedger(path)
    write(ledger, generated(8, SCHEDULES, 300))
    ledger.close()
    text = _status(tmp_path, path, "text", capsys)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "Needs a person" in text
    assert "alpha: HELD" in text  # SKY_KEY is not set here: held, as the runner holds it
    # and says it is this environment's: no round recorded it (an operator's laptop has no
    # provider keys; `held (secret)` alone read as if the daemon held it)
    assert "held (secret, in this environment): SKY_KEY of provider sky is not set" in text
    assert "gamma-2: disabled" in text
    commands = re.findall(r"smsops ledger resolve(?:.*\\\n)*.*", text)
    assert commands
    for command in commands:  # the continued lines paste as one command
        words = shlex.split(command.replace("\\\n", " "))
        assert words[words.index("--ledger") + 1] == str(path)


def test_a_ledger_that_is_not_there_is_an_error_not_an_empty_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --ledger must not read as "no sends yet": it names the path, exit 1
    as the ledger commands do."""
    status_config(tmp_path)
    missing = tmp_path / "typo.sqlite"
    code = main(["status", str(tmp_path / "config"), "--ledger", str(missing)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert "no ledger at" in err
    assert "typo.sqlite" in err
    assert not missing.exists()


@pytest.mark.parametrize("audience", ["missing", "unreadable"])
def test_status_reads_the_ledger_alone_never_an_audience(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], audience: str
) -> None:
    """An audience file that is not there (or cannot be read) still gives the full view:
    holds and skips are what the rounds recorded in the ledger, not a plan made now."""
    config = tmp_path / "config"
    config.mkdir()
    people = '    contacts:\n      - {phone: "+15550000001", order: "1"}\n'
    source = config / "people.csv"
    if audience == "unreadable":
        source.mkdir()  # a folder where the file should be: no one can read it as a CSV
    yaml = CONFIG.replace(people, "    source: people.csv\n")
    assert yaml != CONFIG
    (config / "c.yaml").write_text(yaml)
    path = tmp_path / "l.sqlite"
    ledger = SqliteLedger(path)
    write(ledger, [row("alpha", OCCURRENCE, "+15550000009", Status.FAILED)])
    down = "provider 'sky' unreachable: 12 requests, none answered (connection refused)"
    ledger.note_holds(
        {"beta": ("guardrail", "max_recipients 2: this plan sends 3"), "alpha": ("provider", down)},
        NOW,
    )
    # two shards' plans of the occurrence (units): status sums them
    ledger.note_skips({("alpha", OCCURRENCE, 0): {"opted_out": 2, "invalid_number": 1}})
    ledger.note_skips({("alpha", OCCURRENCE, 3): {"opted_out": 1}})
    ledger.close()
    assert main(["status", str(config), "--ledger", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    alpha, beta = data["schedules"][0], data["schedules"][1]
    assert alpha["recent"][0]["counts"]["failed"] == 1
    assert alpha["recent"][0]["counts"]["skipped"] == 4
    assert alpha["recent"][0]["skips"] == {"invalid_number": 1, "opted_out": 3}
    assert [h["reason"] for h in beta["held"]] == ["guardrail", "secret"]
    assert [h["reason"] for h in alpha["held"]] == ["provider", "secret"]
    assert alpha["held"][0]["detail"] == down
    jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()), format_checker=FormatChecker())
    assert main(["status", str(config), "--ledger", str(path)]) == 0
    out = capsys.readouterr().out
    assert "skipped 4: invalid number 1, opted out 3" in out
    assert "held (guardrail since 2027-03-01 09:00:00Z): max_recipients 2" in out
    assert f"held (provider since 2027-03-01 09:00:00Z): {down}" in out
