"""Markdown injection into the PR comment: `plan --format markdown` on hostile configs.

Each config puts markup where a pull request can: the template body, CSV
cells, names, skip details (a time-zone cell quoted back, a hostile file
name), a currency. The comment is rendered as GitHub would (markdown-it-py,
GFM) and must hold the literal texts and nothing from data as markup: no
link, image, HTML element, emphasis or mention outside code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from smsops.report.markdown_literal import visible
from tests.attacks.harness import BASE_NUMBERS, BASE_PROVIDERS, run_cli, write_config
from tests.report.gfm import render

# Our own notes are the only emphasis the comment may hold.
NOTES = re.compile(r"\((the )?first [\d,]+ (of [\d,]+ )?characters\)|\(empty\)")
MARKUP = (
    "@octocat ![p](http://evil.example/p.png) [go](https://evil.example) "
    "https://evil.example/x www.evil.example <img src=x onerror=alert(1)> "
    "<details><summary>s</summary> **b** _e_ ~~s~~ `c` ``d`` &amp; &#64;team | pipe"
)
AT = "2026-11-22T12:00:00Z"  # midday in London: outside the marketing quiet hours
PROVIDERS_PRICED = BASE_PROVIDERS.replace(
    "    template_keys:",
    '    price_per_segment: {default: 0.01, currency: "@octocat <img src=x> | *EUR*"}\n'
    "    template_keys:",
)


def rest(
    *,
    body: str = "Hi {{ name }}",
    audience: str = "contacts:\n      - {phone: '+447400123456', name: Sam}",
    schedule: str = "greet",
    names: tuple[str, str] = ("hello", "people"),
    category: str = "transactional",
) -> str:
    template, people = names
    return (
        f"templates:\n  {template}:\n    category: {category}\n    body: {body}\n"
        f"audiences:\n  {people}:\n    {audience}\n"
        f"schedules:\n  {schedule}:\n    template: {template}\n    audience: {people}\n"
        "    provider: ses\n"
    )


def quoted(text: str) -> str:
    """`text` as a double-quoted YAML scalar (JSON strings are YAML)."""
    return json.dumps(text)


@dataclass(frozen=True)
class Attack:
    files: dict[str, str]
    texts: list[str]  # the message texts the comment must show, in order
    spans: list[str] = field(default_factory=list)  # inline code it must hold, as many times
    within: list[str] = field(default_factory=list)  # text some inline code must contain


# One line: a CSV field may not hold a line break (refused: tests/attacks/test_files.py).
CSV_NAME = "Sam @octocat <img src=x onerror=alert(1)> [go](https://evil.example) ``` @team ```"
CSV_BODY = f'phone,name\n+447400123456,"{CSV_NAME.replace(chr(34), chr(34) * 2)}"\n'
TZ_CELL = "@octocat <img src=x onerror=alert(1)> [go](https://evil.example) **b**"
HOSTILE_FILE = "@octocat <b>x</b> [l](u) _e_.csv"

ATTACKS = {
    "mention, image, link and HTML in the template body": Attack(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(body=quoted("Hi {{ name }} " + MARKUP)),
        },
        ["Hi Sam " + MARKUP],
    ),
    "markup and a code fence in CSV data": Attack(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(audience="source: people.csv"),
            "people.csv": CSV_BODY,
        },
        ["Hi " + CSV_NAME],
    ),
    "autolink and emphasis in names": Attack(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(schedule="www.evil.example", names=("x._em_.y", "a.__b__.c")),
        },
        ["Hi Sam"],
        ["www.evil.example", "www.evil.example", "x._em_.y", "a.__b__.c"],
    ),
    "markup quoted back in a skip detail": Attack(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(
                audience="source: people.csv\n    timezone_column: tz", category="marketing"
            ),
            "people.csv": f'phone,name,tz\n+447400123456,Sam,Europe/London\n+447400123457,Alex,"{TZ_CELL}"\n',
        },
        ["Hi Sam"],
        within=[f"unknown time zone '{TZ_CELL}'"],  # the cell, quoted back in the skip detail
    ),
    "markup in a CSV file name (paths and duplicate details)": Attack(
        {
            "providers.yaml": BASE_PROVIDERS,
            "rest.yaml": rest(audience=f"source: {quoted(HOSTILE_FILE)}"),
            HOSTILE_FILE: "phone,name\n+447400123456,Sam\n+447400123456,Sam\n",
        },
        ["Hi Sam"],
        # where the duplicate is, and its detail naming the row it repeats
        within=[f"/{HOSTILE_FILE}:row 3", f"/{HOSTILE_FILE}:row 2"],
    ),
    "markup in a currency": Attack(
        {"providers.yaml": PROVIDERS_PRICED, "rest.yaml": rest()},
        ["Hi Sam"],
        ["@octocat <img src=x> | *EUR*"] * 3,  # the summary, the table, the details
    ),
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_the_pr_comment_shows_hostile_text_literally(tmp_path: Path, attack: Attack) -> None:
    config = write_config(tmp_path, attack.files)
    ledger = tmp_path / "ledger.sqlite"
    args = ["plan", str(config), "--format", "markdown", "--at", AT, "--ledger", str(ledger)]
    outcome = run_cli(args, cwd=tmp_path)
    outcome.assert_safe(code=0, numbers=BASE_NUMBERS, ledger=ledger)
    assert outcome.stdout.startswith("<!-- smsops-plan -->\n")
    shown = render(outcome.stdout)
    shown.assert_inert(notes=NOTES)
    assert shown.tags.count("details") <= 1  # ours, around the skipped recipients
    assert shown.blocks == [visible(t, lines=True) + "\n" for t in attack.texts]
    for span in attack.spans:
        assert shown.spans.count(span) >= attack.spans.count(span), (span, shown.spans)
    for part in attack.within:
        assert any(part in span for span in shown.spans), (part, shown.spans)
