"""`plan` shows the delivery of each schedule's last occurrence sent, in every view.

Never a made-up 0 %: a schedule never sent, or sent with no final receipt
yet, says so in words (JSON: a null rate). The label comes from the ledger:
it is shown inert like any other data.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from rich.text import Text

from smsops.engine.plan import Disposition, Plan, SchedulePlan
from smsops.ledger.receipts import NEVER_SENT, LastDelivery
from smsops.report.markdown_literal import visible
from smsops.report.plan_format import as_json, as_text
from smsops.report.plan_markdown import MARKDOWN_LIMIT, as_markdown
from smsops.report.wording import rate_text
from tests.report.gfm import render
from tests.report.test_plan_markdown import NOTES

DAY = "2026-11-21T09:00:00Z"
SOME = LastDelivery(DAY, delivered=3, undelivered=1, awaiting=2)
WAITING = LastDelivery(DAY, delivered=0, undelivered=0, awaiting=6)


def schedule(name: str, last: LastDelivery | None) -> SchedulePlan:
    return SchedulePlan(
        schedule=name,
        template="t",
        audience="a",
        providers=["sky"],
        occurrences=[],
        next_fires=[],
        counts=Counter({Disposition.SENT: 6}),
        last_delivery=last,
    )


def plan(*schedules: SchedulePlan) -> Plan:
    return Plan(datetime(2026, 11, 22, 9, 30, tzinfo=UTC), list(schedules))


def plain(markup: str) -> str:
    return Text.from_markup(markup).plain


def test_text_gives_the_rate_the_counts_or_why_there_is_none() -> None:
    shown = plain(
        as_text(plan(schedule("s", SOME), schedule("w", WAITING), schedule("n", NEVER_SENT)))
    )
    assert (
        "  delivery of occurrence 2026-11-21T09:00:00Z: 75.0% delivered (3 delivered, 1 undelivered, "
        "2 awaiting a receipt, of 6 sent)\n"
    ) in shown
    assert "  delivery of occurrence 2026-11-21T09:00:00Z: 6 sent, no receipts yet\n" in shown
    assert "  delivery: never sent, no receipts yet\n" in shown
    assert "0.0%" not in shown


def test_all_receipts_in_says_nothing_awaits() -> None:
    done = LastDelivery(DAY, delivered=4, undelivered=0, awaiting=0)
    assert (
        "delivery of occurrence 2026-11-21T09:00:00Z: 100.0% delivered (4 delivered, 0 undelivered, "
        "of 4 sent)"
    ) in plain(as_text(plan(schedule("s", done))))


def test_a_plan_whose_deliveries_were_not_read_says_nothing_of_them() -> None:
    """The daemon's plans and hand-made ones: no line, JSON null (not "never sent")."""
    p = plan(schedule("s", None))
    assert "delivery" not in plain(as_text(p))
    assert as_json(p)["schedules"][0]["last_delivery"] is None
    assert "| - |" in as_markdown(p)


def test_json_gives_counts_and_a_null_rate_without_a_final_receipt() -> None:
    found = as_json(plan(schedule("s", SOME), schedule("w", WAITING), schedule("n", NEVER_SENT)))
    assert found["format_version"] == 1  # a new member: no bump (docs/commands/plan.md)
    assert [s["last_delivery"] for s in found["schedules"]] == [
        {"occurrence": DAY, "sent": 6, "delivered": 3, "undelivered": 1, "awaiting": 2,
         "rate": 0.75},
        {"occurrence": DAY, "sent": 6, "delivered": 0, "undelivered": 0, "awaiting": 6,
         "rate": None},
        {"occurrence": None, "sent": 0, "delivered": 0, "undelivered": 0, "awaiting": 0,
         "rate": None},
    ]  # fmt: skip
    json.dumps(found, allow_nan=False)


def test_markdown_has_a_column_and_a_line_per_schedule() -> None:
    md = as_markdown(plan(schedule("s", SOME), schedule("w", WAITING), schedule("n", NEVER_SENT)))
    assert "| cost | last delivery |" in md
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == [
        "75.0%", "no receipts yet", "no receipts yet",
    ]  # fmt: skip
    assert (
        "- delivery of occurrence `2026-11-21T09:00:00Z`: 75.0% delivered (3 delivered, 1 undelivered, "
        "2 awaiting a receipt, of 6 sent)"
    ) in md
    assert "- delivery: never sent, no receipts yet" in md


@pytest.mark.parametrize(
    "label",
    [
        "<img src=x onerror=alert(1)>",
        "**bold** @octocat [x](https://evil.example)",
        "`tick` | pipe",
        "[red]x[/] \x1b[2J",
    ],
)
def test_a_hostile_label_from_the_ledger_is_shown_inert(label: str) -> None:
    p = plan(schedule("s", LastDelivery(label, delivered=1, undelivered=1, awaiting=0)))
    shown = render(as_markdown(p))
    shown.assert_inert(notes=NOTES)
    assert visible(label, lines=False) in shown.spans
    text = as_text(p)
    assert "\x1b" not in text
    assert plain(text).count("[red]") == label.count("[red]")  # printed, not applied


def test_a_thousand_schedules_with_deliveries_stay_under_the_limit() -> None:
    many = [
        schedule(f"campaign-{i:04d}-with-a-rather-long-descriptive-name", SOME) for i in range(2000)
    ]
    md = as_markdown(plan(*many))
    assert len(md) < MARKDOWN_LIMIT
    assert "more schedules are not in this table" in md


@pytest.mark.parametrize(
    ("delivered", "final", "shown"),
    [(1999, 2000, "99.9%"), (1, 2000, "0.1%"), (2000, 2000, "100.0%"), (0, 5, "0.0%"),
     (2, 3, "66.7%")],
)  # fmt: skip
def test_a_rate_is_never_rounded_to_all_or_none(delivered: int, final: int, shown: str) -> None:
    assert rate_text(delivered / final) == shown


def test_occurrence_labels_in_text_are_escaped_for_rich() -> None:
    p = plan(schedule("s", LastDelivery("[bold]x", delivered=1, undelivered=0, awaiting=0)))
    assert re.search(r"occurrence \\\[bold]x: 100.0%", as_text(p))
