"""Reading CSV text so that errors point at the right row."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path


def csv_lines(path: Path, encoding: str) -> Iterator[str]:
    """Decoded lines of a CSV file, decoded one line at a time.

    Decoding per line (not per 8 KB chunk) makes a decoding error surface at
    the row that holds it. A UTF-8 byte-order mark is dropped.
    """
    if encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
        encoding = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        for raw in handle:
            yield decoder.decode(raw)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail
