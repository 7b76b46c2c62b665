"""The `smsops` command's entry: `main`, then the survivors frozen for a cheap exit."""

from __future__ import annotations

import gc
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from smsops import cli

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_returns_mains_code_and_freezes_what_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "main", lambda: 7)
    assert gc.get_freeze_count() == 0
    try:
        assert cli.console() == 7
        assert gc.get_freeze_count() > 0  # the exit's collection skips them
    finally:
        gc.unfreeze()


def test_an_exit_from_argparse_freezes_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["smsops", "--help"])
    try:
        with pytest.raises(SystemExit):
            cli.console()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_main_itself_freezes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    # Tests (and anything else) call main in process: a freeze there would keep
    # every later cycle out of collection.
    assert cli.main(["schema"]) == 0
    assert capsys.readouterr().out
    assert gc.get_freeze_count() == 0


def test_the_installed_command_and_python_m_both_go_through_console() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["smsops"] == "smsops.cli:console"
    assert "console()" in (ROOT / "smsops" / "__main__.py").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "smsops", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
