"""Phone numbers of a CSV audience, normalised once per file content.

Normalising is most of the cost of a plan (~20 µs a number, pure Python in
`phonenumbers`). The results for a CSV file are kept in the cache directory
the caller passes (the CLI and the daemon read the `SMSOPS_CACHE_DIR`
setting, default `~/.cache/smsops`; without one nothing is kept) under the
hash of the file's bytes (its snapshot's digest, taken when the config was
loaded: no second pass over the file), its `default_region` and the
phonenumbers version: one line per data row, in file order. A changed file
has another hash, so a stale entry is never read; an entry is written only
when the whole snapshot was read (and so verified). A cache that cannot be
written is skipped silently: it only saves time.

Entries are pruned (they hold the numbers of people who may have left the
CSV since, and a CSV edited every minute would make one a minute): reading
an entry marks it used, and writing one removes the entries unused for
`KEEP_UNUSED` and all but the `KEEP_ENTRIES` most recently used.

Without an entry, a big file is normalised on every core (process pool,
a bounded number of chunks in flight so memory stays flat).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from smsops.audience.normalising import normalize_all, yield_to_planner
from smsops.core.phone import PhoneNumber, normalize
from smsops.core.snapshots import Snapshot

if TYPE_CHECKING:  # the pool is imported when a big file is normalised (~7 ms of every start)
    from concurrent.futures import Future

FORMAT = "2"  # lines: result, tab, the raw number (escaped)
CHUNK = 4096  # numbers per task
PARALLEL_FROM = 2**18  # bytes of CSV (~8,000 rows): below this a pool costs more than it saves
IN_FLIGHT = 4  # chunks per worker queued at once
KEEP_ENTRIES = 128  # cache entries kept (the most recently used): more than any config has CSVs
KEEP_UNUSED = 7 * 24 * 3600  # seconds an unused entry is kept

Row = TypeVar("Row")
# `PhoneNumber(e164, region)` without the Python frame of a NamedTuple's __new__ (the same
# tuple, made in C: ~0.14 s of a million-row re-plan).
_made = tuple.__new__
Result = PhoneNumber | str


def normalised(
    snapshot: Snapshot,
    region: str | None,
    rows: Iterator[tuple[Row, str]],
    cache_dir: Path | None,
) -> Iterator[tuple[Row, Result]]:
    """(row, E.164 number or why not) for each (row, raw phone) of the CSV `snapshot`.

    Without a `cache_dir` every number is normalised and nothing is written.
    """
    parallel = snapshot.size >= PARALLEL_FROM
    if cache_dir is None:
        return _uncached(_computed(rows, region, parallel=parallel))
    entry = cache_dir / f"numbers-{_key(snapshot, region)}.txt"
    if entry.is_file():
        with contextlib.suppress(OSError):
            os.utime(entry)  # used now: kept by the pruning
        return _from_entry(entry, rows, region)
    return _filling(entry, rows, region, parallel=parallel)


def _uncached(
    computed: Iterator[tuple[tuple[Row, str], Result]],
) -> Iterator[tuple[Row, Result]]:
    return ((row, result) for (row, _), result in computed)


def _filling(
    entry: Path, rows: Iterator[tuple[Row, str]], region: str | None, *, parallel: bool
) -> Iterator[tuple[Row, Result]]:
    """Normalise every number and write the cache entry on the way (kept if complete)."""
    out = _open_entry(entry)
    complete = False
    try:
        for (row, raw), result in _computed(rows, region, parallel=parallel):
            if out is not None:
                out[0].write(_line(result, raw) + "\n")
            yield row, result
        complete = True
    finally:
        if out is not None:
            _close_entry(out, entry, complete)


def _key(snapshot: Snapshot, region: str | None) -> str:
    import phonenumbers

    key = f"{FORMAT}\0{region}\0{phonenumbers.__version__}\0{snapshot.digest}"
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _from_entry(
    entry: Path, rows: Iterator[tuple[Row, str]], region: str | None
) -> Iterator[tuple[Row, Result]]:
    """Each row with its cached result, used only when the line's raw number is the row's.

    The rows come from a verified snapshot of the very content the key
    names; each line still carries its raw number, so a line that does not
    belong to its row (an entry altered on disk) is normalised afresh instead.
    """
    with entry.open(encoding="utf-8") as lines:
        # lines first: zip stops at the end of the entry without taking a row
        for line, (row, raw) in zip(lines, rows, strict=False):
            fields = line.rstrip("\n").split("\t")
            # the common line: a number made from this very raw text (_escaped, inlined)
            if len(fields) == 3 and fields[2] == raw and line[0] != "!" and "\\" not in raw:
                yield row, _made(PhoneNumber, (fields[0], fields[1] or None))
                continue
            result, cached_raw = _parse(line)
            yield row, (result if cached_raw == _escaped(raw) else normalize(raw, region))
    for row, raw in rows:  # rows past the entry's end (the file grew meanwhile)
        yield row, normalize(raw, region)


def _escaped(raw: str) -> str:
    """The raw number as a cache line holds it.

    Escaping changes exactly the texts with a backslash, a control or a
    non-ASCII character, and its output always holds a backslash then: a
    line's raw text without one was made from that very text, unescaped.
    """
    if raw.isascii() and raw.isprintable() and "\\" not in raw:
        return raw
    return raw.encode("unicode_escape").decode("ascii")


def _line(result: Result, raw: str) -> str:
    found = "!" + result if isinstance(result, str) else f"{result.e164}\t{result.region or ''}"
    return f"{found}\t{_escaped(raw)}"


def _parse(line: str) -> tuple[Result, str | None]:
    """(result, the raw number it was made from); (reason, None) for a line that is not ours."""
    if line.startswith("!"):
        reason, tab, raw = line[1:].rstrip("\n").partition("\t")
        return reason, raw if tab else None
    fields = line.rstrip("\n").split("\t", 2)
    if len(fields) != 3:
        return "unreadable cache line", None
    e164, region, raw = fields
    return PhoneNumber(e164, region or None), raw


def _open_entry(entry: Path) -> tuple[TextIO, str] | None:
    """A temporary file beside the entry, or None when the cache is not writable."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=entry.parent, prefix=".numbers-")
        return os.fdopen(fd, "w", encoding="utf-8"), name
    except OSError:
        return None


def _close_entry(temporary: tuple[TextIO, str], entry: Path, keep: bool) -> None:
    out, name = temporary
    with contextlib.suppress(OSError):
        out.close()
        if keep:
            os.replace(name, entry)
            _prune(entry.parent)
        else:
            os.unlink(name)


def _prune(cache_dir: Path, now: float | None = None) -> None:
    """Remove entries unused for KEEP_UNUSED, and all but the KEEP_ENTRIES newest."""
    now = time.time() if now is None else now
    entries: list[tuple[float, Path]] = []
    for path in cache_dir.glob("numbers-*.txt"):
        with contextlib.suppress(OSError):
            entries.append((path.stat().st_mtime, path))
    entries.sort(reverse=True)
    for rank, (used, path) in enumerate(entries):
        if rank >= KEEP_ENTRIES or used < now - KEEP_UNUSED:
            with contextlib.suppress(OSError):
                path.unlink()


def _computed(
    rows: Iterator[tuple[Row, str]], region: str | None, *, parallel: bool
) -> Iterator[tuple[tuple[Row, str], Result]]:
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if not parallel or workers < 2:
        for item in rows:
            yield item, normalize(item[1], region)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # forkserver: safe from threaded callers (run mode plans in a worker thread)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=yield_to_planner) as pool:
        pending: deque[tuple[list[tuple[Row, str]], Future[list[Result]]]] = deque()
        for chunk in _chunks(rows):
            numbers = [raw for _, raw in chunk]
            pending.append((chunk, pool.submit(normalize_all, numbers, region)))
            if len(pending) >= workers * IN_FLIGHT:
                yield from _ready(pending.popleft())
        while pending:
            yield from _ready(pending.popleft())


def _ready(
    task: tuple[list[tuple[Row, str]], Future[list[Result]]],
) -> Iterator[tuple[tuple[Row, str], Result]]:
    chunk, future = task
    yield from zip(chunk, future.result(), strict=True)


def _chunks(rows: Iterator[tuple[Row, str]]) -> Iterator[list[tuple[Row, str]]]:
    chunk: list[tuple[Row, str]] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
