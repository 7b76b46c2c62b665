"""The config diff as the first section of the pull-request comment, within its own share.

Budgeted like the forecast section: the headline (what changes, counted per
kind) always, then one block per change while they fit in DIFF_SHARE
characters, changes that change what people receive and providers that need
attention first; what does not fit is counted. Names, settings and masked
numbers are code spans, message texts fenced code blocks (`markdown_literal`).
"""

from __future__ import annotations

from smsops.engine.diff import Change, ConfigDiff
from smsops.report.diff_format import describe, headline
from smsops.report.markdown_literal import code_block
from smsops.report.markdown_parts import SAMPLE_CHARS, Budget, currency, field

DIFF_SHARE = 14_000  # of the comment's MARKDOWN_LIMIT (the forecast has 20,000)
PROBLEMS_SHOWN = 10


def diff_markdown(diff: ConfigDiff) -> str:
    """The diff section, always under DIFF_SHARE characters."""
    out = Budget(DIFF_SHARE - 300)  # room for the closing note
    out.add(f"## Change from {field(diff.base)}\n\n**{headline(diff, field)}**\n")
    attention = diff.attention
    if attention:
        names = ", ".join(field(n) for n in attention[:20])
        out.add(f"> [!WARNING]\n> **Providers that need attention**: {names}\n")
    problems = diff.base_problems or []
    out.add_all([f"- {field(p)}" for p in problems[:PROBLEMS_SHOWN]])
    changes = [(s.kind, c) for s in diff.sections for c in s.changes]
    changes.sort(key=lambda kc: not (kc[1].receives_changed or kc[1].attention))
    shown = out.add_all([_block(kind, c) for kind, c in changes])
    if shown < len(changes):
        out.force(
            f"_{len(changes) - shown:,} more changes are not detailed here, to keep this comment "
            "short; `smsops plan --base REF --format json` has everything._\n"
        )
    return out.text()


def _block(kind: str, c: Change) -> str:
    d = describe(kind, c, field, currency)
    lines = [f"### {d.title}", ""]
    lines += [f"- {line}" for line in d.lines]
    for header, text in d.texts:
        lines += ["", f"{header}:", code_block(text[:SAMPLE_CHARS])]
    return "\n".join(lines) + "\n"
