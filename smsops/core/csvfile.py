"""Reading CSV text fast, with decoding errors pointed at the right row.

A CSV is read as text, decoded in large blocks (in C). A decoding error then
surfaces at the block, up to a few hundred rows before the row that holds
it; `undecodable_row` finds that row by decoding the file again line by
line, which only a broken file pays for.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def open_text(path: Path, encoding: str) -> TextIO:
    """The CSV file as text for `csv.reader`; a UTF-8 byte-order mark is dropped."""
    return path.open(encoding=_with_bom(encoding), newline="")


def undecodable_row(path: Path, encoding: str, delimiter: str) -> int | None:
    """The row (the header is row 1) that cannot be decoded, if any."""
    read = 0
    try:
        for _ in csv.reader(csv_lines(path, encoding), delimiter=delimiter):
            read += 1
    except UnicodeDecodeError:
        return read + 1
    return None


def csv_lines(path: Path, encoding: str) -> Iterator[str]:
    """Decoded lines of a CSV file, decoded one line at a time (slow, exact).

    Decoding per line (not per block) makes a decoding error surface at the
    row that holds it. A UTF-8 byte-order mark is dropped.
    """
    decoder = codecs.getincrementaldecoder(_with_bom(encoding))()
    with path.open("rb") as handle:
        for raw in handle:
            yield decoder.decode(raw)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


def _with_bom(encoding: str) -> str:
    if encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig"):
        return "utf-8-sig"
    return encoding
