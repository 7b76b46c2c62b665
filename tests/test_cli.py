"""The CLI as a user meets it: exit codes, formats, and never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from smsops.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_validate_json_lists_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("templates:\n  t: {category: otp, bodyy: x}\n")
    assert main(["validate", str(config), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert {
        "file": str(config),
        "line": 2,
        "column": 22,
        "message": "template 't': unknown key 'bodyy' (did you mean 'body'?)",
    } in report["problems"]


def test_validate_json_when_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "examples" / "configs"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "valid": True,
        "files": 4,
        "providers": 4,
        "templates": 4,
        "audiences": 4,
        "schedules": 4,
        "warnings": [],
    }


def test_missing_config_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope")]) == 1
    assert "no such file or directory" in capsys.readouterr().err


def test_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 1
    assert "no *.yaml or *.yml files found" in capsys.readouterr().err


def test_hidden_folders_are_not_read(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("not: [valid\n")
    (tmp_path / "t.yaml").write_text("templates:\n  t: {category: otp, body: x}\n")
    assert main(["validate", str(tmp_path)]) == 0


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("providers:\n  ses: [\n")
    done = subprocess.run(
        [sys.executable, "-m", "smsops", "validate", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"{config}:3:1: YAML syntax error" in done.stderr


def test_usage_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["validate"])
    assert exited.value.code == 1


def test_render_examples_json(
    capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion
) -> None:
    examples = str(ROOT / "examples" / "configs")
    assert main(["render", examples, "--at", "2026-11-22T09:00:00Z", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out.replace(str(ROOT) + "/", ""))
    assert report == snapshot
    # Never a full phone number in a report.
    assert "+447400123456" not in json.dumps(report)


def test_render_examples_text(
    capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion
) -> None:
    examples = str(ROOT / "examples" / "configs")
    assert (
        main(["render", examples, "--at", "2026-11-22T09:00:00Z", "--schedule", "order-shipped"])
        == 0
    )
    assert capsys.readouterr().out.replace(str(ROOT) + "/", "") == snapshot


def test_render_unknown_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(ROOT / "examples" / "configs"), "--schedule", "nope"]) == 1
    assert "no schedule named 'nope' (--schedule); the config has: 'order-shipped'" in (
        capsys.readouterr().err
    )


def test_render_refuses_invalid_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("templates:\n  t: {category: otp, body: '{{'}\n")
    assert main(["render", str(config)]) == 1
    assert f"{config}:2:28: template 't': Jinja syntax error" in capsys.readouterr().err


def test_bad_at_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["render", str(ROOT / "examples" / "configs"), "--at", "tomorrow"])
    assert "not an ISO 8601 time" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["ledger", "list", "--limit", "-5"],
        ["render", str(ROOT / "examples" / "configs"), "--samples", "-1"],
    ],
)
def test_a_negative_count_is_a_usage_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`ledger list --limit -5` printed only '... more rows; raise --limit', and
    `render --samples -1` was read as 0."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 1
    assert "must be a whole number, 0 or more" in capsys.readouterr().err
