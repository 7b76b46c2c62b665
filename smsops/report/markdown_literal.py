"""Text from configs and data, shown literally in GitHub-flavoured Markdown.

A pull request may put anything into a template, a CSV cell or a path: an
`@mention` (GitHub notifies that person), an image (`![x](http://…)` makes
every reader's browser fetch a URL), links and bare URLs (autolinked),
emphasis, strikethrough, code spans, entities (`&amp;` shows as `&`), raw
HTML, table pipes and line breaks. Reviewers must see the text that will
be sent, character for character, and nothing else.

Why code and not backslash escapes: GitHub turns `@name`, `#123`, commit
hashes and `:emoji:` into mentions, references and pictures *after*
rendering, in every text node that is not inside code, so no escaping of
the Markdown source stops them without changing the text (a zero-width
space after `@` would). Inside a code span or a fenced code block GitHub
does none of that, CommonMark parses no emphasis, link, entity or HTML,
and backslashes are literal. So:

- a message text is a fenced code block (`code_block`): its fence is one
  backtick longer than the longest backtick run in the text (at least
  three), so no line of the text can close it; lines, spaces and tabs are
  kept exactly;
- every other string (names, paths, skip details, currencies) is a code
  span (`code_span`) whose fence is one backtick longer than its longest
  run, padded with a space when the text starts or ends with a backtick or
  with spaces at both ends (CommonMark strips one such pair); in a table
  cell every `|` is written `\\|`, which GFM's row splitter turns back into
  `|` before the span is parsed, so a pipe can never split a row.

Markdown cannot carry a few characters even in code: CR becomes a line
break, NUL becomes U+FFFD, and in a code span (or a table row) a line break
becomes a space or ends the row. Those characters, every C0 control but
TAB (and LF in a code block), and DEL, are shown as their Unicode control
pictures (CR as `␍`, LF in a span as `␊`, NUL as `␀`), so what is shown is
still one visible character per character sent.

Markdown carries bidirectional controls (U+061C, U+200E, U+200F,
U+202A-U+202E, U+2066-U+2069) and the line and paragraph separators
(U+2028, U+2029), but a browser obeys them: a right-to-left override makes
the rest of a sample look reordered ("Trojan Source"). The C1 controls
(U+0080-U+009F) show as nothing in a browser, and a terminal that prints
the comment (a CI log) may obey them like ESC sequences. All of these are
shown as their code point, `<U+202E>`, as on a terminal
(`smsops.core.terminal`).
"""

from __future__ import annotations

import re

from smsops.core.terminal import BIDI_CONTROLS, SEPARATORS, codepoint

_CONTROLS = [c for c in range(0x20) if c != 0x09]
_OBEYED = {chr(c): codepoint(c) for c in (*range(0x80, 0xA0), *sorted(BIDI_CONTROLS), *SEPARATORS)}
_SPAN = str.maketrans({chr(c): chr(0x2400 + c) for c in _CONTROLS} | {"\x7f": "\u2421"} | _OBEYED)
_BLOCK = str.maketrans(
    {chr(c): chr(0x2400 + c) for c in _CONTROLS if c != 0x0A} | {"\x7f": "\u2421"} | _OBEYED
)
_BACKTICKS = re.compile(r"`+")
EMPTY = "_(empty)_"


def visible(text: str, *, lines: bool) -> str:
    """The text with each character Markdown cannot carry as its control picture.

    C1 controls, bidi controls and separators show as `<U+202E>` (see the module docstring).

    `lines` keeps LF (a code block shows line breaks; a span or a table
    row cannot hold one).
    """
    return text.translate(_BLOCK if lines else _SPAN)


def _fence(text: str, shortest: int) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(shortest, longest + 1)


def code_span(text: str, *, in_table: bool = False) -> str:
    """`text` as an inline code span that renders to exactly `visible(text, lines=False)`."""
    shown = visible(text, lines=False)
    if not shown:
        return EMPTY
    fence = _fence(shown, 1)
    padded = shown[0] == "`" or shown[-1] == "`"
    padded = padded or (shown[0] == " " and shown[-1] == " " and bool(shown.strip(" ")))
    if padded:
        shown = f" {shown} "
    if in_table:
        shown = shown.replace("|", "\\|")
    return f"{fence}{shown}{fence}"


def code_block(text: str) -> str:
    """`text` as a fenced code block whose content is `visible(text, lines=True)` plus LF."""
    shown = visible(text, lines=True)
    fence = _fence(shown, 3)
    return f"{fence}text\n{shown}\n{fence}"
