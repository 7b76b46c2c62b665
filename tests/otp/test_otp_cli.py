"""`smsops otp send|verify` against the in-process sandbox, through the engine the API uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smsops.cli import main
from tests.otp.conftest import CONFIG, ENV, UK, write_config


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return write_config(tmp_path / "config", CONFIG)


def test_send_then_verify(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = ["--ledger", str(tmp_path / "l.sqlite")]
    send = ["otp", "send", str(config_dir), "--template", "login", "--to", UK, "--provider", "aoc"]
    assert main([*send, "--sandbox", *ledger]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"status": "sent", "provider": "aoc"}
    assert UK not in err
    assert "+44 74** ***456 received: Your ACME code is" in err
    code = re.search(r"code is (\d{6})", err).group(1)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    verify = ["otp", "verify", str(config_dir), "--to", UK, "--sandbox", *ledger]
    assert main([*verify, "--code", wrong]) == 1
    assert json.loads(capsys.readouterr().out)["attempts_left"] == 2
    assert main([*verify, "--code", code]) == 0
    assert json.loads(capsys.readouterr().out) == {"status": "approved", "provider": "aoc"}
    assert main([*verify, "--code", code]) == 1
    assert json.loads(capsys.readouterr().out) == {"status": "not_found"}
    assert main([*send, "--sandbox", *ledger]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "rate_limited"


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--template", "nope", "--to", UK], "no template named 'nope'"),
        (["--template", "login", "--to", "0740"], "E.164"),
        (["--template", "login", "--to", UK], "several providers"),
    ],
)
def test_bad_requests_are_one_line_errors(
    config_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    says: str,
) -> None:
    ledger = ["--ledger", str(tmp_path / "l.sqlite")]
    assert main(["otp", "send", str(config_dir), *extra, "--sandbox", *ledger]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert says in err
    assert "Traceback" not in err


def test_sandbox_without_ledger_writes_the_ledger_its_page_names(
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from smsops.cli.common import SANDBOX_LEDGER

    page = Path(__file__).resolve().parents[2] / "docs" / "commands" / "otp.md"
    assert f"`{SANDBOX_LEDGER}` unless `--ledger`" in page.read_text()
    monkeypatch.chdir(tmp_path)
    send = ["otp", "send", str(config_dir), "--template", "login", "--to", UK, "--provider", "aoc"]
    assert main([*send, "--sandbox"]) == 0
    capsys.readouterr()
    assert (tmp_path / SANDBOX_LEDGER).is_file()
