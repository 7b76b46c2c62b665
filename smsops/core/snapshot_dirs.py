"""The directories that hold config snapshots: private, one per process, swept when dead.

See `smsops.core.snapshots` for what is kept in them and why:

    <cache_dir>/snapshots/            0700, a real directory owned by this user
        run-<random>/                 0700, one per process, removed at its exit
            .lock                     flock'd while the process lives

A process killed before its exit cleanup leaves its `run-*` directory; the
next process that opens the cache directory removes it once its lock is
free (the kernel drops a flock with its process) and it is a minute old,
and a long-running one (`smsops run`) sweeps again every `SWEEP_AFTER`
seconds (`sweep_dead`): a replica killed beside a live one leaves nothing
for longer than that.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from smsops.core.errors import CacheUnusable

LOCK_NAME = ".lock"
RUN_PREFIX = "run-"
SWEEP_AFTER = 60.0  # seconds a dead process's directory is left before it is removed


def run_directory(directory: Path | None) -> tuple[Path, int | None]:
    """A new private directory for this process's copies, and the lock that marks it alive."""
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="smsops-snapshots-")), None
    home = directory / "snapshots"
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_private(home)
        _sweep(home)
        run = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=home))
        lock = os.open(run / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise CacheUnusable(home, exc.strerror or str(exc)) from None
    return run, lock


def sweep_dead(directory: Path | None) -> None:
    """Remove the run directories of dead processes under `directory` (a cache directory).

    Nothing to do without one (each process's temporary directory is its
    own) or before any process made `snapshots/` there; a home that is not
    private is left alone (`run_directory` refuses it at the next start).
    """
    if directory is None:
        return
    home = directory / "snapshots"
    with contextlib.suppress(OSError, CacheUnusable):
        _check_private(home)
        _sweep(home)


def _check_private(home: Path) -> None:
    """`home` must be a real directory of this user; it is made private (0700)."""
    info = os.lstat(home)
    if stat.S_ISLNK(info.st_mode):
        raise CacheUnusable(home, "it is a symlink")
    if not stat.S_ISDIR(info.st_mode):
        raise CacheUnusable(home, "it is not a directory")
    if info.st_uid != os.geteuid():
        raise CacheUnusable(home, "it belongs to another user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(home, 0o700)


def _sweep(home: Path) -> None:
    """Remove the run directories of processes that are gone (their lock is free).

    Only directories untouched for `SWEEP_AFTER` seconds: a process that is
    starting holds its directory a moment before it holds the lock.
    """
    oldest = time.time() - SWEEP_AFTER
    for entry in os.scandir(home):
        if not entry.name.startswith(RUN_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime > oldest:
                continue
        except FileNotFoundError:
            continue  # its process just removed it at exit (another run of the same cache)
        try:
            fd = os.open(Path(entry.path) / LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue  # being created right now, or already swept by another process
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its process is alive
        shutil.rmtree(entry.path, ignore_errors=True)
        os.close(fd)


def remove_run(directory: Path, lock: int | None, owner: int) -> None:
    if os.getpid() != owner:
        return  # a forked child exiting: the directory is its parent's
    shutil.rmtree(directory, ignore_errors=True)
    if lock is not None:
        with contextlib.suppress(OSError):
            os.close(lock)
