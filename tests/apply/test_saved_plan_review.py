"""Saved plans, an outside review's findings: outputs that would overwrite the config,
full numbers in the recipient field, the ledger's location, guardrails in the file,
strict versions, --schedule with --plan, and bounded reading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat

from smsops.cli import main
from smsops.core.phone import mask
from smsops.engine import saved_plan
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import numbers, write_config
from tests.apply.test_saved_plan import apply_plan, plan_out, received, sandbox  # noqa: F401


def _plan(config: Path, tmp_path: Path, *extra: str) -> int:
    return main(["plan", str(config), "--ledger", str(tmp_path / "l.sqlite"), *extra])


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("flag", "name"),
    [
        ("--out", "people.csv"),
        ("--out", "smsops.yaml"),
        ("--report", "people.csv"),
        ("--report", "smsops.yaml"),
        ("--out", "new.yaml"),  # the loader would read it as config next time
        ("--report", "sub/other.yml"),
        ("--out", "sub/../people.csv"),  # another spelling of a config file
    ],
)
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_an_output_over_the_configs_own_files_is_refused(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    flag: str,
    name: str,
    fmt: str,
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    (config / "sub").mkdir()
    before = _contents(config)
    capsys.readouterr()
    assert _plan(config, tmp_path, flag, str(config / name), "--format", fmt) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "the config" in err
    if fmt == "markdown":  # the failure comment goes to stdout, not over the config's file
        assert "nothing was written" in out
    assert _contents(config) == before
    assert not (config / "sub").joinpath("other.yml").exists()


def test_an_output_symlinked_to_a_config_file_is_refused(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    link = tmp_path / "link.json"
    link.symlink_to(config / "people.csv")
    before = _contents(config)
    assert _plan(config, tmp_path, "--out", str(link)) == 1
    assert "people.csv" in capsys.readouterr().err
    assert _contents(config) == before


def test_a_json_file_beside_the_config_is_a_fine_output(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    assert _plan(config, tmp_path, "--out", str(config / "plan.json")) == 0
    assert json.loads((config / "plan.json").read_text())["format"] == "smsops-plan"


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_out_and_report_to_the_same_file_are_refused(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    spelling: str,
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    target = tmp_path / "x.json"
    other = {
        "same": target,
        "dotted": tmp_path / "d" / ".." / "x.json",
        "symlink": tmp_path / "alias.json",
    }[spelling]
    if spelling == "symlink":
        other.symlink_to(target)
    assert _plan(config, tmp_path, "--out", str(target), "--report", str(other)) == 1
    err = capsys.readouterr().err
    assert "--out and --report" in err
    assert not target.exists()


def _spellings(e164: str) -> list[str]:
    parsed = phonenumbers.parse(e164)
    formats = (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL)
    shown = [phonenumbers.format_number(parsed, f) for f in formats]
    return [*shown, e164.removeprefix("+"), f"{e164.removeprefix('+')} and more", f"x {e164}"]


def _examples() -> list[str]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return found


def test_the_recipient_field_takes_exactly_the_masked_form() -> None:
    """Every region's example numbers: each full spelling refused, each masked one taken."""
    examples = _examples()
    assert len(examples) > 400
    for e164 in examples:
        assert saved_plan.masked_recipient(mask(e164)) == mask(e164)
        for full in _spellings(e164):
            if len(full) <= 32:
                with pytest.raises(ValueError, match="masked"):
                    saved_plan.masked_recipient(full)
    for odd in ("+44 7400 123451", "447400123451 and more", "+44 74** ***123 +447400123451", ""):
        with pytest.raises(ValueError, match="masked"):
            saved_plan.masked_recipient(odd)


def _valid(tmp_path: Path, sandbox: Sandbox) -> tuple[Path, dict[str, Any]]:  # noqa: F811
    config = write_config(tmp_path / "c", sandbox, 2)
    out = tmp_path / "valid.json"
    plan_out(config, tmp_path / "l.sqlite", out)
    return config, json.loads(out.read_text())


@pytest.mark.parametrize(
    "recipient", ["+44 7400 123451", "447400123451 and more", "+44 7400123451"]
)
def test_a_full_number_in_the_plan_file_is_refused_by_show(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    recipient: str,
) -> None:
    _, saved = _valid(tmp_path, sandbox)
    saved["sends"][0]["recipient"] = recipient
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["show", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert "not a usable plan file" in err
    assert "123451" not in out + err


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_the_version_is_the_integer_1(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    version: object,
) -> None:
    _, saved = _valid(tmp_path, sandbox)
    saved["version"] = version
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["show", str(bad)]) == 1
    assert "this smsops reads version 1" in capsys.readouterr().err


def test_the_recorded_ledger_works_when_passed_back_from_anywhere(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    out = tmp_path / "plan.json"
    plan_out(config, tmp_path / "l.sqlite", out)
    recorded = json.loads(out.read_text())["ledger"]
    assert recorded == "sqlite:///" + str((tmp_path / "l.sqlite").resolve())
    capsys.readouterr()
    assert apply_plan(config, tmp_path / "other.sqlite", out) == 1
    err = capsys.readouterr().err
    assert recorded in err  # the advice: "apply it with that --ledger"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert apply_plan(config, recorded, out) == 0
    assert received(sandbox) == numbers(2)
    assert not (elsewhere / "tmp").exists()
    assert main(["show", str(out)]) == 0
    assert f"ledger   {recorded}" in capsys.readouterr().out


def _over_limits_plan(tmp_path: Path, sandbox: Sandbox) -> Path:  # noqa: F811
    config = write_config(tmp_path / "c", sandbox, 5)
    yaml = config / "smsops.yaml"
    yaml.write_text(
        yaml.read_text().replace("provider: ot}", "provider: ot, limits: {max_recipients: 3}}")
    )
    out = tmp_path / "plan.json"
    plan_out(config, tmp_path / "l.sqlite", out)
    return out


def test_a_saved_plan_carries_and_shows_what_needs_approval(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _over_limits_plan(tmp_path, sandbox)
    saved = json.loads(out.read_text())
    assert saved["needs_approval"] == [
        {
            "schedule": "greet",
            "limit": "max_recipients",
            "allowed": 3,
            "figure": 5,
            "detail": "this plan sends 5 messages",
        }
    ]
    capsys.readouterr()
    said = "greet: max_recipients 3: this plan sends 5 messages"
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "needs approval" in text.splitlines()[1].lower()
    assert said in text
    assert main(["show", str(out), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "**Needs approval" in markdown.split("| file |")[0]  # before the tables
    assert "max_recipients 3: this plan sends 5 messages" in markdown
    assert main(["show", str(out), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["needs_approval"] == saved["needs_approval"]


def test_a_saved_plan_within_its_limits_needs_no_approval(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, saved = _valid(tmp_path, sandbox)
    assert saved["needs_approval"] == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**saved, "needs_approval": [{"schedule": "greet"}]}))
    assert main(["show", str(bad)]) == 1
    assert "not a usable plan file" in capsys.readouterr().err


def test_apply_plan_with_schedule_says_the_others_were_left_out(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path / "c", sandbox, 2)
    yaml = config / "smsops.yaml"
    yaml.write_text(
        yaml.read_text() + "  small: {template: hello, audience: people, provider: ot}\n"
    )
    ledger, out = tmp_path / "l.sqlite", tmp_path / "plan.json"
    plan_out(config, ledger, out)
    capsys.readouterr()
    assert apply_plan(config, ledger, out, "--schedule", "small") == 0
    said = capsys.readouterr().out
    assert "2 planned sends of schedules left out by --schedule: not sent" in said
    assert "not due now" not in said
    assert len(received(sandbox)) == 2


def test_show_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    # a child process, so a show that blocks (as before the fix) fails the test, not hangs it
    done = subprocess.run(
        [sys.executable, "-m", "smsops", "show", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    err = done.stderr
    assert "not a regular file" in err


def test_the_size_bound_fits_the_documented_number_of_sends() -> None:
    assert saved_plan.MAX_PLAN_BYTES == saved_plan.MAX_SENDS * saved_plan.BYTES_PER_SEND
    assert saved_plan.MAX_PLAN_BYTES <= 256 * 2**20
    assert saved_plan.MAX_SENDS >= 1_000_000  # the largest audience benchmarked


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux's /proc")
def test_show_of_a_large_plan_stays_in_bounded_memory(tmp_path: Path) -> None:
    """200,000 sends (~45 MB): what show holds per send stays small (a child process)."""
    send = {
        "schedule": "s",
        "occurrence": "2026-11-22T18:00:00+00:00",
        "recipient": "+44 74** ***000",
        "providers": ["ot"],
        "text_hash": "a" * 64,
        "segments": 1,
    }
    count = 200_000
    plan = {
        "format": "smsops-plan",
        "version": 1,
        "created": "2026-11-22T18:31:00Z",
        "at": "2026-11-22T18:30:00Z",
        "ledger": "memory://",
        "needs_approval": [],
        "config": {"path": "c", "files": {"smsops.yaml": "0" * 64}},
        "sends": [{"key": f"{i:032x}", **send} for i in range(count)],
    }
    big = tmp_path / "big.json"
    big.write_text(json.dumps(plan))
    del plan
    # The child's high-water mark is reset first: it inherits this process's across exec.
    script = f"""
import contextlib, io, re
from smsops.cli import main
def kib(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read())[1])
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")
base = kib("VmRSS")
with contextlib.redirect_stdout(io.StringIO()):  # the JSON view: the most it takes
    assert main(["show", {str(big)!r}, "--format", "json"]) == 0
print((kib("VmHWM") - base) * 1024 // {count})
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    per_send = int(done.stdout.strip().splitlines()[-1])
    # ~3,700 bytes a send before (a model with a __dict__ per send, then a dict per send)
    assert per_send < 1600, f"{per_send} bytes per send"


def test_plan_out_refuses_a_plan_over_the_bound(
    tmp_path: Path,
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path / "c", sandbox, 3)
    monkeypatch.setattr(saved_plan, "MAX_SENDS", 2)
    out = tmp_path / "plan.json"
    assert _plan(config, tmp_path, "--out", str(out)) == 1
    assert "over the 2 a plan file holds" in capsys.readouterr().err
    assert not out.exists()
