"""The bounds of one render, and the checks that keep each operation inside them.

Templates come from pull requests. Jinja's sandbox stops a template from
reaching Python's internals, but not from asking for a gigabyte
(`{{ 'a' * 10**9 }}`), an hour (`range(10**5)` nested twice) or a padded
field a billion characters wide (`'%999999999s'`). Every operation that can
make something much larger than its inputs is checked here *before* it
allocates, against a bound sized for SMS: a message beyond a few thousand
characters is nonsense (providers cap a concatenated message at 1,600 to
~10,000 characters), so 10,000 leaves every real message room.

A bound that is exceeded raises `RenderLimitExceeded`, whose text names the
bound and its value, never the data: the renderer turns it into a
`render_error` skip and `validate` into a located error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from itertools import chain
from typing import Any

from jinja2.utils import Namespace

from smsops.core.errors import RenderLimitExceeded

# Characters of a rendered message, and characters (or items) of any string,
# list or tuple that one operation makes: `*`, `+`, `~`, `%`, `format`,
# padding (`center`, `ljust`, `indent`, ...), `replace`, `join`, `wordwrap`.
MAX_TEXT = 10_000
# Items one `range()` may produce (Jinja's own sandbox allows 100,000).
MAX_RANGE = 10_000
# Loop iterations plus calls of the template's macros (and blocks, recursive
# loops) in one render: 10,000 passes per recipient is an attack, not a message.
MAX_STEPS = 10_000
# Characters written inside loops, macros and blocks in one render, counted as
# they are written, so output that is built and thrown away is bounded too.
MAX_WRITTEN = 100_000
# Characters (and items) that the sized operations above make in one render,
# all together: a filter pipeline such as `range(10000)|map('center', 9999)`
# makes each string within MAX_TEXT but would make 100 MB in all.
MAX_MADE = 1_000_000
# Bits of an integer that `*` or `**` makes (about 3,000 decimal digits).
MAX_INT_BITS = 10_000
# Words `lipsum(n, html, min, max)` may produce, taken as n times max.
MAX_LIPSUM_WORDS = 1_000
# Spaces (or characters) of `tojson(indent)`: every nested line repeats them.
MAX_JSON_INDENT = 16

TEXT = "the length of a text or list"
MESSAGE = "message length in characters"
RANGE = "range() length"
STEPS = "loop iterations and macro calls per message"
WRITTEN = "characters written by loops and macros per message"
MADE = "characters made by repeating, padding and joining per message"
INT_BITS = "integer size in bits"
WIDTHS = "format widths and precisions"
STAR_WIDTH = "a format width or precision given by '*'"
LIPSUM = "lipsum() words"
JSON_INDENT = "tojson indent"

# Tuples of types, built once: `isinstance(x, A | B)` builds its union every call.
_SEQUENCES = (str, bytes, bytearray, list, tuple)
_TEXTS = (str, bytes, bytearray)
_CONTAINERS = (list, tuple, dict, set, frozenset)
# One %-conversion: an optional (key), flags, width, .precision, length, type.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)", re.S)
_DIGITS = re.compile(r"\d+")


def check_size(size: int, bound: str = TEXT, limit: int = MAX_TEXT) -> None:
    """Raise when `size` (characters or items about to be made) is past `limit`."""
    if size > limit:
        raise RenderLimitExceeded(bound, limit)


# The weight of each container already weighed in this render, by id (the
# container is kept so that its id cannot be reused).
Weights = dict[int, tuple[Any, int]]


def weigh(value: Any, weights: Weights) -> int:
    """How much text `value` stands for: a string's length, a container's items' weights
    (a list holding one list twice counts it twice, as `str()` would print it), 1 else.

    Raises past MAX_TEXT, having looked at no more than MAX_TEXT items: a
    list doubled 60 times (`[a, a]`, 2**60 leaves) is refused, not walked.
    The sandbox is immutable, so a list's or dict's weight never changes and
    is remembered; a namespace's attributes can be set again, so it is not.
    """
    if isinstance(value, _TEXTS):
        return len(value)
    if isinstance(value, _CONTAINERS):
        known = weights.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        total = 1
        for item in chain.from_iterable(value.items()) if isinstance(value, dict) else value:
            total += weigh(item, weights)
            check_size(total)
        weights[id(value)] = (value, total)
        return total
    if isinstance(value, Namespace):
        attributes: dict[str, Any] = object.__getattribute__(value, "_Namespace__attrs")
        total = 1
        for item in attributes.values():
            total += weigh(item, weights)
            check_size(total)
        return total
    return 1


def made(value: Any) -> int:
    """What a result costs against MAX_MADE: its length if it has one."""
    return len(value) if isinstance(value, _SEQUENCES) else 0


def multiply(left: Any, right: Any, weights: Weights) -> Any:
    """`*`: sequence repetition and integer products, sized before they are made."""
    if isinstance(left, int) and isinstance(right, int):
        check_size(left.bit_length() + right.bit_length(), INT_BITS, MAX_INT_BITS)
    elif isinstance(left, _SEQUENCES) and isinstance(right, int):
        check_size(weigh(left, weights) * right)
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        check_size(weigh(right, weights) * left)
    return left * right


def power(left: Any, right: Any, weights: Weights) -> Any:
    """`**`: an integer power is sized from log2 of its base (`9**9**9` is refused)."""
    integers = isinstance(left, int) and isinstance(right, int)
    if integers and right > 0 and abs(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
        raise RenderLimitExceeded(INT_BITS, MAX_INT_BITS)
    return left**right


def add(left: Any, right: Any, weights: Weights) -> Any:
    """`+`: concatenating texts, lists or tuples."""
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        check_size(weigh(left, weights) + weigh(right, weights))
    return left + right


def modulo(left: Any, right: Any, weights: Weights) -> Any:
    """`%`: printf-style formatting of a text is checked like `format`; numbers pass."""
    if isinstance(left, str | bytes):
        check_percent_format(left if isinstance(left, str) else left.decode("latin-1"))
        check_size(weigh(right, weights))
        result = left % right
        check_size(len(result))
        return result
    return left % right


def join_text(values: Iterable[Any]) -> str:
    """`~`: the concatenation operator, sized before it is joined."""
    parts = [str(value) for value in values]
    check_size(sum(map(len, parts)))
    return "".join(parts)


def check_percent_format(text: str) -> None:
    """Refuse `'%999999999s'`-style widths: their sum must stay within MAX_TEXT.

    A `*` width or precision takes its value from the arguments, where it
    cannot be sized up front, so it is refused outright.
    """
    total = _percent_widths(text)
    if total < 0:
        raise RenderLimitExceeded(STAR_WIDTH, 0)
    check_size(total, WIDTHS)


@lru_cache(maxsize=1024)
def _percent_widths(text: str) -> int:
    """The sum of a %-format's widths and precisions, -1 if one is `*` (cached: formats
    are mostly a template's constants, and the scan costs a microsecond)."""
    total = 0
    for match in _PERCENT.finditer(text):
        width, precision = match.group(1), match.group(2)
        if width == "*" or precision == "*":
            return -1
        total += int(width or 0) + int(precision or 0)
    return total


@lru_cache(maxsize=1024)
def spec_widths(spec: str) -> int:
    """What a `str.format` spec like `>999999999` or `.5000f` may pad to: all its numbers.

    Summing every run of digits over-counts (a fill character may be a
    digit) but never under-counts, whatever the value's `__format__` is.
    """
    return sum(int(run) for run in _DIGITS.findall(spec))


def replaced_length(text: str | bytes, old: Any, new: Any, count: int = -1) -> int:
    """The exact length `text.replace(old, new, count)` will have, or -1 if it will fail."""
    if not isinstance(old, type(text)) or not isinstance(new, type(text)):
        return -1
    found = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
    if count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def joined(separator: str | bytes | bytearray, items: Iterable[Any]) -> list[Any]:
    """The items of a `join`, listed and sized as they come, before they are joined."""
    listed: list[Any] = []
    total = 0
    for item in items:
        if isinstance(item, _TEXTS):
            total += len(item) + (len(separator) if listed else 0)
            check_size(total)
        listed.append(item)
    return listed


def guard_method(
    owner: object, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    """Size the calls of built-in methods that can make much more than they are given.

    Returns the arguments to call with (a `join`'s items, once listed).
    Every other method of str, bytes and int returns at most a constant
    times its input and passes unchecked.
    """
    if isinstance(owner, _TEXTS):
        if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
            check_size(args[0])
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            tab = "\t" if isinstance(owner, str) else b"\t"
            if isinstance(size, int):
                check_size(len(owner) + owner.count(tab) * max(size, 0))  # type: ignore[arg-type]
        elif name == "replace" and len(args) >= 2:
            count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
            text = bytes(owner) if isinstance(owner, bytearray) else owner
            check_size(replaced_length(text, args[0], args[1], count))
        elif name == "join" and args:
            return (joined(owner, args[0]), *args[1:])
        elif name == "translate" and args and isinstance(owner, str):
            table = args[0]
            if not isinstance(table, dict):
                raise RenderLimitExceeded(TEXT + " (translate takes only a dict here)", MAX_TEXT)
            longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
            check_size(len(owner) * max(longest, 1))
    elif isinstance(owner, int) and name == "to_bytes":
        size = args[0] if args else kwargs.get("length", 1)
        if isinstance(size, int):
            check_size(size)
    return args
