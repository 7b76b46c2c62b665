"""A config generation's files as they were validated: content-addressed private copies.

A config is validated once, at load; its rounds run later (`smsops run`
keeps a generation for hours). If they read an audience CSV from disk, an
edit made after validation (a broken header, rows a reviewer never saw)
would reach the running generation unvalidated. So every file a config
reads besides its YAML is captured once at load: streamed through
`open_confined` (the same checks and limits), hashed while it is copied,
and only the copy is read afterwards, its size checked at open and its
digest at the end of every full read. A copy that is missing or altered is
`SnapshotBroken`, never a fallback to the file on disk.

Copies are kept on disk, not in memory (a CSV may be 64 MiB, a config
may name several, and a daemon holds two generations during a round):

    <cache_dir>/snapshots/            0700, a real directory owned by this user
        run-<random>/                 0700, one per process, removed at its exit
            .lock                     flock'd while the process lives
            <sha256>                  0600, one per content

Without a cache directory (a library call, a test) the per-process
directory is a private temporary one instead, removed at exit as well.
A copy is removed as soon as no `Snapshot` of its content is alive: a
generation holds its snapshots, a running round holds its generation, so
the daemon keeps exactly the current generation's copies and those of
rounds still running. A process killed before its exit cleanup leaves its
`run-*` directory; the next process using the cache directory removes it
(its lock is free). Copies are per process, so one process's cleanup never
removes a copy another (a daemon, a concurrent `apply`) still reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from smsops.core.errors import CacheUnusable, FileRefused, SnapshotBroken
from smsops.core.files import MiB, open_confined
from smsops.core.snapshot_dirs import remove_run, run_directory

BLOCK = MiB  # bytes copied and hashed at a time: memory stays flat for any file size
# Bytes of a window that must hold a line break (b"\n" or b"\r") for a copy's lines to be
# known short (`Snapshot.break_window`): a run without one is then at most 2 * BREAK_WINDOW - 2
# bytes. A copy of 32 MiB is 128 windows, each one or two `bytes.find`.
BREAK_WINDOW = 256 * 1024


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One file of a generation as it was validated: where it was, its digest, its copy."""

    original: Path
    digest: str  # SHA-256 of the content, hex
    size: int
    copy: Path
    # Keeps the store (and its per-process directory and lock) alive while the copy is read.
    store: SnapshotStore = field(repr=False)
    # Every whole window of this many bytes of the copy, from its start, holds a line
    # break; 0 when one does not (or none was looked at). A reader that needs lines under
    # a cap (audience/csvfile.within_cap) learns it here rather than line by line.
    break_window: int = 0


class SnapshotStore:
    """The per-process directory of copies, with a count of the live snapshots of each."""

    def __init__(self, directory: Path | None) -> None:
        self.directory, self._lock_fd = run_directory(directory)
        self._users: dict[str, int] = {}
        # Reentrant: a snapshot's finalizer (`_release`) may run inside `capture`'s
        # critical section when a garbage collection starts there.
        self._guard = threading.RLock()
        weakref.finalize(self, remove_run, self.directory, self._lock_fd, os.getpid())

    def capture(self, path: Path, root: Path, max_bytes: int) -> Snapshot:
        """Copy `path` (confined to `root`, at most `max_bytes`) into the store, hashing it.

        What is hashed is exactly what is copied (one read of one open
        file), so a file swapped meanwhile cannot slip in unhashed; a file
        written to while it is read is refused (try again: the daemon's next
        poll does). Raises what `open_confined` raises, and `CacheUnusable`
        when the store cannot be written.
        """
        digest = hashlib.sha256()
        with _store_errors(self.directory):
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".capture-")
        try:
            with open_confined(path, root, max_bytes) as source:
                before = os.fstat(source.fileno())
                size = 0
                breaks = _Breaks(BREAK_WINDOW)
                while block := source.read(BLOCK):
                    digest.update(block)
                    _write_all(fd, block, self.directory)
                    breaks.feed(block)
                    size += len(block)
                after = os.fstat(source.fileno())
            if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size):
                raise FileRefused(path, "changed while it was being read; try again")
            name = digest.hexdigest()
            copy = self.directory / name
            os.close(fd)
            fd = -1
            with self._guard:
                # Counted first: a release of the same content (a finalizer may run
                # here, in this thread) can then never remove the copy made now.
                self._users[name] = self._users.get(name, 0) + 1
                try:
                    with _store_errors(self.directory):
                        os.replace(temporary, copy)  # a fresh copy also repairs an altered one
                except BaseException:
                    self._release(name)
                    raise
        except BaseException:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        snapshot = Snapshot(path, name, size, copy, self, breaks.window if breaks.held else 0)
        weakref.finalize(snapshot, self._release, name)
        return snapshot

    def _release(self, name: str) -> None:
        """One snapshot of `name` is gone; the copy goes with the last one."""
        with self._guard:
            left = self._users.get(name, 0) - 1
            if left > 0:
                self._users[name] = left
                return
            self._users.pop(name, None)
            with contextlib.suppress(OSError):
                os.unlink(self.directory / name)

    def copies(self) -> list[str]:
        """The digests that have a copy now (for tests and diagnostics)."""
        return sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))


_stores: dict[Path | None, SnapshotStore] = {}
_stores_guard = threading.Lock()


def store_for(directory: Path | None) -> SnapshotStore:
    """This process's store in the cache directory `directory` (None: a private temporary one)."""
    key = None if directory is None else Path(os.path.abspath(directory))
    with _stores_guard:
        store = _stores.get(key)
        if store is None or not store.directory.is_dir():
            store = _stores[key] = SnapshotStore(key)
        return store


def open_snapshot(snapshot: Snapshot) -> BinaryIO:
    """The copy of `snapshot` opened for reading; `SnapshotBroken` if it is not that content.

    The size is checked at open, the digest when a read reaches the end: a
    full read (every row of a CSV) raises before its caller can act on an
    altered copy; a partial read (a header) reads only what it validates.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(snapshot.copy, flags)
    except OSError as exc:
        raise SnapshotBroken(snapshot.original, snapshot.copy, _missing(exc)) from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise SnapshotBroken(snapshot.original, snapshot.copy, "is no longer a regular file")
        if opened.st_size != snapshot.size:
            raise SnapshotBroken(snapshot.original, snapshot.copy, "was altered (its size changed)")
        os.set_blocking(fd, True)
        raw = _Verified(io.FileIO(fd, "r", closefd=True), snapshot)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(raw, buffer_size=BLOCK)


def _write_all(fd: int, block: bytes, directory: Path) -> None:
    view = memoryview(block)
    with _store_errors(directory):
        while view:
            view = view[os.write(fd, view) :]


@contextlib.contextmanager
def _store_errors(directory: Path) -> Iterator[None]:
    """An `OSError` of writing the store (disk full, read-only) is `CacheUnusable`."""
    try:
        yield
    except OSError as exc:
        raise CacheUnusable(directory, exc.strerror or str(exc)) from None


def _missing(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "is missing"
    return f"cannot be read ({exc.strerror})"


class _Breaks:
    """Whether every whole `window` of the bytes fed, from the first, holds a line break.

    Windows are aligned on the start: any run of `2 * window - 1` bytes holds a
    whole one, so when all hold a break no run without one is that long. The
    last window, cut short by the end, is not asked (a run ending there is
    shorter than two windows as well).
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self.held = window > 0
        self._carry = b""  # the start of a window the last block ended inside

    def feed(self, block: bytes) -> None:
        if not self.held:
            return
        data = self._carry + block if self._carry else block
        end = len(data) - len(data) % self.window
        for start in range(0, end, self.window):
            stop = start + self.window
            if data.find(b"\n", start, stop) < 0 and data.find(b"\r", start, stop) < 0:
                self.held = False
                return
        self._carry = data[end:]


class _Verified(io.RawIOBase):
    """A raw file hashed as it is read; reaching its end with another digest is an error."""

    def __init__(self, file: io.FileIO, snapshot: Snapshot) -> None:
        super().__init__()
        self._file, self._snapshot = file, snapshot
        self._digest = hashlib.sha256()
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._file.readinto(buffer) or 0
        self._read += count
        if self._read > self._snapshot.size:
            raise SnapshotBroken(self._snapshot.original, self._snapshot.copy, "grew (altered)")
        if count:
            self._digest.update(buffer[:count])
        elif self._read != self._snapshot.size or (
            self._digest.hexdigest() != self._snapshot.digest
        ):
            raise SnapshotBroken(self._snapshot.original, self._snapshot.copy, "was altered")
        return count

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
        super().close()
