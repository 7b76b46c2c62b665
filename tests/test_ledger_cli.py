"""`smsops ledger resolve`, the uncertain-row warnings of plan/apply, and exit 1 on every usage error."""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.cli import build_parser, main
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)
CONFIG = """\
providers:
  ot: {type: opentact, token: "${env:OT_TOKEN}", from: "+12017771234"}
templates:
  hello: {category: transactional, body: "Hello {{ name }}"}
audiences:
  people:
    contacts:
      - {phone: "+447400123456", name: Sam}
      - {phone: "+447400123457", name: Alex}
schedules:
  greet: {template: hello, audience: people, provider: ot}
  other: {template: hello, audience: people, provider: ot, enabled: false}
"""


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every command path the CLI has, e.g. ("ledger", "resolve")."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path
        return
    for name, child in subparsers[0].choices.items():
        yield from leaves(child, (*path, name))


COMMANDS = sorted(leaves(build_parser()))


def test_every_command_is_covered() -> None:
    assert ("plan",) in COMMANDS
    assert ("ledger", "resolve") in COMMANDS
    assert len(COMMANDS) >= 11


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_usage_error_exits_1_on_every_command(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--no-such-flag"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("usage: smsops")
    assert "error: " in err


@pytest.mark.parametrize("argv", [[], ["ledger"], ["nope"], ["--version-typo"]])
def test_a_missing_or_unknown_command_exits_1(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 1
    assert "error: " in capsys.readouterr().err


def test_help_and_version_still_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["--version"], ["ledger", "resolve", "--help"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
    assert "--reason" in capsys.readouterr().out


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, list[SendRecord]]:
    """A config and a ledger with two uncertain rows of greet, one of other, one sent."""
    config = tmp_path / "smsops.yaml"
    config.write_text(CONFIG)
    path = tmp_path / "ledger.sqlite"
    ledger = SqliteLedger(path)
    rows = [
        SendRecord.claim(
            schedule,
            occurrence,
            phone,
            provider="ot",
            template="hello",
            text_hash="h",
            segments=1,
            now=NOW,
        )
        for schedule, occurrence, phone in [
            ("greet", "once", "+447400123456"),
            ("greet", "once", "+447400123457"),
            ("other", "once", "+447400123456"),
            ("other", "2026-11-21T09:00:00Z", "+447400123456"),
        ]
    ]
    won = {r.key: r for r in ledger.claim(rows)}
    claimed = [won[r.key] for r in rows]  # claim answers in key order
    ledger.settle(r.settled(Status.UNCERTAIN, NOW, error="read timeout") for r in claimed[:3])
    ledger.settle([claimed[3].settled(Status.SENT, NOW, message_id="m")])
    ledger.close()
    return config, path, rows


def test_plan_and_apply_warn_until_a_person_decides(
    setup: tuple[Path, Path, list[SendRecord]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, ledger, _ = setup
    monkeypatch.delenv("OT_TOKEN", raising=False)
    flags = ["--ledger", str(ledger), "--at", "2026-11-22T10:00:00Z"]
    assert main(["plan", str(config), *flags, "--format", "json"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # the warning never mixes into the JSON
    warning = (
        "warning: 3 uncertain sends may or may not have gone out and wait for a decision "
        "(greet 2, other 1)"
    )
    assert warning in captured.err
    assert "smsops ledger resolve --as sent|failed --schedule NAME --reason TEXT" in captured.err
    assert main(["apply", str(config), *flags, "--dry-run"]) == 0
    assert warning in capsys.readouterr().err

    resolve = ["ledger", "resolve", "--ledger", str(ledger), "--reason", "seen in the dashboard"]
    assert main([*resolve, "--as", "sent", "--schedule", "greet"]) == 0
    assert capsys.readouterr().out == (
        "resolved 2 uncertain rows as sent (greet 2); the reason is kept in each row\n"
    )
    assert main([*resolve, "--as", "failed", "--schedule", "other", "--occurrence", "once"]) == 0
    out = capsys.readouterr().out
    assert "resolved 1 uncertain row as failed (other 1)" in out
    assert "sent again by the next apply while their window is open" in out

    assert main(["plan", str(config), *flags]) == 0
    assert "uncertain" not in capsys.readouterr().err


def test_resolve_keeps_reason_who_and_when_in_the_row(
    setup: tuple[Path, Path, list[SendRecord]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, ledger, rows = setup
    resolve = ["ledger", "resolve", "--ledger", str(ledger), "--as", "sent"]
    assert main([*resolve, "--key", rows[0].key, rows[1].key, "--reason", "  checked  "]) == 0
    capsys.readouterr()
    assert main(["ledger", "export", "--format", "jsonl", "--ledger", str(ledger)]) == 0
    exported = {row["key"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    decided = exported[rows[0].key]
    assert decided["status"] == "sent"
    assert decided["resolution"] == "checked"
    assert "@" in decided["resolved_by"]
    assert datetime.fromisoformat(decided["resolved_at"]) > NOW
    assert exported[rows[2].key]["resolution"] is None
    assert main(["ledger", "list", "--status", "sent", "--ledger", str(ledger)]) == 0
    listed = capsys.readouterr().out
    assert listed.count("resolved by ") == 2
    assert "+447400123456" not in listed  # masked as ever


@pytest.mark.parametrize(
    ("extra", "wanted"),
    [
        (["--as", "sent", "--occurrence", "once", "--key", "k"], "--occurrence needs --schedule"),
        (["--as", "sent", "--schedule", "greet", "--reason", " "], "--reason must say why"),
        (
            ["--as", "sent", "--schedule", "greet", "--reason", "x" * 1001],
            "--reason is 1,001 characters, over the 1,000 kept",
        ),
        (
            ["--as", "sent", "--schedule", "greet", "--reason", "seen\nin\tthe \u202edashboard"],
            "--reason holds control characters (\\n, \\t, <U+202E>)",
        ),
        (["--as", "sent", "--schedule", "nope"], "no uncertain rows match; nothing was changed"),
        (["--as", "sent", "--key", "0" * 32], f"{'0' * 32}: no such row in the ledger"),
    ],
)
def test_resolve_refusals_change_nothing(
    setup: tuple[Path, Path, list[SendRecord]],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    wanted: str,
) -> None:
    _, ledger, _ = setup
    reason = [] if "--reason" in extra else ["--reason", "x"]
    assert main(["ledger", "resolve", "--ledger", str(ledger), *extra, *reason]) == 1
    assert wanted in capsys.readouterr().err
    after = SqliteLedger(ledger, readonly=True)
    assert after.uncertain_counts() == {"greet": 2, "other": 1}
    after.close()


def test_a_reason_over_the_bound_stored_before_is_shown_clipped_and_exported_whole(
    setup: tuple[Path, Path, list[SendRecord]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger written before the bound (or by another tool) may hold a long reason: list
    shows its start and says how long it is; export keeps it whole; nothing crashes."""
    from smsops.ledger.base import Decision

    _, path, rows = setup
    ledger = SqliteLedger(path)
    long = "checked " + "y" * 99_992  # 100,000 characters
    ledger.resolve(Decision(Status.SENT, long, "ops@host", NOW), keys=[rows[0].key])
    ledger.close()
    assert main(["ledger", "list", "--status", "sent", "--ledger", str(path)]) == 0
    listed = capsys.readouterr().out
    assert "resolved by ops@host: checked yyy" in listed
    assert "... (100,000 characters; ledger export has them all)" in listed
    assert max(map(len, listed.splitlines())) < 1_200
    assert main(["ledger", "export", "--format", "jsonl", "--ledger", str(path)]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["resolution"] for r in exported if r["key"] == rows[0].key] == [long]


def test_resolve_never_creates_a_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.sqlite"
    argv = ["ledger", "resolve", "--as", "sent", "--schedule", "s", "--reason", "x"]
    assert main([*argv, "--ledger", str(missing)]) == 1
    assert "no ledger at" in capsys.readouterr().err
    assert not missing.exists()


def test_export_csv_keeps_provider_text_from_running_as_a_formula(
    setup: tuple[Path, Path, list[SendRecord]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A provider answer like `=HYPERLINK(...)` is data in the CSV, never a spreadsheet formula."""
    import csv
    import io

    _, path, _ = setup
    ledger = SqliteLedger(path)
    (row,) = ledger.claim(
        [
            SendRecord.claim(
                "evil",
                "once",
                "+447400123459",
                provider="ot",
                template="hello",
                text_hash="h",
                segments=1,
                now=NOW,
            )
        ]
    )
    ledger.settle([row.settled(Status.FAILED, NOW, error="=cmd|' /C calc'!A0")])
    ledger.close()
    capsys.readouterr()
    assert main(["ledger", "export", "--ledger", str(path), "--schedule", "evil"]) == 0
    (exported,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert exported["error"] == "'=cmd|' /C calc'!A0"
    assert exported["recipient"].startswith("+44")  # recipients keep their +


def _received(path: Path) -> None:
    """One sent row, then an undelivered receipt whose code and error are the provider's."""
    from smsops.core.hooks import Delivery, Receipt

    ledger = SqliteLedger(path)
    claim = SendRecord.claim(
        "heard", "once", "+447400123459", provider="ot", template="hello",
        text_hash="h", segments=1, now=NOW,
    )  # fmt: skip
    (row,) = ledger.claim([claim])
    ledger.settle([row.settled(Status.SENT, NOW, message_id="m-1")])
    receipt = Receipt(
        "ot", "m-1", Delivery.UNDELIVERED, "=cmd|' /C calc'!A0",
        error="=HYPERLINK(\"x\") +447400123459 is off", at=NOW,
    )  # fmt: skip
    assert [r.value for r in ledger.receipts([receipt], NOW)] == ["applied"]
    ledger.close()


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_export_of_a_row_with_a_receipt_is_data_masked_and_inert(
    setup: tuple[Path, Path, list[SendRecord]], form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receipt's time is written as ISO 8601 (it was a traceback), its error masked like the
    send's, and in a CSV the provider's words never run as a formula."""
    import csv
    import io

    _, path, _ = setup
    _received(path)
    capsys.readouterr()
    export = ["ledger", "export", "--format", form, "--ledger", str(path), "--schedule", "heard"]
    assert main(export) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if form == "jsonl":
        (row,) = map(json.loads, out.splitlines())
    else:
        (row,) = csv.DictReader(io.StringIO(out))
    assert row["receipt_at"] == NOW.isoformat()
    assert "7400123459" not in out
    assert "+44 74** ***459" in row["receipt_error"]
    if form == "csv":
        assert row["receipt_code"].startswith("'=")
        assert row["receipt_error"].startswith("'=")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("created_at", "yesterday"),
        ("updated_at", "22/11/2026 09:00"),
        ("updated_at", ""),
        ("resolved_at", "+447400123456"),  # a number where a time belongs: masked when shown
        ("created_at", "2026-11-22T09:00:00\x1b[2J"),
        ("key", "+447400123456"),  # a key that is a number (not smsops's): masked too
    ],
)
def test_a_row_whose_time_is_not_iso_8601_is_named_by_every_ledger_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, value: str
) -> None:
    """`ledger list|export|migrate` name the row and column as for an unknown status."""
    ledger = tmp_path / "l.sqlite"
    writer = SqliteLedger(ledger)
    (row,) = writer.claim(
        [
            SendRecord.claim(
                "greet",
                "once",
                "+447400123456",
                provider="ot",
                template="hello",
                text_hash="h",
                segments=1,
                now=NOW,
            )
        ]
    )
    writer.close()
    with sqlite3.connect(ledger) as db:
        if column == "key":  # the row is named by this key; its time is what is wrong
            db.execute(
                "UPDATE sends SET key = ?, updated_at = 'now' WHERE key = ?", (value, row.key)
            )
            column, shown = "updated_at", "'+44 74** ***456'"
        else:
            db.execute(f"UPDATE sends SET {column} = ? WHERE key = ?", (value, row.key))
            shown = repr(row.key)
    db.close()
    for command in (
        ["ledger", "list", "--ledger", str(ledger)],
        ["ledger", "export", "--ledger", str(ledger), "--out", str(tmp_path / "out.csv")],
        ["ledger", "migrate", "--from", str(ledger), "--to", str(tmp_path / "copy.sqlite")],
    ):
        assert main(command) == 1, command
        err = capsys.readouterr().err
        assert f"the ledger row {shown} has the {column} " in err, err
        assert "which is not an ISO 8601 time" in err
        assert "+447400123456" not in err
        assert "\x1b" not in err


LONG = "a" * 300  # past NAME_MAX: stat() itself fails, with ENAMETOOLONG


@pytest.mark.parametrize(
    "argv",
    [
        ["ledger", "stats"],
        ["ledger", "list"],
        ["ledger", "export"],
        ["plan", "examples/configs"],
        ["apply", "examples/configs", "--sandbox", "--yes"],
    ],
    ids=" ".join,
)
def test_a_ledger_path_the_file_system_refuses_is_an_error_not_a_traceback(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A too-long file name crashed every ledger command with OSError (review finding)."""
    location = str(tmp_path / LONG)
    assert main([*argv, "--ledger", location]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "File name too long" in err
    assert "--ledger" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_export_masks_numbers_in_a_resolution_as_list_does(
    setup: tuple[Path, Path, list[SendRecord]], form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A person's reason often names who was checked: `ledger list` masked it and `export`
    (masked unless --unmask, as documented) wrote it whole."""
    import csv
    import io

    _, path, _ = setup
    reason = "Twilio console shows +447400123457 delivered"
    resolve = ["ledger", "resolve", "--as", "sent", "--schedule", "greet", "--reason", reason]
    assert main([*resolve, "--ledger", str(path)]) == 0
    export = ["ledger", "export", "--format", form, "--schedule", "greet", "--ledger", str(path)]
    for unmask in (False, True):
        capsys.readouterr()
        assert main(export + (["--unmask"] if unmask else [])) == 0
        out = capsys.readouterr().out
        if form == "jsonl":
            rows = [json.loads(line) for line in out.splitlines()]
        else:
            rows = list(csv.DictReader(io.StringIO(out)))
        shown = {row["resolution"] for row in rows}
        assert shown == ({reason} if unmask else {"Twilio console shows +44 74** ***457 delivered"})
