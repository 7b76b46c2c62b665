"""Text from configs and data, made safe to print on a terminal.

Template bodies, CSV cells, file names, provider replies and exception
texts reach `plan`, `render`, `validate`, `ledger list`, `apply` and the
run logs. Printed as they are, an ESC sequence in them recolours or clears
the screen, sets the window title, writes an OSC 8 hyperlink or an OSC 52
clipboard write; CR and backspace overwrite what was printed ("nothing to
send" over a line saying 10,000 will be sent); a bidirectional override
makes text look reordered ("Trojan Source"). rich, which prints `plan`,
strips only BEL, BS, VT, FF and CR (rich/control.py, silently, so a
reviewer does not see they are there) and passes ESC, NUL, DEL, the C1
controls and bidi controls through.

`printable` shows each such character as a visible escape, so what is
printed is inert and still says which character is there:

- every C0 control (U+0000-U+001F) as `\\xNN`, except TAB, LF and CR,
  written `\\t`, `\\n` and `\\r`; DEL and the C1 controls (U+007F-U+009F,
  which some terminals obey like ESC sequences) as `\\xNN`;
- the bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E,
  U+2066-U+2069) and the line and paragraph separators (U+2028, U+2029)
  as `<U+202E>`.

LF too, by default: each item (a sample, a name, a problem, a ledger row, a
log line) stays on its own line, so data can never print a line that looks
like ours. `lines=True` keeps LF, for texts that are several lines by
nature (a traceback in a text log). A backslash is not escaped: a literal
`\\x1b` typed in data looks like an escaped ESC, which can only make text
look more suspicious than it is, never hide a control.

JSON needs no escaping of C0 (`json.dumps` writes them as `\\uNNNN`), but
with `ensure_ascii=False`, which keeps accents and emoji readable, it
writes DEL, C1 and bidi controls raw; `json_text` writes those as `\\uNNNN`
too, which parses back to exactly the same strings.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_RAW_CONTROLS = [*range(0x20), *range(0x7F, 0xA0)]
BIDI_CONTROLS = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
SEPARATORS = (0x2028, 0x2029)


def codepoint(c: int) -> str:
    """The visible form of a bidi control or separator: `<U+202E>`."""
    return f"<U+{c:04X}>"


_ESCAPES: dict[int, str] = {
    **{c: _NAMED.get(c, f"\\x{c:02x}") for c in _RAW_CONTROLS},
    **{c: codepoint(c) for c in (*sorted(BIDI_CONTROLS), *SEPARATORS)},
}
_KEEP_LINES = {c: v for c, v in _ESCAPES.items() if c != 0x0A}
# Inside a JSON string any character may be written \uNNNN; these are the
# ones json.dumps(ensure_ascii=False) leaves raw that a terminal may obey.
_JSON_ESCAPES = {
    c: f"\\u{c:04x}" for c in (*range(0x7F, 0xA0), *sorted(BIDI_CONTROLS), *SEPARATORS)
}


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with every control, bidi control and separator shown as a visible escape.

    `lines` keeps LF (see the module docstring for when).
    """
    return text.translate(_KEEP_LINES if lines else _ESCAPES)


def controls(text: str) -> list[str]:
    """Each character of `text` that `printable` escapes, once, as it shows it (`\\n`)."""
    return list(dict.fromkeys(_ESCAPES[ord(c)] for c in text if ord(c) in _ESCAPES))


def json_text(
    value: Any,
    *,
    indent: int | None = None,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """`json.dumps(value, ensure_ascii=False)` with no character a terminal would obey.

    A `Decimal` (money: the forecast's costs) is written as a JSON number with its
    exact digits, which no float can carry: json writes only floats as numbers, so
    each is written as a marked string first (the mark is random per call: no text
    in the data can make it) and the marks are then taken off.
    """
    mark = f"decimal-{os.urandom(8).hex()}:"
    marked = False

    def encode(obj: Any) -> Any:
        nonlocal marked
        if isinstance(obj, Decimal) and obj.is_finite():
            marked = True
            return mark + format(obj, "f")
        if default is None:
            raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
        return default(obj)

    text = json.dumps(value, indent=indent, sort_keys=sort_keys, default=encode, ensure_ascii=False)
    if marked:
        text = re.sub(f'"{mark}(-?[0-9]+(?:\\.[0-9]+)?)"', r"\1", text)
    return inert_json(text)


def inert_json(text: str) -> str:
    """JSON text (from any serializer that leaves non-ASCII raw) with no character a
    terminal would obey: each written as its \\uNNNN escape, the same JSON value."""
    return text.translate(_JSON_ESCAPES)
