"""A command asked for markdown answers in markdown when it fails: the PR comment stays true.

CI posts whatever `--format markdown` wrote as the pull request's one
comment (found by its marker). When validate or plan fails, that output is
a failure comment with the same marker, so it REPLACES the last plan: a
stale green plan never stays on a pull request whose config is broken.
The errors in it are masked like every output and inert like every comment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.report.plan_markdown import MARKDOWN_LIMIT, MARKER
from tests.report.gfm import render
from tests.report.test_plan_markdown import HOSTILE

NOTES = re.compile(r"[\d,]+ more problems are not listed here; .*|\(first [\d,]+ characters\)")
GOOD = """\
providers:
  ot: {type: opentact, token: '${env:OT}', from: '+12017771234'}
templates:
  t: {category: transactional, body: 'Hi {{ name }}'}
audiences:
  a: {contacts: [{phone: '+12025550123', name: A}]}
schedules:
  s: {template: t, audience: a, provider: ot}
"""


def broken(tmp_path: Path, names: list[str]) -> Path:
    """A config whose schedules name templates that do not exist (one problem each)."""
    lines = [GOOD.split("schedules:")[0] + "schedules:"]
    for i, name in enumerate(names):
        # JSON's string is a YAML double-quoted scalar: any character, escaped.
        lines.append(f"  s{i}: {{template: {json.dumps(name)}, audience: a, provider: ot}}")
    # A phone number pasted where a duration goes: quoted in the problem, masked.
    lines.append("  pasted: {template: t, audience: a, provider: ot, window: '+12025550199'}")
    path = tmp_path / "smsops.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_validate_markdown_lists_the_problems_as_a_comment_that_replaces_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = broken(tmp_path, list(HOSTILE.values()))
    assert main(["validate", str(config), "--format", "markdown"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:2] == [MARKER, "## smsops validate failed"]
    assert f"**{len(HOSTILE) + 1} problems found; nothing was sent.**" in out
    assert "no longer current" in out  # the reader knows the last plan is gone
    assert "+12******199" in out  # masked as on stderr
    assert "2025550199" not in out
    assert f"{len(HOSTILE) + 1} problems found; nothing was sent." in err  # the log as before
    shown = render(out)
    shown.tags = [tag for tag in shown.tags if tag != "blockquote"]  # the caution is ours
    shown.assert_inert(notes=NOTES)
    assert shown.comments == [" smsops-plan "]


def test_validate_markdown_when_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "smsops.yaml").write_text(GOOD)
    assert main(["validate", str(tmp_path), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [MARKER, "## smsops validate: valid"]
    assert "1 provider, 1 template, 1 audience, 1 schedule" in out


def test_a_failed_plan_overwrites_its_report_with_the_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "plan.md"
    report.write_text(f"{MARKER}\n**2 messages to send.**\n")  # the last push's green plan
    config = broken(tmp_path, ["missing"])
    args = ["plan", str(config), "--format", "markdown", "--report", str(report)]
    assert main([*args, "--ledger", str(tmp_path / "l.sqlite"), "--detailed-exitcode"]) == 1
    text = report.read_text()
    assert text.startswith(f"{MARKER}\n## smsops plan failed\n")
    assert "2 messages to send" not in text
    assert "**2 problems found; nothing was sent.**" in text
    assert "`smsops validate` lists every problem" not in text  # all are listed
    assert "problems found; nothing was sent." in capsys.readouterr().err


def test_a_plan_error_that_is_not_a_config_problem_is_reported_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "smsops.yaml").write_text(GOOD)
    report = tmp_path / "plan.md"
    args = ["plan", str(tmp_path), "--format", "markdown", "--report", str(report)]
    assert main([*args, "--schedule", "nope", "--ledger", str(tmp_path / "l.sqlite")]) == 1
    text = report.read_text()
    assert text.startswith(f"{MARKER}\n## smsops plan failed\n")
    assert "`no schedule named 'nope' (--schedule); the config has: 's'`" in text
    assert "**An error stopped it; nothing was sent.**" in text
    assert "error: no schedule named 'nope'" in capsys.readouterr().err


def test_markdown_to_stdout_fails_in_markdown_and_text_stays_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = broken(tmp_path, ["missing"])
    assert main(["plan", str(config), "--format", "markdown", "--ledger", "x.sqlite"]) == 1
    assert capsys.readouterr().out.startswith(f"{MARKER}\n## smsops plan failed\n")
    assert main(["plan", str(config), "--ledger", "x.sqlite"]) == 1
    assert capsys.readouterr().out == ""


def test_a_thousand_long_problems_stay_under_the_limit_and_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = broken(tmp_path, [f"t{i} " + "@x `|" * 300 for i in range(1000)])
    assert main(["validate", str(config), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert len(out) < MARKDOWN_LIMIT
    assert "**1001 problems found; nothing was sent.**" in out
    listed = out.count("\n- ")
    assert 10 <= listed < 1001
    assert f"_{1001 - listed:,} more problems are not listed here; " in out
    shown = render(out)
    shown.tags = [tag for tag in shown.tags if tag != "blockquote"]
    shown.assert_inert(notes=NOTES)
