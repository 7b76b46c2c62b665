"""Secret values, scrubbed by value from every text that came from outside.

A provider, or a proxy in front of it, may echo the request in its error
body: headers (`x-api-key: ...`), the URL, the JSON body. Whatever we then
print, log, export or store would carry the key. So every secret value is
registered here the moment a `${env:NAME}` reference is resolved (only a
real request resolves one), and `scrub` replaces it in any text, in every
spelling an echo would plausibly use:

- the value as is, in any letter case (a proxy may lower-case a header);
- with any of its characters percent-encoded (a URL or form echo, whatever
  the encoder leaves unescaped; `+` for a space; twice-encoded),
  JSON/Python-escaped (`\\u0026`, `\\"`, also doubled: a request body echoed
  inside a JSON string) or written as HTML entities (an HTML error page);
- base64, at each of the three byte alignments (a proxy echoing a body or
  a header block encoded), matched on the part that does not depend on the
  neighbouring bytes.

The registry is process-wide on purpose: the last guards where text leaves
(the CLI's stdout/stderr and run mode's log handler) cannot know which
config resolved what. Values shorter than `MIN_LENGTH` are not scrubbed:
they cannot be secret, and scrubbing them would garble every line.
"""

from __future__ import annotations

import _thread
import json
import re

REPLACEMENT = "***"
MIN_LENGTH = 4
_BASE64_MIN = 8  # a shorter base64 run would match unrelated text

# threading.Lock itself; the threading module would cost every command's start ~2 ms
_lock = _thread.allocate_lock()
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
        # longest first, so a longer secret is replaced whole before a part of it
        ordered = sorted(_values, key=lambda v: (-len(v), v))
        forms = [pattern_for(v) for v in ordered]
        cores = sorted({core for v in ordered for core in _base64_cores(v.encode())})
        # Every spelling starts with one of these characters: a cheap test at each
        # position before the long alternation (scrubbing is ~20 times faster).
        starts = {c for v in ordered for c in (v[0].lower(), v[0].upper())} | set("\\%&+")
        starts |= {core.lstrip("\\")[0] for core in cores}
        first = "[" + "".join(re.escape(c) for c in sorted(starts)) + "]"
        _pattern = re.compile(f"(?={first})(?:{'|'.join(forms + cores)})", re.IGNORECASE)


def scrub(text: str) -> str:
    """`text` with every registered secret, in every spelling, replaced by `***`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REPLACEMENT, text)


def redact(text: str, values: tuple[str, ...]) -> str:
    """`text` with each of `values` replaced by `***` in every spelling `scrub` knows.

    For a value secret to one message (a one-time code in its text), which is
    not registered: the registry is for the process's lifetime and scrubs
    every line, while a code matters only where its own send's answer lands.
    """
    if not values or not text:
        return text
    forms = sorted({pattern_for(v) for v in values if v}, key=len, reverse=True)
    cores = sorted({core for v in values for core in _base64_cores(v.encode())})
    return re.sub("|".join(forms + cores), REPLACEMENT, text, flags=re.IGNORECASE)


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


def pattern_for(value: str) -> str:
    """A regular expression for `value` in any mix of the escapes an echo may use.

    Each character may stand as itself or percent-encoded (also twice, a URL
    inside a URL), JSON/Python-escaped (any number of backslashes: a body
    echoed inside a JSON string), or as an HTML entity. Matching per
    character catches every encoder's choice of what to escape.
    """
    return "".join(_character(c) for c in value)


def _character(c: str) -> str:
    import html  # here: only a resolved secret needs it, and every command imports this module

    forms = [re.escape(c)]
    # JSON and Python escapes, e.g. \" \u00e9 \ud83d\ude00 \xe9, behind any number of backslashes
    forms.append(r"\\+" + re.escape(c))  # \/ in JSON, \' in a Python repr
    escaped = json.dumps(c)[1:-1]
    if escaped != c:
        forms.append("".join(r"\\+" + re.escape(part) for part in escaped.split("\\")[1:]))
    if ord(c) < 0x10000:
        forms.append(rf"\\+u{ord(c):04x}")
    if ord(c) < 0x100:
        forms.append(rf"\\+x{ord(c):02x}")  # a str repr
    forms.append("".join(rf"\\+x{byte:02x}" for byte in c.encode()))  # a bytes repr
    forms.append("".join(f"%(?:25)?{byte:02x}" for byte in c.encode()))
    if c == " ":
        forms.append(r"\+")
    forms += [re.escape(html.escape(c)), f"&#0*{ord(c)};", f"&#x0*{ord(c):x};"]
    unique = list(dict.fromkeys(forms))
    return unique[0] if len(unique) == 1 else "(?:" + "|".join(unique) + ")"


def _base64_cores(data: bytes) -> set[str]:
    """The base64 characters that encode only `data`, for each alignment in a longer stream.

    In a stream, `data` may start at byte offset 0, 1 or 2 of a 3-byte group;
    a character is fixed by `data` alone once its 6 bits lie wholly inside it.
    """
    import base64  # here, as html above

    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        first = -(-8 * offset // 6)  # ceil: skip characters that hold padding bits
        last = 8 * (offset + len(data)) // 6  # floor: drop those the next bytes complete
        core = encoded[first:last]
        if len(core) >= _BASE64_MIN:
            cores.add(re.escape(core))
            cores.add(re.escape(core.replace("+", "-").replace("/", "_")))  # urlsafe alphabet
    return cores


def token_matches(expected: str, given: str) -> bool:
    """Whether a caller's token (or signature) is `expected`, in constant time: how much of
    a guess is right never shows in how long the answer takes. Every token check of the
    run server (webhooks, Twilio signatures, the API, the status view) goes through here."""
    import hmac

    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
