"""Reading CSV text fast and bounded, with decoding errors pointed at the right row.

A CSV is read as text, decoded in large blocks (in C). A decoding error then
surfaces at the block, up to a few hundred rows before the row that holds
it; `undecodable_row` finds that row by decoding the file again line by
line, which only a broken file pays for.

Every read is of the file's snapshot, taken through `open_confined` when
the config was loaded (inside the config, a regular file, at most
`CSV_MAX_BYTES`; see `smsops.core.snapshots`), never of the file on disk,
and no line is ever longer than `CSV_MAX_LINE`
characters in memory: one endless line is refused where it starts. No field
holds a line break (`records`): an unclosed quote would otherwise swallow
the rows after it into one field, contacts vanishing without a word.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import sys
from collections.abc import Generator, Iterator
from typing import Protocol

from smsops.core.errors import SnapshotBroken
from smsops.core.files import CSV_MAX_LINE, describe_size
from smsops.core.snapshots import Snapshot, open_snapshot


class LineTooLong(ValueError):
    """A physical line of a CSV file is longer than `CSV_MAX_LINE`; `line` is its 1-based number."""

    def __init__(self, line: int) -> None:
        self.line = line
        super().__init__(
            f"a line longer than {describe_size(CSV_MAX_LINE)} characters; "
            "a CSV row is one contact, keep it short"
        )


class FieldRunsOver(ValueError):
    """A quoted field of a CSV row holds a line break; `row` is the row's number (header 1)."""

    def __init__(self, row: int) -> None:
        self.row = row
        super().__init__(
            "a quoted field runs over the end of the line (an unclosed quote?); "
            "fields may not hold line breaks"
        )


class Reader(Protocol):
    """What `records` needs of a `csv.reader`."""

    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


def records(reader: Reader, first: int = 1) -> Iterator[list[str]]:
    """The rows of a `csv.reader`, each on one line; a row over more is `FieldRunsOver`.

    `first` is the number of the reader's first row. A row read over more
    lines than one, or whose last field ends in a line break (a quote left
    open at the end of the file), is refused before it is yielded; the check
    is one comparison a row. Names and order ids never hold line breaks.
    """
    line_num = reader.line_num
    number = first - 1
    for row in reader:
        number += 1
        now = reader.line_num
        if now != line_num + 1 or (row and row[-1][-1:] in ("\n", "\r")):
            raise FieldRunsOver(number)
        line_num = now
        yield row


def open_text(snapshot: Snapshot, encoding: str) -> io.TextIOWrapper:
    """The CSV file's snapshot as text; a UTF-8 byte-order mark is dropped."""
    raw = open_snapshot(snapshot)
    try:
        return io.TextIOWrapper(raw, encoding=_with_bom(encoding), newline="")
    except BaseException:  # an unknown encoding: the file is closed, not leaked
        raw.close()
        raise


def text_lines(text: io.TextIOWrapper) -> Iterator[str]:
    """The lines of `text` for `csv.reader`, each at most `CSV_MAX_LINE` characters.

    `readline` with a size never holds more than that size; a line that
    fills it without ending is refused (`LineTooLong`). Costs ~0.1 s per
    million rows over iterating the file directly.
    """
    read = text.readline
    number = 0
    while line := read(CSV_MAX_LINE):
        number += 1
        if len(line) == CSV_MAX_LINE and line[-1] not in "\r\n":
            raise LineTooLong(number)
        yield line


def within_cap(snapshot: Snapshot, encoding: str) -> bool:
    """Whether no line of the snapshot, read as `encoding`, can reach `CSV_MAX_LINE` characters.

    Known from its capture (`Snapshot.break_window`): no run of bytes without
    a line break is `2 * break_window - 1` long, so no line with its ending
    is over `2 * break_window` bytes; in an encoding whose line-break bytes
    are only line breaks and whose every character takes at least a byte, it
    has no more characters than that. Below the cap, `text_lines` would read
    the very lines iterating the text reads, and refuse none: its read per
    line (~0.05 s a million rows) is then left out. Otherwise, or when in
    doubt about the encoding, the capped read stays.
    """
    window = snapshot.break_window
    return 0 < 2 * window < CSV_MAX_LINE and _breaks_are_bytes(_with_bom(encoding))


@functools.lru_cache(maxsize=32)
def _breaks_are_bytes(encoding: str) -> bool:
    """UTF-8 and single-byte tables (latin-1, cp1252...) whose bytes 10 and 13 are the line
    breaks: each character at least a byte, a break byte never part of another character."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        return False
    if info.name in ("utf-8", "utf-8-sig", "ascii", "iso8859-1"):
        return True
    # A table codec (encodings.cp1252...): one character per byte. Asked of the decoder
    # itself, so a codec that only has such a table (or is stateful) keeps the capped read.
    table = getattr(sys.modules.get(info.incrementaldecoder.__module__), "decoding_table", None)
    if not isinstance(table, str) or len(table) != 256 or (table[10], table[13]) != ("\n", "\r"):
        return False
    every = bytes(range(256))
    try:
        decoded = info.incrementaldecoder("replace").decode(every, final=True)
    except Exception:  # any codec that does not decode plainly keeps the cap
        return False
    return bool(decoded == codecs.charmap_decode(every, "replace", table)[0])


def undecodable_row(snapshot: Snapshot, encoding: str, delimiter: str) -> int | None:
    """The row (the header is row 1) that cannot be decoded, if any.

    None also when the file cannot be read again (its snapshot broken, a
    line too long before the bad bytes): the caller then points at its block.
    """
    read = 0
    try:
        for _ in records(csv.reader(csv_lines(snapshot, encoding), delimiter=delimiter)):
            read += 1
    except UnicodeDecodeError:
        return read + 1
    except (OSError, SnapshotBroken, LineTooLong, FieldRunsOver, csv.Error):
        return None
    return None


def csv_lines(snapshot: Snapshot, encoding: str) -> Generator[str, None, None]:
    """Decoded lines of a CSV file, decoded one line at a time (slow, exact).

    Decoding per line (not per block) makes a decoding error surface at the
    row that holds it. A UTF-8 byte-order mark is dropped. Lines are read
    at most `CSV_MAX_LINE` bytes at a time (a longer one is `LineTooLong`).
    """
    decoder = codecs.getincrementaldecoder(_with_bom(encoding))()
    with open_snapshot(snapshot) as handle:
        number = 0
        while raw := handle.readline(CSV_MAX_LINE):
            number += 1
            if len(raw) == CSV_MAX_LINE and raw[-1:] not in (b"\r", b"\n"):
                raise LineTooLong(number)
            yield decoder.decode(raw)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


def _with_bom(encoding: str) -> str:
    if encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig"):
        return "utf-8-sig"
    return encoding
