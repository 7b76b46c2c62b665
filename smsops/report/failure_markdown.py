"""A failed command as a pull-request comment: the error replaces the last plan.

CI posts what `--format markdown` wrote as the pull request's one comment,
found by its marker and edited in place. A command that fails writes this
comment under the same marker, so it replaces the previous one: a green plan
of an earlier push never stays on a pull request whose config no longer
validates or plans.

Every error line is a code span (`markdown_literal`: config names and paths
cannot become markup or mentions); problems are already masked where they
are made (`core.errors.Problem`), other errors are masked here too. The list
is cut to fit under `MARKDOWN_LIMIT` and the rest counted.
"""

from __future__ import annotations

from smsops.core.phone import mask_e164
from smsops.report.markdown_literal import code_span
from smsops.report.plan_markdown import MARKDOWN_LIMIT, MARKER

LINE_CHARS = 500  # of one error line: a path and a message fit
BUDGET = MARKDOWN_LIMIT - 2_000  # the heading, the caution and the closing count


def failure_markdown(command: str, summary: str, lines: list[str]) -> str:
    """The comment saying `smsops COMMAND` failed: `summary` first, then each error line."""
    head = [
        MARKER,
        f"## smsops {command} failed",
        "",
        "> [!CAUTION]",
        f"> **{summary}**",
        "> Any plan shown here before is no longer current: fix what is listed below and "
        "push again.",
        "",
    ]
    items: list[str] = []
    size = 0
    for line in lines:
        shown = mask_e164(line)
        item = f"- {code_span(shown[:LINE_CHARS])}"
        if len(shown) > LINE_CHARS:
            item += f" _(first {LINE_CHARS:,} characters)_"
        if size + len(item) + 1 > BUDGET:
            break
        items.append(item)
        size += len(item) + 1
    rest = len(lines) - len(items)
    tail = [] if not rest else ["", f"_{rest:,} more problems are not listed here; the job's log "]
    if tail:
        tail[-1] += "and `smsops validate` list every problem._"
    return "\n".join([*head, *items, *tail]) + "\n"


def valid_markdown(path: str, summary: str, warnings: list[str]) -> str:
    """`smsops validate --format markdown` of a valid config: the summary and any warnings."""
    lines = [MARKER, "## smsops validate: valid", "", f"{code_span(path)}: {summary}"]
    lines += ["", *(f"- warning: {code_span(mask_e164(w)[:LINE_CHARS])}" for w in warnings)]
    return "\n".join(lines).rstrip("\n") + "\n"
