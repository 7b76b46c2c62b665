"""Saved plans: `plan --out FILE`, `show FILE`, `apply --plan FILE`, over the sandbox.

The reviewed plan is what goes out: exactly its sends, each once; nothing when
the config's files changed since (the drift named), when the plan was made
against another ledger, or when it is older than `--max-age`; a plan file is
hostile input and is refused cleanly whatever it holds.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from smsops.cli import main
from smsops.engine import saved_plan
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import ledger_counts, numbers, write_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = str(ROOT / "examples" / "configs")
AT = "2026-11-22T18:30:00Z"  # order-shipped (once) and the 18:00 Lisbon reminder are due


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def received(sandbox: Sandbox) -> list[str]:
    """The numbers the sandbox was sent, one per message."""
    return sorted(str(m["recipient"]) for m in sandbox.state.snapshot())


def plan_out(config: Path, ledger: Path | str, out: Path) -> None:
    assert main(["plan", str(config), "--ledger", str(ledger), "--out", str(out)]) == 0


def apply_plan(config: Path, ledger: Path | str, plan: Path, *extra: str) -> int:
    return main(
        ["apply", str(config), "--yes", "--ledger", str(ledger), "--plan", str(plan), *extra]
    )


def test_the_plan_file_holds_every_planned_send_masked_and_private(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c", sandbox, 3)
    out = tmp_path / "plan.json"
    plan_out(config, tmp_path / "l.sqlite", out)
    assert "plan file written to" in capsys.readouterr().err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    for number in numbers(3):
        assert number not in text  # masked, as every view
    saved = json.loads(text)
    assert saved["format"] == "smsops-plan"
    assert saved["version"] == 1
    assert saved["ledger"] == "sqlite:///" + str((tmp_path / "l.sqlite").resolve())
    assert set(saved["config"]["files"]) == {"smsops.yaml", "people.csv"}
    assert [s["schedule"] for s in saved["sends"]] == ["greet"] * 3
    assert {s["providers"][0] for s in saved["sends"]} == {"ot"}
    assert all(len(s["key"]) == 32 and len(s["text_hash"]) == 64 for s in saved["sends"])
    assert sorted(s["recipient"] for s in saved["sends"]) == [
        "+44 74** ***000",
        "+44 74** ***001",
        "+44 74** ***002",
    ]


def test_apply_plan_sends_exactly_the_planned_sends_each_once(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c", sandbox, 3)
    ledger, out = tmp_path / "l.sqlite", tmp_path / "plan.json"
    plan_out(config, ledger, out)
    assert apply_plan(config, ledger, out) == 0
    assert received(sandbox) == numbers(3)
    assert ledger_counts(ledger) == {"sent": 3}
    capsys.readouterr()
    assert apply_plan(config, ledger, out) == 0  # the same plan again: all sent already
    assert received(sandbox) == numbers(3)
    assert "3 of the plan's sends are already settled" in capsys.readouterr().out


def test_an_audience_change_after_the_plan_is_drift_and_nothing_is_sent(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c", sandbox, 3)
    ledger, out = tmp_path / "l.sqlite", tmp_path / "plan.json"
    plan_out(config, ledger, out)
    with (config / "people.csv").open("a") as csv:
        csv.write("+447499999999,Late\n")
    capsys.readouterr()
    assert apply_plan(config, ledger, out) == 1
    err = capsys.readouterr().err
    assert "people.csv changed since the plan" in err
    assert "--allow-drift" in err
    assert "Traceback" not in err
    assert received(sandbox) == []
    assert not ledger.exists() or ledger_counts(ledger) == {}


def test_allow_drift_sends_only_the_planned_sends_and_shows_that_count(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c", sandbox, 3)
    ledger, out = tmp_path / "l.sqlite", tmp_path / "plan.json"
    plan_out(config, ledger, out)
    with (config / "people.csv").open("a") as csv:
        csv.write("+447499999999,Late\n")
    capsys.readouterr()
    assert apply_plan(config, ledger, out, "--allow-drift") == 0
    assert received(sandbox) == numbers(3)  # not the row added after the plan
    captured = capsys.readouterr()
    assert "people.csv changed since the plan" in captured.err
    assert "1 send due now is not in the plan: not sent" in captured.out
    # 4 due now, 3 in the plan file: the count shown is what is sent, after the notes
    shown = captured.out
    assert "4 messages to send" not in shown
    assert f"Plan: 3 messages to send from the plan file {out} (3 segments; 4 due now)" in shown
    assert shown.index("not in the plan") < shown.index("Plan: 3") < shown.index("Applied:")


def test_a_text_changed_since_the_plan_is_not_sent_even_with_allow_drift(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    ledger, out = tmp_path / "l.sqlite", tmp_path / "plan.json"
    plan_out(config, ledger, out)
    yaml = config / "smsops.yaml"
    yaml.write_text(yaml.read_text().replace("'Hello {{ name }}'", "'Bye {{ name }}'"))
    capsys.readouterr()
    assert apply_plan(config, ledger, out) == 1
    assert "smsops.yaml changed since the plan" in capsys.readouterr().err
    assert apply_plan(config, ledger, out, "--allow-drift") == 1
    assert "2 planned sends read differently now: not sent" in capsys.readouterr().out
    assert received(sandbox) == []


def test_a_plan_made_against_another_ledger_is_refused(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    out = tmp_path / "plan.json"
    plan_out(config, tmp_path / "a.sqlite", out)
    capsys.readouterr()
    assert apply_plan(config, tmp_path / "b.sqlite", out) == 1
    err = capsys.readouterr().err
    assert "made against the ledger" in err
    assert "a.sqlite" in err
    assert "b.sqlite" in err
    assert received(sandbox) == []
    # the same ledger spelled another way is the same ledger
    other_spelling = f"sqlite:///{tmp_path}/x/../a.sqlite"
    assert apply_plan(config, other_spelling, out) == 0
    assert received(sandbox) == numbers(2)


def test_a_plan_past_its_age_is_refused(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    ledger, out = tmp_path / "l.sqlite", tmp_path / "plan.json"
    plan_out(config, ledger, out)
    saved = json.loads(out.read_text())
    saved["created"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    out.write_text(json.dumps(saved))
    capsys.readouterr()
    assert apply_plan(config, ledger, out) == 1
    assert "older than --max-age 1d" in capsys.readouterr().err
    assert received(sandbox) == []
    assert apply_plan(config, ledger, out, "--max-age", "bad") == 1
    assert "not a duration" in capsys.readouterr().err
    assert apply_plan(config, ledger, out, "--max-age", "2d") == 0
    assert received(sandbox) == numbers(2)


def test_a_plan_from_the_future_is_refused(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c", sandbox, 1)
    ledger, out = tmp_path / "l.sqlite", tmp_path / "plan.json"
    plan_out(config, ledger, out)
    saved = json.loads(out.read_text())
    saved["created"] = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    out.write_text(json.dumps(saved))
    capsys.readouterr()
    assert apply_plan(config, ledger, out, "--max-age", "30d") == 1
    assert "in the future" in capsys.readouterr().err
    assert received(sandbox) == []


def _valid(tmp_path: Path, sandbox: Sandbox) -> tuple[Path, dict[str, Any]]:
    config = write_config(tmp_path / "c", sandbox, 2)
    out = tmp_path / "valid.json"
    plan_out(config, tmp_path / "l.sqlite", out)
    return config, json.loads(out.read_text())


HOSTILE: dict[str, Any] = {
    "not json": b"this is not a plan",
    "truncated": lambda t: t[: len(t) // 2],
    "binary": bytes(range(256)),
    "a list": b"[1, 2, 3]",
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "too large": lambda d: {**d, "padding": " " * 2048},  # over the limit set below
    "unknown version": lambda d: {**d, "version": 99},
    "another format": lambda d: {**d, "format": "terraform"},
    "unknown field": lambda d: {**d, "extra": 1},
    "a key not hex": lambda d: {**d, "sends": [{**d["sends"][0], "key": "../../etc"}]},
    "a send twice": lambda d: {**d, "sends": [d["sends"][0], d["sends"][0]]},
    "a wrong type": lambda d: {**d, "sends": [{**d["sends"][0], "providers": "ot"}]},
    "a naive time": lambda d: {**d, "created": "2026-01-01T00:00:00"},
    "a file outside": lambda d: {**d, "config": {**d["config"], "files": {"../x": "0" * 64}}},
    "a full number": lambda d: {**d, "sends": [{**d["sends"][0], "recipient": "+447400000000"}]},
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_plan_file_is_refused_cleanly(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    config, saved = _valid(tmp_path, sandbox)
    if case == "too large":  # the limit is 256 MiB; the same check at a size a test can write
        monkeypatch.setattr(saved_plan, "MAX_PLAN_BYTES", len(json.dumps(saved)) + 1024)
    change = HOSTILE[case]
    if isinstance(change, bytes):
        content = change
    elif case == "truncated":
        content = change(json.dumps(saved).encode())
    else:
        content = json.dumps(change(saved)).encode()
    hostile = tmp_path / "hostile.json"
    hostile.write_bytes(content)
    capsys.readouterr()
    assert apply_plan(config, tmp_path / "l.sqlite", hostile) == 1
    assert main(["show", str(hostile)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{hostile}" in err
    assert "not a usable plan file" in err
    if case == "too large":
        assert "over the limit of" in err
    if case == "unknown version":
        assert "version 99" in err
        assert "version 1" in err
    assert received(sandbox) == []


def test_a_missing_plan_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(tmp_path / "nope.json")]) == 1
    assert main(["show", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cannot read" in err


def _examples_plan(tmp_path: Path) -> Path:
    out = tmp_path / "plan.json"
    args = ["plan", EXAMPLES, "--at", AT, "--ledger", str(tmp_path / "l.sqlite"), "--out"]
    assert main([*args, str(out)]) == 0
    saved = json.loads(out.read_text())
    saved["created"] = "2026-11-22T18:31:00Z"  # the wall clock, fixed for the snapshot
    saved["ledger"] = "sqlite:///TMP/l.sqlite"
    out.write_text(json.dumps(saved))
    os.chmod(out, 0o600)
    return out


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_show_renders_a_plan_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion, fmt: str
) -> None:
    out = _examples_plan(tmp_path)
    capsys.readouterr()
    assert main(["show", str(out), "--format", fmt]) == 0
    shown = capsys.readouterr().out.replace(str(ROOT) + "/", "")
    assert "+351 91** **678" in shown
    assert "+351912345678" not in shown
    assert shown == snapshot


def test_show_json_is_the_plan_file_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _examples_plan(tmp_path)
    capsys.readouterr()
    assert main(["show", str(out), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(out.read_text())


def test_report_writes_the_view_that_out_wrote_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "plan.md"
    args = ["plan", EXAMPLES, "--at", AT, "--ledger", str(tmp_path / "l.sqlite")]
    assert main([*args, "--format", "markdown", "--report", str(report)]) == 0
    assert report.read_text().startswith("<!-- smsops-plan -->")
    assert capsys.readouterr().out == ""


def test_show_markdown_of_a_huge_plan_stays_a_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """3,000 schedules of 100 sends: every count, but a comment GitHub takes."""
    out = _examples_plan(tmp_path)
    saved = json.loads(out.read_text())
    [send] = saved["sends"][:1]
    saved["sends"] = [
        {**send, "key": f"{i:032x}", "schedule": f"s{i // 100:04d}"} for i in range(300_000)
    ]
    saved["config"]["files"] = {f"f{i}.yaml": "0" * 64 for i in range(1000)}
    out.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["show", str(out), "--format", "markdown"]) == 0
    shown = capsys.readouterr().out
    assert len(shown) < 60_000
    assert "300,000 messages to send" in shown
    assert "... and 2,900 more groups (290,000 messages)" in shown
    assert "... and 950 more files" in shown


def _planned_with_now(tmp_path: Path, sandbox: Sandbox, count: int) -> tuple[Path, Path, Path]:
    """A config whose template prints the minute, planned to a file at 10:00."""
    config = write_config(tmp_path / "c", sandbox, count)
    yaml = config / "smsops.yaml"
    yaml.write_text(
        yaml.read_text().replace("'Hello {{ name }}'", "'Hello {{ name }} at {{ now.minute }}'")
    )
    ledger, out = tmp_path / "l.sqlite", tmp_path / "plan.json"
    at = ["--at", "2027-03-01T10:00:00Z"]
    assert main(["plan", str(config), "--ledger", str(ledger), "--out", str(out), *at]) == 0
    return config, ledger, out


def test_a_template_that_reads_now_is_not_drift_when_only_the_time_moved(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config, ledger, out = _planned_with_now(tmp_path, sandbox, 3)
    capsys.readouterr()
    assert apply_plan(config, ledger, out, "--at", "2027-03-01T10:07:00Z") == 0
    assert received(sandbox) == numbers(3)  # sent as reviewed: only `now` moved
    texts = sorted(str(m["text"]) for m in sandbox.state.snapshot())
    assert texts == ["Hello P0 at 7", "Hello P1 at 7", "Hello P2 at 7"]  # the time they go


def test_a_template_that_reads_now_and_changed_wording_is_still_caught(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config, ledger, out = _planned_with_now(tmp_path, sandbox, 2)
    yaml = config / "smsops.yaml"
    yaml.write_text(yaml.read_text().replace("Hello", "Bye"))
    capsys.readouterr()
    code = apply_plan(config, ledger, out, "--at", "2027-03-01T10:07:00Z", "--allow-drift")
    assert code == 1
    assert received(sandbox) == []


def test_a_sandbox_apply_of_a_plan_of_another_ledger_is_not_told_to_write_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan --out` plans against the real ledger; `apply --plan --sandbox` then refuses it.
    The refusal said "apply it with that --ledger": done, the sandbox's sends were written
    to the ledger of real sends as sent, and those messages would never reach anyone."""
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "real.sqlite"
    out = tmp_path / "plan.json"
    assert main(["plan", EXAMPLES, "--at", AT, "--ledger", str(real), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["apply", EXAMPLES, "--at", AT, "--sandbox", "--yes", "--plan", str(out)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "apply it with that --ledger" not in err
    assert "--sandbox sends to the emulator" in err
    assert "--ledger .smsops/sandbox-ledger.sqlite --out" in err
    assert not real.exists()
    # refused before the sandbox started, and nothing written: not even the sandbox's ledger
    assert "sandbox: every provider points at" not in err
    assert not (tmp_path / ".smsops").exists()
