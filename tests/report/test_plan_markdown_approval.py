"""The needs-approval warning of the PR comment: first, inert, and inside the budget."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from smsops.engine.plan import OverLimit, Plan
from smsops.report.plan_markdown import MARKDOWN_LIMIT, as_markdown
from tests.report.gfm import render
from tests.report.test_plan_markdown import HOSTILE, NOTES, plan_of

APPROVAL_NOTES = re.compile(NOTES.pattern + r"|[\d,]+ more; smsops plan --format json lists all\.")


def over_limit_plan(count: int) -> Plan:
    schedules = []
    hostile = list(HOSTILE.values())
    for i in range(count):
        name = f"{hostile[i % len(hostile)]} {i}" + "|`" * 100
        (s,) = plan_of(["Sale! Reply STOP to opt out."] * 3, schedule=name).schedules
        s.over_limits = [
            OverLimit("max_recipients", 2, 3, "this plan sends 3 messages"),
            OverLimit("max_cost", 0.25, 0.5, "this plan costs about 0.50 USD"),
        ]
        schedules.append(s)
    return Plan(datetime(2026, 11, 22, 9, 30, tzinfo=UTC), schedules)


def test_200_schedules_over_their_limits_stay_under_the_limit_and_inert() -> None:
    markdown = as_markdown(over_limit_plan(200))
    assert len(markdown) < MARKDOWN_LIMIT
    lines = markdown.splitlines()
    assert lines[0] == "<!-- smsops-plan -->"
    assert lines[1] == "> [!WARNING]"
    assert lines[2].startswith("> **Needs approval: 200 schedules over their limits")
    assert "more; `smsops plan --format json` lists all._" in markdown
    shown = render(markdown)
    # The warning is a blockquote: ours, the one element besides the plain comment's.
    shown.tags = [tag for tag in shown.tags if tag != "blockquote"]
    shown.assert_inert(notes=APPROVAL_NOTES)
