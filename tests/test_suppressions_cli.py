"""`smsops suppressions list|add|remove|import|export`: the ledger's suppression list by hand."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.ledger.sqlite import SqliteLedger
from smsops.ledger.suppressions import OptAction

SAM, ANA = "+447400123456", "+12025550143"


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.sqlite")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["suppressions", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_remove_with_source_cli_and_masked_numbers(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "add", SAM, "07400 123457", "--region", "GB", "--ledger", ledger)[0] == 0
    code, out, _ = run(capsys, "list", "--ledger", ledger)
    assert code == 0
    assert SAM not in out
    assert "+44 74** ***456" in out
    assert "cli" in out
    assert SAM in run(capsys, "list", "--unmask", "--ledger", ledger)[1]
    assert run(capsys, "remove", SAM, "--ledger", ledger)[0] == 0
    opened = SqliteLedger(Path(ledger))
    try:
        assert opened.suppressed() == {"+447400123457"}
        assert [(e.action, e.source) for e in opened.opt_history(SAM)] == [
            (OptAction.OUT, "cli"), (OptAction.IN, "cli"),
        ]  # fmt: skip
    finally:
        opened.close()
    listed = json.loads(run(capsys, "list", "--history", "--format", "json", "--ledger", ledger)[1])
    assert [e["action"] for e in listed] == ["opt_out", "opt_out", "opt_in"]
    assert all("**" in e["number"] for e in listed)


def test_one_number_is_counted_in_the_singular(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "1 numbers added"."""
    assert run(capsys, "add", SAM, "--ledger", ledger)[1] == "1 number added, 0 unchanged\n"
    assert run(capsys, "remove", SAM, "--ledger", ledger)[1] == "1 number removed, 0 unchanged\n"
    one = tmp_path / "one.csv"
    one.write_text(f"phone\n{ANA}\n")
    said = run(capsys, "import", str(one), "--ledger", ledger)[1]
    assert said == "1 number added, 0 already on the list\n"
    said = run(capsys, "import", str(one), "--ledger", ledger)[1]
    assert said == "0 numbers added, 1 already on the list\n"


def test_a_bad_number_is_a_clear_error_and_nothing_is_written(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "add", SAM, "hello", "--ledger", ledger)
    assert code == 1
    assert "'hello': not a phone number" in err
    assert "Traceback" not in err
    assert not Path(ledger).exists()


def test_import_and_export_csv_with_row_numbered_errors(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(f"phone,name\n{SAM},Sam\n{ANA},Ana\n{SAM},again\n")
    code, out, _ = run(capsys, "import", str(good), "--ledger", ledger)
    assert code == 0
    assert "2 numbers added, 1 already on the list" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("number\n+447400123999\nnot-a-number\n\n12\n")
    code, _, err = run(capsys, "import", str(bad), "--column", "number", "--ledger", ledger)
    assert code == 1
    assert f"{bad}:3: not a phone number" in err
    assert f"{bad}:5: " in err
    assert "nothing was imported" in err
    missing = run(capsys, "import", str(bad), "--ledger", ledger)
    assert missing[0] == 1
    assert "no column 'phone'" in missing[2]
    code, out, _ = run(capsys, "export", "--unmask", "--ledger", ledger)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(r["number"] for r in rows) == sorted([SAM, ANA])
    assert {r["source"] for r in rows} == {"import"}
    masked = run(capsys, "export", "--ledger", ledger)[1]
    assert SAM not in masked
    assert ANA not in masked


def test_reading_a_missing_ledger_is_an_error(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "list", "--ledger", ledger)
    assert code == 1
    assert "no ledger at" in err


def test_ledger_stats_shows_the_delivery_rate(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from smsops.core.hooks import Delivery, Receipt
    from smsops.ledger.base import SendRecord, Status

    now = datetime(2026, 11, 22, 9, tzinfo=UTC)
    opened = SqliteLedger(Path(ledger))
    try:
        for n, number in enumerate(["+447400123450", "+447400123451", "+447400123452"]):
            record = SendRecord.claim(
                "promo", "once", number, provider="sky", template="t", text_hash="h",
                segments=1, now=now, claimed_by="r",
            )  # fmt: skip
            opened.claim([record])
            opened.settle([record.settled(Status.SENT, now, message_id=f"m{n}")])
        opened.receipts(
            [
                Receipt("sky", "m0", Delivery.DELIVERED, "N202"),
                Receipt("sky", "m1", Delivery.DELIVERED, "N202"),
                Receipt("sky", "m2", Delivery.UNDELIVERED, "E202"),
            ],
            now,
        )
    finally:
        opened.close()
    assert main(["ledger", "stats", "--ledger", ledger]) == 0
    out = capsys.readouterr().out
    assert "promo: delivered 2, undelivered 1 (delivery rate 66.7% of those with a final" in out
    assert main(["ledger", "list", "--status", "undelivered", "--ledger", ledger]) == 0
    assert "undelivered" in capsys.readouterr().out


def test_a_bad_number_is_never_echoed_in_full(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A national number without --region is someone's number: the error names it masked."""
    code, out, err = run(capsys, "add", SAM, "07400123459", "--ledger", ledger)
    assert code == 1
    assert "07400123459" not in out + err
    assert "7400123459" not in out + err
    assert "no country code" in err
    code, _, err = run(capsys, "remove", "+44" + "1" * 5000, "--ledger", ledger)
    assert code == 1
    assert "1" * 20 not in err


@pytest.mark.parametrize("region", ["gb", "GB"])
def test_region_is_read_as_in_a_config_in_any_case(
    region: str, ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "add", "07400123459", "--region", region, "--ledger", ledger)[0] == 0
    assert "+44 74** ***459" in run(capsys, "list", "--ledger", ledger)[1]


def test_an_unknown_region_is_named_as_such(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "add", "07400123459", "--region", "XX", "--ledger", ledger)
    assert code == 1
    assert "'XX' is not an ISO 3166 region code" in err
    assert "07400123459" not in err
    assert not Path(ledger).exists()


def test_import_refuses_a_fifo_without_blocking(ledger: str, tmp_path: Path) -> None:
    """The size check read st_size, 0 for a FIFO or a device: a FIFO blocked the import
    forever, and /dev/zero was read until the process was killed for its memory."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "numbers.fifo"
    os.mkfifo(fifo)
    # a child process, so an import that blocks (as before the fix) fails the test, not hangs it
    args = ["suppressions", "import", str(fifo), "--ledger", ledger]
    done = subprocess.run(
        [sys.executable, "-m", "smsops", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "is a FIFO (named pipe), not a regular file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not Path(ledger).exists()
