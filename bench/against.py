"""`--against REV...`: older revisions of smsops measured in the same run as this tree.

A regression shows as a ratio only when both sides ran on the same machine
at the same time: these machines are shared, and a figure from last week
says little about today's. So REV is installed apart, in a temporary
directory (`git archive` of REV, `pip install --no-deps --no-compile
--target`): it reuses this venv's dependencies and runs with the same
python, with the directory first on PYTHONPATH and as its working
directory (where `python -m smsops` would otherwise find this tree's
package first). Where REV declares dependencies this venv does not
satisfy, the difference is printed, and a missing one is installed into
the temporary directory too (without its own dependencies). Everything is
removed afterwards.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass(frozen=True, eq=False)  # by identity: a key of figures
class Build:
    """A revision of smsops the benchmarks run: this tree, or one installed apart."""

    name: str
    package: Path  # its smsops/ directory
    env: dict[str, str] = field(default_factory=dict)  # over os.environ
    cwd: Path | None = None

    def smsops(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "smsops", *args]

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, **self.env, **(extra or {})}


HERE = Build("this tree", ROOT / "smsops")


@contextmanager
def builds(against: Sequence[str] | None, work: Path) -> Iterator[list[Build]]:
    """[this tree] alone, or [this tree, each REV installed apart] with `--against REV...`.

    Each with its bytecode written (`bytecode`).
    """
    with ExitStack() as stack:
        versions = [HERE, *(stack.enter_context(installed(rev, work)) for rev in against or ())]
        bytecode(versions)
        yield versions


@contextmanager
def installed(rev: str, work: Path) -> Iterator[Build]:
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}").strip()
    short = _git("rev-parse", "--short", commit).strip()
    place = Path(tempfile.mkdtemp(prefix=f"against-{short}-", dir=work))
    try:
        source, site = place / "src", place / "site"
        archive = place / "src.tar"
        _git("archive", "--format=tar", "-o", str(archive), commit)
        with tarfile.open(archive) as tar:
            tar.extractall(source, filter="data")
        _pip("--no-deps", "--target", str(site), str(source))
        missing = []
        for note, requirement in differences(source / "pyproject.toml"):
            print(f"--against {short}: {note}", file=sys.stderr)
            if requirement is not None:
                missing.append(requirement)
        if missing:
            _pip("--no-deps", "--target", str(site), *missing)
        path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
        yield Build(short, site / "smsops", {"PYTHONPATH": path}, cwd=place)
    finally:
        shutil.rmtree(place, ignore_errors=True)


def bytecode(versions: Sequence[Build]) -> None:
    """Compile every build's smsops and the venv's packages, as `pip install` would have.

    Where bytecode is not written (PYTHONDONTWRITEBYTECODE, a venv installed
    with --no-compile) every start would compile what it imports again, and a
    start time would measure the compiler more than the imports a user waits for.
    """
    for place in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}:
        compileall.compile_dir(place, quiet=1, workers=0)
    for build in versions:
        compileall.compile_dir(build.package, quiet=1)


def differences(pyproject: Path) -> list[tuple[str, str | None]]:
    """What REV's runtime dependencies want that this venv does not have.

    Each a note, and the requirement to install apart when it is missing here
    (a version that differs is only reported: the venv's is what REV runs with).
    """
    theirs = _requirements(pyproject)
    ours = {_name(r) for r in _requirements(ROOT / "pyproject.toml")}
    found: list[tuple[str, str | None]] = []
    for requirement in theirs:
        name = _name(requirement)
        if not _applies(requirement):
            continue
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found.append((f"needs {requirement}, not installed here: installed apart", requirement))
            continue
        if not _satisfied(requirement, version):
            found.append((f"wants {requirement}; runs with {name} {version} from this venv", None))
        elif name not in ours:
            found.append((f"depends on {name} ({version} here), which this tree does not", None))
    return found


def _requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return list(project.get("dependencies", []))


def _name(requirement: str) -> str:
    try:
        from packaging.requirements import Requirement
    except ImportError:  # packaging absent: the name is what comes before any specifier
        return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0]
    return Requirement(requirement).name.lower()


def _applies(requirement: str) -> bool:
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return True
    marker = Requirement(requirement).marker
    return marker is None or marker.evaluate()


def _satisfied(requirement: str, version: str) -> bool:
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return True  # cannot tell: only a missing package is reported then
    return Requirement(requirement).specifier.contains(version, prereleases=True)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout


def _pip(*args: str) -> None:
    command: Sequence[str] = [PYTHON, "-m", "pip", "install", "--quiet", "--no-compile", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
