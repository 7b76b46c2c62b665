"""Opening the files a config reads: only regular files inside the config, of bounded size.

Configs arrive in pull requests, so a path in one (an audience `source`, a
YAML file found by walking the directory, a symlink among them) may point
anywhere: `/proc/self/environ`, `/dev/zero`, a FIFO, `../../secrets`. Every
such file is opened here, and the checks are made on what was opened, not
on the name beforehand (a name can be swapped between a check and an open):

1. the real path of the name (symlinks resolved) must lie inside the
   config's directory, checked before opening so a device is never opened;
2. the open itself never blocks (`O_NONBLOCK`: a FIFO without a writer
   would wait forever) and never acquires a terminal;
3. the opened file must be a regular file (fstat), the same file as the
   real path inside the config (device and inode), and within its size
   limit;
4. reading stops at the limit even if the file grows after the fstat.

A refusal is a `FileRefused` whose reason quotes nothing from the file.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from smsops.core.errors import FileRefused

MiB = 2**20
# A YAML file of a config: real ones are a few KB; 4 MiB composes in seconds.
YAML_MAX_BYTES = 4 * MiB
# A CSV audience: the 1M-row benchmark file is 30 MiB and a plan of it peaks near
# 230 MB; 64 MiB (about 2M such rows) keeps a hostile file's plan under ~500 MB.
CSV_MAX_BYTES = 64 * MiB
# One physical line of a CSV file (characters), so one endless line cannot eat memory.
CSV_MAX_LINE = 1 * MiB

# Never blocks (a FIFO without a writer would wait forever), never acquires a terminal.
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def confinement_root(config: Path) -> Path:
    """The directory every file of the config at `config` must resolve into.

    A config directory confines to itself; a one-file config to that file's
    directory. Both are resolved, so a config reached through a symlink (a
    git-sync checkout) confines to the checkout it points at.
    """
    real = config.resolve()
    return real if real.is_dir() else real.parent


def describe_size(size: int) -> str:
    """A byte count as people read it in an error: `5.2 MiB`, `812 KiB`, `12 bytes`."""
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def check_inside(path: Path, root: Path) -> Path:
    """The real path of `path`, which must lie inside `root`; else `FileRefused`."""
    if "\0" in os.fspath(path):  # the OS cannot name it (ValueError): no file may be read
        raise FileRefused(path, "the file name holds a NUL byte; a file name cannot hold one")
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root):
        raise FileRefused(
            path,
            "resolves outside the config directory; a config may read only files inside "
            "its own directory (move the file there, no symlinks out)",
        )
    return real


def open_confined(path: Path, root: Path, max_bytes: int) -> BinaryIO:
    """`path` opened for reading in binary, after the checks of the module docstring.

    Raises `FileRefused` for a file the config may not read and `OSError`
    (e.g. `FileNotFoundError`) for one that cannot be opened at all.
    Reading past `max_bytes` (a file that grew after it was checked) raises
    `FileRefused` too.
    """
    real = check_inside(path, root)
    fd = os.open(real, _FLAGS)
    return _reader(
        path, fd, max_bytes, "a config reads files only", lambda opened: _same(path, root, opened)
    )


def _same(path: Path, root: Path, opened: os.stat_result) -> None:
    """The name may have been swapped for another between realpath and open."""
    now = check_inside(path, root)
    try:
        named = os.stat(now)
    except OSError:
        named = None
    if named is None or (named.st_dev, named.st_ino) != (opened.st_dev, opened.st_ino):
        raise FileRefused(path, "changed while it was being opened; try again")


def read_regular(path: Path, max_bytes: int, why: str) -> bytes:
    """The content of `path`, anywhere, if it is a regular file of at most `max_bytes`.

    For a file the user names (a plan file): no confinement, but the same
    never-blocking open (a FIFO is refused, not waited on) and size bound.
    `why` ends a refusal's reason ("a plan file is a regular file").
    """
    with _reader(path, os.open(path, _FLAGS), max_bytes, why, lambda opened: None) as handle:
        return handle.read()


def _reader(
    path: Path, fd: int, max_bytes: int, why: str, check: Callable[[os.stat_result], None]
) -> BinaryIO:
    """`fd` (opened with `_FLAGS`) as a capped reader once it is a regular file passing
    `check`, within `max_bytes`; closed on any refusal."""
    try:
        opened = os.fstat(fd)
        _check_regular(path, opened.st_mode, why)
        check(opened)
        _check_size(path, opened.st_size, max_bytes)
        os.set_blocking(fd, True)
        raw = _Capped(io.FileIO(fd, "r", closefd=True), path, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(raw, buffer_size=MiB)


def kind_of(mode: int) -> str | None:
    """What a file of `mode` is when it is not a regular one ("a FIFO (named pipe)")."""
    return next((kind for is_kind, kind in _KINDS if is_kind(mode)), None)


def _check_regular(path: Path, mode: int, why: str) -> None:
    if (kind := kind_of(mode)) is not None:
        raise FileRefused(path, f"is {kind}, not a regular file; {why}")
    if not stat.S_ISREG(mode):
        raise FileRefused(path, f"is not a regular file; {why}")


def read_confined(path: Path, root: Path, max_bytes: int) -> bytes:
    """The whole content of `path`, opened with `open_confined`."""
    with open_confined(path, root, max_bytes) as handle:
        return handle.read()


def _check_size(path: Path, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise FileRefused(
            path,
            f"is {describe_size(size)}, over the limit of {describe_size(max_bytes)} "
            "for this kind of file; split it or make it smaller",
        )


class _Capped(io.RawIOBase):
    """A raw file that refuses to read past its limit (a file still growing)."""

    def __init__(self, file: io.FileIO, path: Path, limit: int) -> None:
        super().__init__()
        self._file, self._path, self._limit, self._read = file, path, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._file.readinto(buffer)
        self._read += count or 0
        if self._read > self._limit:
            _check_size(self._path, self._read, self._limit)
        return count or 0

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
        super().close()
