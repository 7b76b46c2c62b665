"""Secret values, scrubbed by value from every text that came from outside.

A provider, or a proxy in front of it, may echo the request in its error
body: headers (`x-api-key: ...`), the URL, the JSON body. Whatever we then
print, log, export or store would carry the key. So every secret value is
registered here the moment a `${env:NAME}` reference is resolved (only a
real request resolves one), and `scrub` replaces it in any text, in every
spelling an echo would plausibly use:

- the value as is, in any letter case (a proxy may lower-case a header);
- percent-encoded (a URL or form echo; `quote`, `quote_plus`);
- JSON-escaped, also twice (a request body echoed inside a JSON string),
  Python-repr-escaped (a dict printed by a careless server) and
  HTML-escaped (an HTML error page);
- base64, at each of the three byte alignments (a proxy echoing a body or
  a header block encoded), matched on the part that does not depend on the
  neighbouring bytes.

The registry is process-wide on purpose: the last guards where text leaves
(the CLI's stdout/stderr and run mode's log handler) cannot know which
config resolved what. Values shorter than `MIN_LENGTH` are not scrubbed:
they cannot be secret, and scrubbing them would garble every line.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from urllib.parse import quote, quote_plus

REPLACEMENT = "***"
MIN_LENGTH = 4
_BASE64_MIN = 8  # a shorter base64 run would match unrelated text

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None  # replaced whole, so readers need no lock


def register(value: str) -> None:
    """Remember a resolved secret: from now on `scrub` removes it from any text."""
    global _pattern
    candidates = {value, value.strip()} - _values
    candidates = {v for v in candidates if len(v) >= MIN_LENGTH}
    if not candidates:
        return
    with _lock:
        _values.update(candidates)
        forms = {form for v in _values for form in spellings(v)}
        # longest first, so a longer spelling is replaced whole before a part of it
        ordered = sorted(forms, key=lambda f: (-len(f), f))
        _pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)


def scrub(text: str) -> str:
    """`text` with every registered secret, in every spelling, replaced by `***`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REPLACEMENT, text)


def holds_secret(text: str) -> bool:
    """Whether `text` holds a registered secret in any spelling."""
    pattern = _pattern
    return pattern is not None and pattern.search(text) is not None


def forget_all() -> None:
    """Forget every registered value (tests start each case afresh)."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None


def spellings(value: str) -> set[str]:
    """The ways an echo of a request could write `value` (see the module docstring)."""
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        quote(value, safe="/:@!$&'()*+,;=~"),  # a URL keeps RFC 3986 sub-delimiters
        html.escape(value),
        html.escape(value, quote=False),
        repr(value)[1:-1],
    }
    for ascii_only in (True, False):
        once = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        forms.add(once)
        forms.add(json.dumps(once, ensure_ascii=ascii_only)[1:-1])
    forms.update(_base64_cores(value.encode()))
    return {form for form in forms if len(form) >= MIN_LENGTH}


def _base64_cores(data: bytes) -> set[str]:
    """The base64 characters that encode only `data`, for each alignment in a longer stream.

    In a stream, `data` may start at byte offset 0, 1 or 2 of a 3-byte group;
    a character is fixed by `data` alone once its 6 bits lie wholly inside it.
    """
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        first = -(-8 * offset // 6)  # ceil: skip characters that hold padding bits
        last = 8 * (offset + len(data)) // 6  # floor: drop those the next bytes complete
        core = encoded[first:last]
        if len(core) >= _BASE64_MIN:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))  # urlsafe alphabet
    return cores
