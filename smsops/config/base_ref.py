"""`plan --base REF`: the config as it was at a git ref, in a temporary directory.

The REF comes from whoever can open a pull request, so it is handled as
hostile: refused when it starts with `-` (it would be an option), is empty,
over MAX_REF characters or holds a control character; resolved with
`git rev-parse --verify --end-of-options REF^{commit}` (only a commit of
this repository; `..`, `:path` and the like are not commits). What is read
is `git archive` of the config's directory at that commit, in git's own tar
format (no filter command runs), unpacked with tarfile's `data` filter (no
absolute path, no `..`, no link out of the directory, no device) and bounded
in size. Every git command is a fixed argv, never a shell, with hooks and
fsmonitor off and no terminal prompt. The temporary directory is removed
however the block ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from smsops.core.errors import UsageError

MAX_REF = 200  # characters; a branch, tag or commit name is far shorter
MAX_ARCHIVE = 512 * 1024 * 1024  # bytes of the config's directory at REF
GIT_SECONDS = 120
_GIT = ("git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")


def check_ref(ref: str) -> None:
    """Refuse a REF that could be read as an option or is not a plain name."""
    if not ref or len(ref) > MAX_REF:
        raise UsageError(f"--base: a git ref of 1 to {MAX_REF} characters is needed")
    if ref.startswith("-"):
        raise UsageError("--base: a ref may not start with '-' (it would be read as an option)")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in ref):
        raise UsageError("--base: a ref may not hold control characters")


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        done = subprocess.run(  # noqa: S603 -- a fixed argv, no shell
            [*_GIT, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            check=False,
        )
    except FileNotFoundError as exc:
        raise UsageError("--base needs git on PATH; or compare with --base-config DIR") from exc
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"--base: git took over {GIT_SECONDS}s") from exc
    if done.returncode != 0:
        raise _GitFailed(done.stderr.strip().splitlines()[-1:] or [""])
    return done.stdout.strip()


class _GitFailed(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0][:200])


@contextmanager
def config_at_ref(config: Path, ref: str) -> Iterator[Path]:
    """The path of `config` (a directory or one YAML file) as committed at `ref`."""
    check_ref(ref)
    real = config.resolve()
    directory = real if real.is_dir() else real.parent
    try:
        top = Path(_git(directory, "rev-parse", "--show-toplevel")).resolve()
    except _GitFailed as exc:
        raise UsageError(
            f"--base: {config} is not in a git repository ({exc}); "
            "compare with --base-config DIR instead"
        ) from exc
    try:
        inside = PurePosixPath(directory.relative_to(top).as_posix())
    except ValueError as exc:
        raise UsageError(f"--base: {config} is not inside the repository {top}") from exc
    try:
        commit = _git(
            top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
    except _GitFailed as exc:
        raise UsageError(
            f"--base: {ref!r} is not a commit of the repository {top} "
            "(a branch, tag or commit; fetch it first in a shallow CI checkout)"
        ) from exc
    work = Path(tempfile.mkdtemp(prefix="smsops-base-"))
    try:
        tree = work / "tree"
        tree.mkdir()
        archive = work / "base.tar"
        spec = [] if str(inside) == "." else ["--", f"{inside}/"]
        try:
            _git(top, "archive", "--format=tar", f"--output={archive}", commit, *spec)
        except _GitFailed as exc:
            raise UsageError(f"--base: {config} did not exist at {ref!r} ({exc})") from exc
        if archive.stat().st_size > MAX_ARCHIVE:
            raise UsageError(f"--base: the config's directory at {ref!r} is over 512 MiB")
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        archive.unlink()
        at_ref = tree.joinpath(*inside.parts)
        yield at_ref if real.is_dir() else at_ref / real.name
    except tarfile.TarError as exc:
        raise UsageError(f"--base: the config at {ref!r} could not be unpacked: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
