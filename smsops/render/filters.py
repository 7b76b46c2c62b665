"""Jinja's filters and `lipsum` that can make far more than they are given, bounded.

Each keeps the signature and result of the Jinja filter it replaces (for
the plain-text, non-autoescaped environment smsops renders in), sizes its
result from its arguments before building it, and charges what it made to
the render (MAX_MADE), also when `map` calls it once per item. Every other
filter is wrapped by `bounded`: a constant times its input is still
unbounded along a chain, so each text result is sized and charged.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Iterator
from functools import update_wrapper
from typing import Any

from jinja2.filters import do_tojson, make_attrgetter
from jinja2.runtime import Context
from jinja2.utils import _PassArg, generate_lorem_ipsum, pass_context

from smsops.core.errors import RenderLimitExceeded
from smsops.render.budget import charge_made
from smsops.render.limits import (
    JSON_INDENT,
    LIPSUM,
    MAX_JSON_INDENT,
    MAX_LIPSUM_WORDS,
    MAX_TEXT,
    check_percent_format,
    check_size,
    joined,
    replaced_length,
)


def _made(context: Context, text: str) -> str:
    charge_made(context, len(text))
    return text


@pass_context
def center(context: Context, value: Any, width: int = 80) -> str:
    check_size(width)
    return _made(context, str(value).center(width))


@pass_context
def indent(
    context: Context, s: Any, width: int | str = 4, first: bool = False, blank: bool = False
) -> str:
    """Jinja's `indent`, sized as lines times indentation before it is built."""
    text = str(s)
    indention = width if isinstance(width, str) else " " * min(max(width, 0), MAX_TEXT + 1)
    lines = text.splitlines() or [""]
    check_size(len(text) + (len(lines) + 1) * len(indention))
    text += "\n"  # Jinja's quirk, kept: splitlines drops a trailing newline
    if blank:
        result = ("\n" + indention).join(text.splitlines())
    else:
        rest = text.splitlines()
        result = rest.pop(0)
        if rest:
            result += "\n" + "\n".join(indention + line if line else line for line in rest)
    return _made(context, indention + result if first else result)


@pass_context
def wordwrap(
    context: Context,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    """Jinja's `wordwrap`: lines wrapped first (linear), their joined length summed first."""
    separator = "\n" if wrapstring is None else str(wrapstring)
    paragraphs = [
        textwrap.wrap(
            line,
            width=width,
            expand_tabs=False,
            replace_whitespace=False,
            break_long_words=break_long_words,
            break_on_hyphens=break_on_hyphens,
        )
        for line in str(s).splitlines()
    ]
    lines = sum(len(paragraph) for paragraph in paragraphs)
    joins = max(lines - 1, 0) + max(len(paragraphs) - 1, 0)
    check_size(sum(len(line) for p in paragraphs for line in p) + joins * len(separator))
    return _made(context, separator.join(separator.join(p) for p in paragraphs))


@pass_context
def format_(context: Context, value: Any, *args: Any, **kwargs: Any) -> str:
    """Jinja's `format` (printf-style), with its widths bounded like the `%` operator."""
    if args and kwargs:
        raise TypeError("can't handle positional and keyword arguments at the same time")
    text = str(value)
    check_percent_format(text)
    result = text % (kwargs or args)
    check_size(len(result))
    return _made(context, result)


@pass_context
def replace(context: Context, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    text, old, new = str(s), str(old), str(new)
    limit = -1 if count is None else count
    check_size(replaced_length(text, old, new, limit))
    return _made(context, text.replace(old, new, limit))


@pass_context
def join(context: Context, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    if attribute is not None:
        value = map(make_attrgetter(context.environment, attribute), value)
    separator = str(d)
    return _made(context, separator.join(joined(separator, map(str, value))))


def batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    """Jinja's `batch`: the fill of the last batch is `linecount` items, so it is bounded."""
    if fill_with is not None:
        check_size(linecount)
    batch_: list[Any] = []
    for item in value:
        if len(batch_) == linecount:
            yield batch_
            batch_ = []
        batch_.append(item)
    if batch_:
        if fill_with is not None and len(batch_) < linecount:
            batch_ += [fill_with] * (linecount - len(batch_))
        yield batch_


def slice_(value: Iterable[Any], slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    """Jinja's `slice`: `slices` lists are made whatever the input, so their number is bounded."""
    check_size(slices)
    items = list(value)
    per_slice, extra = divmod(len(items), slices)
    offset = 0
    for number in range(slices):
        start = offset + number * per_slice
        if number < extra:
            offset += 1
        end = offset + (number + 1) * per_slice
        part = items[start:end]
        if fill_with is not None and number >= extra:
            part.append(fill_with)
        yield part


@pass_context
def tojson(context: Context, value: Any, indent: Any = None) -> Any:
    """Jinja's `tojson`, its indent at most MAX_JSON_INDENT (each nested line repeats it).

    Taking the context also keeps Jinja from running it at compile time on a
    constant, which `validate` would otherwise do unbounded.
    """
    if isinstance(indent, int | str) and not isinstance(indent, bool):
        width = len(indent) if isinstance(indent, str) else indent
        if width > MAX_JSON_INDENT:
            raise RenderLimitExceeded(JSON_INDENT, MAX_JSON_INDENT)
    result = do_tojson(context.eval_ctx, value, indent)
    check_size(len(result))
    return _made(context, result)


def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's `lipsum` global, refused past MAX_LIPSUM_WORDS (n paragraphs of max words)."""
    if n * max > MAX_LIPSUM_WORDS:
        raise RenderLimitExceeded(LIPSUM, MAX_LIPSUM_WORDS)
    return generate_lorem_ipsum(n, html, min, max)


def bounded(filter_: Callable[..., Any]) -> Callable[..., Any]:
    """Any other filter, its text result sized (MAX_TEXT) and charged (MAX_MADE).

    No filter chain grows past the bounds however each filter grows its
    input (`pprint` doubles backslashes, `forceescape` quintuples `&`).
    The wrapper takes the context, which also keeps Jinja from running the
    filter at compile time on a constant, where no bound would apply.
    """
    passed = _PassArg.from_obj(filter_)

    def wrapper(context: Context, *args: Any, **kwargs: Any) -> Any:
        if passed is _PassArg.context:
            result = filter_(context, *args, **kwargs)
        elif passed is _PassArg.eval_context:
            result = filter_(context.eval_ctx, *args, **kwargs)
        elif passed is _PassArg.environment:
            result = filter_(context.environment, *args, **kwargs)
        else:
            result = filter_(*args, **kwargs)
        if isinstance(result, str | bytes):
            check_size(len(result))
            charge_made(context, len(result))
        return result

    # pass_context after update_wrapper, which copies the filter's own pass marker
    return pass_context(update_wrapper(wrapper, filter_))


# The filters above, by the names Jinja gives them.
FILTERS: dict[str, Callable[..., Any]] = {
    "center": center,
    "indent": indent,
    "wordwrap": wordwrap,
    "format": format_,
    "replace": replace,
    "join": join,
    "batch": batch,
    "slice": slice_,
    "tojson": tojson,
}
