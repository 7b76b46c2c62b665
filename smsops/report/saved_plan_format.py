"""`smsops show FILE`: a saved plan as text, markdown (a PR comment) or JSON.

Every view reads the validated `SavedPlan`, never the raw file: numbers are
masked in the file itself, and the text and markdown views list at most
`LISTED` sends per group (schedule, occurrence, providers) with every count
complete, so a plan of a million sends still shows in a screenful.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from smsops.core.terminal import inert_json, printable
from smsops.engine.saved_plan import SavedPlan, SavedSend
from smsops.report.markdown_literal import code_span
from smsops.report.plan_format import approval_sentence
from smsops.report.plan_markdown import MARKER
from smsops.report.wording import plural

LISTED = 5
# Groups and files listed at most; the rest are counted (a markdown view stays well under
# GitHub's 65,536-character comment however many schedules and occurrences a plan holds).
GROUPS, FILES = 100, 50
_Group = tuple[str, str, tuple[str, ...]]


def _groups(saved: SavedPlan) -> tuple[dict[_Group, list[SavedSend]], str | None]:
    """The first `GROUPS` groups of sends, and a line counting the rest (None: no rest)."""
    found: dict[_Group, list[SavedSend]] = defaultdict(list)
    for send in saved.sends:
        found[(send.schedule, send.occurrence, send.providers)].append(send)
    ordered = sorted(found.items())
    rest = ordered[GROUPS:]
    more = None
    if rest:
        count = sum(len(sends) for _, sends in rest)
        more = f"... and {len(rest):,} more groups ({plural(count, 'message')})"
    return dict(ordered[:GROUPS]), more


def _files(saved: SavedPlan) -> tuple[list[tuple[str, str]], str | None]:
    files = list(saved.config.files.items())
    more = f"... and {len(files) - FILES:,} more files" if len(files) > FILES else None
    return files[:FILES], more


def _time(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _segments(sends: list[SavedSend]) -> int:
    return sum(send.segments for send in sends)


def _approval(saved: SavedPlan, name: Callable[[str], str]) -> str | None:
    """The sentence of every plan view for the schedules the file says need approval."""
    over = list(dict.fromkeys(o.schedule for o in saved.needs_approval))
    return approval_sentence(over[:GROUPS], name)


def as_json(saved: SavedPlan) -> str:
    # Serialized straight to text: a dict per send first would take gigabytes for a large plan.
    return inert_json(saved.model_dump_json(indent=1)) + "\n"


def as_text(saved: SavedPlan) -> str:
    lines = [
        f"Saved plan: {plural(len(saved.sends), 'message')} to send "
        f"({plural(_segments(list(saved.sends)), 'segment')}).",
        f"  written  {_time(saved.created)}, planned as of {_time(saved.at)}",
        f"  ledger   {printable(saved.ledger)}",
        f"  config   {printable(saved.config.path)} ({plural(len(saved.config.files), 'file')})",
    ]
    sentence = _approval(saved, printable)
    if sentence is not None:  # first, after the count: apply refuses these without --approve
        lines[1:1] = [
            f"! {sentence}",
            *(f"  ! {printable(o.schedule)}: {printable(str(o))}" for o in saved.needs_approval),
        ]
    files, more_files = _files(saved)
    lines += [f"    {printable(name)}  sha256:{digest[:12]}" for name, digest in files]
    lines += [f"    {more_files}"] if more_files else []
    groups, more_groups = _groups(saved)
    for (schedule, occurrence, providers), sends in groups.items():
        via = printable(", ".join(providers))
        lines.append(
            f"{printable(schedule)} @ {printable(occurrence)} via {via}: "
            f"{plural(len(sends), 'message')}, {plural(_segments(sends), 'segment')}"
        )
        lines += [
            f"  {send.recipient}  {plural(send.segments, 'segment')}  "
            f"text sha256:{send.text_hash[:12]}"
            for send in sends[:LISTED]
        ]
        if len(sends) > LISTED:
            lines.append(f"  ... and {len(sends) - LISTED:,} more")
    lines += [more_groups] if more_groups else []
    lines.append(
        "Apply exactly these with: smsops apply CONFIG --plan FILE "
        "(refused if the config's files changed, the ledger differs, or the plan is too old)."
    )
    return "\n".join(lines) + "\n"


def as_markdown(saved: SavedPlan) -> str:
    out = [
        MARKER,
        f"### smsops saved plan: {plural(len(saved.sends), 'message')} to send "
        f"({plural(_segments(list(saved.sends)), 'segment')})",
        "",
        *_approval_markdown(saved),
        f"Written {_time(saved.created)}, planned as of {_time(saved.at)}, against the ledger "
        f"{code_span(saved.ledger)}; config {code_span(saved.config.path)}:",
        "",
        "| file | sha256 |",
        "|---|---|",
    ]
    files, more_files = _files(saved)
    out += [f"| {code_span(name, in_table=True)} | `{digest[:12]}` |" for name, digest in files]
    out += ["", more_files] if more_files else []
    out += ["", "| schedule | occurrence | providers | messages | segments | recipients |"]
    out.append("|---|---|---|---:|---:|---|")
    groups, more_groups = _groups(saved)
    for (schedule, occurrence, providers), sends in groups.items():
        shown = ", ".join(code_span(send.recipient, in_table=True) for send in sends[:LISTED])
        more = f" and {len(sends) - LISTED:,} more" if len(sends) > LISTED else ""
        out.append(
            f"| {code_span(schedule, in_table=True)} | {code_span(occurrence, in_table=True)} "
            f"| {code_span(', '.join(providers), in_table=True)} | {len(sends):,} "
            f"| {_segments(sends):,} | {shown}{more} |"
        )
    out += ["", more_groups] if more_groups else []
    return "\n".join(out) + "\n"


def _approval_markdown(saved: SavedPlan) -> list[str]:
    """Above everything else, as the plan comment has it: what apply refuses unapproved."""
    sentence = _approval(saved, code_span)
    if sentence is None:
        return []
    over = saved.needs_approval
    lines = ["> [!WARNING]", f"> **{sentence}**", ">"]
    lines += [f"> - {code_span(o.schedule)}: {code_span(str(o))}" for o in over[:GROUPS]]
    lines += [f"> - _{len(over) - GROUPS:,} more; `smsops show --format json` lists all._"] * (
        len(over) > GROUPS
    )
    return [*lines, ""]
