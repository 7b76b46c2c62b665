"""The comment of a large, hostile change keeps the comment's guarantees (issue 20).

200 schedules, each with its own template whose wording changes to text
written to be markup: the diff goes first, the comment stays under
60,000 characters, what is cut is counted, and nothing from data renders
as markup.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smsops.report.plan_markdown import MARKDOWN_LIMIT
from tests.diff.test_base_acceptance import AT, PROVIDER, commit, git
from tests.report.gfm import render
from tests.report.test_plan_markdown import HOSTILE, NOTES

COUNT = 200
DIFF_NOTES = re.compile(NOTES.pattern + r"|[\d,]+ more changes are not detailed here.*")


def _yaml(body: str) -> str:
    hostile = list(HOSTILE.values())
    templates, schedules = [], []
    for i in range(COUNT):
        raw = body + " " + hostile[i % len(hostile)]
        # YAML cannot hold controls, and Jinja would read braces: the rest stays hostile
        raw = "".join(c for c in raw if c >= " " and c not in "{}%\x7f")
        text = raw.replace("'", "''")
        templates.append(f"  t{i}: {{category: transactional, body: '{text} {{{{ name }}}}'}}\n")
        schedules.append(
            f"  s{i}: {{template: t{i}, audience: people, provider: ot,"
            f" trigger: {{cron: '{i % 60} 9 * * *'}}, window: 2h}}\n"
        )
    return (
        "providers:\n" + PROVIDER + "templates:\n" + "".join(templates)
        + "audiences:\n  people: {source: people.csv}\nschedules:\n" + "".join(schedules)
    )  # fmt: skip


def test_200_changed_schedules_stay_under_the_limit_and_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smsops.cli import main

    repo = tmp_path / "repo"
    config = repo / "config"
    config.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (config / "people.csv").write_text("phone,name\n+447400000001,@octocat\n+447400000002,B\n")
    (config / "smsops.yaml").write_text(_yaml("Hello"))
    commit(repo)
    (config / "smsops.yaml").write_text(_yaml("Goodbye"))
    argv = ["plan", str(config), "--at", AT, "--ledger", "memory://", "--base", "HEAD"]
    assert main([*argv, "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert len(markdown) < MARKDOWN_LIMIT
    assert markdown.index("## Change from") < markdown.index("## Forecast")
    assert markdown.index("## Forecast") < markdown.index("## smsops plan at")
    assert "schedules: 200 changed, 0 unchanged" in markdown
    assert re.search(r"[\d,]+ more changes are not detailed here", markdown)
    assert "+447400000001" not in markdown
    assert "+44 74** ***001" in markdown
    render(markdown).assert_inert(notes=DIFF_NOTES)
