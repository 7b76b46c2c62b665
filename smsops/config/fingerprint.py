"""A config's content as a set of file digests: what a saved plan was made from.

The one home of "which files a config's meaning comes from": every YAML
file of the config (templates are written in them) and every file an
audience reads (its CSV), each by its path relative to the config's
directory and the SHA-256 of its content. A CSV's digest is the one taken
when the config was loaded (`Config.snapshots`): exactly the content every
plan of this config reads. A change of any other file is not a change of
the config.

Kept per file, not as one hash, so a refusal can say which files changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from smsops.config.loader import Config, files_read, read_as_config
from smsops.core.files import YAML_MAX_BYTES, read_confined


def content_digests(config: Config) -> dict[str, str]:
    """Each file the config reads (relative POSIX path) -> SHA-256 of its content, hex."""
    base = config.root if config.root.is_dir() else config.root.parent
    found: dict[str, str] = {}
    for file in config.files:
        content = read_confined(file, config.confined_to, YAML_MAX_BYTES)
        found[_relative(file, base)] = hashlib.sha256(content).hexdigest()
    for original, snapshot in config.snapshots.items():
        found[_relative(original, base)] = snapshot.digest
    return dict(sorted(found.items()))


def overwrites_config(root: Path, output: Path) -> str | None:
    """Why writing `output` would change the config at `root`, or None when it would not.

    It would when it is one of the files the config reads (compared as real
    paths: `c/x/../people.csv` and a symlink to it are the file), or a file
    inside the config's directory that the next load would read as config
    (a new `*.yaml`). Asked before a command writes anything.
    """
    target = Path(os.path.realpath(output))
    for file in files_read(root):
        if Path(os.path.realpath(file)) == target:
            return f"it is {file}, a file the config reads; writing it would change the config"
    if not root.is_dir():
        return None
    try:
        inside = target.relative_to(os.path.realpath(root))
    except ValueError:
        return None
    hidden = any(part.startswith(".") for part in inside.parts)
    if read_as_config(target) and not hidden:
        return (
            f"it is inside the config's directory {root} with a name the config's files have "
            "(*.yaml, *.yml): the next plan or run would read it as config"
        )
    return None


def drifted(planned: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """What differs between two `content_digests`, one phrase per file, in path order."""
    changes = []
    for name in sorted(planned.keys() | now.keys()):
        if name not in now:
            changes.append(f"{name} was removed")
        elif name not in planned:
            changes.append(f"{name} was added")
        elif planned[name] != now[name]:
            changes.append(f"{name} changed")
    return changes


def _relative(path: Path, base: Path) -> str:
    """`path` below `base` as a POSIX path; the resolved path when it is not below it."""
    try:
        return PurePosixPath(path.relative_to(base)).as_posix()
    except ValueError:
        resolved, root = path.resolve(), base.resolve()
        try:
            return PurePosixPath(resolved.relative_to(root)).as_posix()
        except ValueError:
            return resolved.as_posix()
