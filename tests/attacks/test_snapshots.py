"""Attacks on the snapshots a config generation reads (`smsops.core.snapshots`).

A generation reads only copies of what it validated. An attacker who can
write beside them (a shared cache directory) or to the config's files while
they are captured must never get unvalidated text into a plan: every case
is refused with a located error, or reads exactly what was validated.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
from pathlib import Path
from typing import BinaryIO

import pytest

from smsops.core import snapshots
from smsops.core.errors import ConfigError
from smsops.engine.project import load_project
from tests.attacks.harness import (
    BASE_NUMBERS,
    BASE_PROVIDERS,
    OUTSIDE,
    run_cli,
    write_config,
)

CSV = "phone,name\n+447400123456,Sam\n+447400123457,Alex\n"
# What an attacker would like a plan to read instead: a number and a marker never validated.
EVIL = f"phone,name\n+447400666666,{OUTSIDE}\n"
REST = """\
templates:
  hello: {category: transactional, body: "Hi {{ name }}"}
audiences:
  people: {source: people.csv}
schedules:
  greet: {template: hello, audience: people, provider: ses}
"""
PLAN = ["plan", "--format", "markdown"]


def _config(root: Path) -> Path:
    return write_config(
        root, {"providers.yaml": BASE_PROVIDERS, "rest.yaml": REST, "people.csv": CSV}
    )


def test_copies_planted_in_the_cache_under_the_csv_s_digest_are_never_read(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    home = tmp_path / ".cache" / "snapshots"
    digest = hashlib.sha256(CSV.encode()).hexdigest()
    planted = home / "run-planted"  # looks like a live process's directory
    planted.mkdir(parents=True)
    (home / digest).write_text(EVIL)
    (planted / digest).write_text(EVIL)
    lock = os.open(planted / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "alive": never swept
        outcome = run_cli([*PLAN, str(config)], cwd=tmp_path)
    finally:
        os.close(lock)
    outcome.assert_safe(code=0, numbers=[*BASE_NUMBERS, "+447400666666"])
    assert "Hi Sam" in outcome.stdout  # the validated file was read
    assert (planted / digest).read_text() == EVIL  # another process's files are left alone
    assert [p.name for p in home.iterdir() if p.name.startswith("run-")] == ["run-planted"]


def test_a_snapshots_directory_that_is_a_symlink_is_refused_naming_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "snapshots").symlink_to(elsewhere, target_is_directory=True)
    outcome = run_cli([*PLAN, str(config)], cwd=tmp_path)
    outcome.assert_safe(code=1, located=r"\.cache/snapshots: it is a symlink", numbers=BASE_NUMBERS)
    assert "SMSOPS_CACHE_DIR" in outcome.stderr
    assert list(elsewhere.iterdir()) == []  # nothing was written through the link


def test_a_cache_dir_reached_through_a_symlink_the_user_chose_works(tmp_path: Path) -> None:
    config = _config(tmp_path)
    real = tmp_path / "real-cache"
    real.mkdir()
    (tmp_path / "cache-link").symlink_to(real, target_is_directory=True)
    outcome = run_cli(
        [*PLAN, str(config)], cwd=tmp_path, env={"SMSOPS_CACHE_DIR": str(tmp_path / "cache-link")}
    )
    outcome.assert_safe(code=0, numbers=BASE_NUMBERS)
    assert list((real / "snapshots").iterdir()) == []  # its copies went with the process


def test_a_cache_dir_that_cannot_be_written_is_refused_naming_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "not-a-dir").write_text("a file where the cache directory should be\n")
    for command in (PLAN, ["validate"], ["render"]):
        outcome = run_cli(
            [*command, str(config)],
            cwd=tmp_path,
            env={"SMSOPS_CACHE_DIR": str(tmp_path / "not-a-dir")},
        )
        outcome.assert_safe(
            code=1,
            located=r"cannot keep config snapshots in .*not-a-dir/snapshots: Not a directory",
            numbers=BASE_NUMBERS,
        )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any mode")
def test_a_read_only_cache_dir_is_refused_naming_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    cache = tmp_path / "ro-cache"
    cache.mkdir(mode=0o500)
    try:
        outcome = run_cli([*PLAN, str(config)], cwd=tmp_path, env={"SMSOPS_CACHE_DIR": str(cache)})
    finally:
        cache.chmod(0o700)
    outcome.assert_safe(code=1, located=r"ro-cache/snapshots: Permission denied")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give the directory away")
def test_a_snapshots_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    home = tmp_path / ".cache" / "snapshots"
    home.mkdir(parents=True)
    os.chown(home, 65534, 65534)
    outcome = run_cli([*PLAN, str(config)], cwd=tmp_path)
    outcome.assert_safe(code=1, located=r"snapshots: it belongs to another user")


def test_a_copy_tampered_with_after_load_stops_the_plan_located(tmp_path: Path) -> None:
    config = load_project(_config(tmp_path), tmp_path / "cache")
    (config.snapshots[tmp_path / "config" / "people.csv"].copy).write_text(EVIL)
    from smsops.audience.recipients import recipients

    with pytest.raises(ConfigError) as caught:
        list(recipients(config, "people"))
    message = str(caught.value)
    assert f"{tmp_path / 'config' / 'rest.yaml'}:4:20" in message, message
    assert "was altered (its size changed)" in message
    assert OUTSIDE not in message
    assert "666666" not in message


class _SwapsMidRead(io.BufferedReader):
    """The CSV as opened for capture; after its first block the attacker acts on the name."""

    def __init__(self, raw: BinaryIO, path: Path, act: str) -> None:
        super().__init__(raw, buffer_size=8)  # type: ignore[arg-type]
        self.path, self.act, self.blocks = path, act, 0

    def read(self, size: int | None = -1) -> bytes:
        block = super().read(8)
        self.blocks += 1
        if self.blocks == 1 and self.act == "rename":  # a new file under the old name
            (self.path.parent / "evil.csv").write_text(EVIL)
            os.replace(self.path.parent / "evil.csv", self.path)
        elif self.blocks == 1 and self.act == "rewrite":  # the same file written in place
            with self.path.open("a") as same:
                same.write(f"+447400666666,{OUTSIDE}\n")
        return block


@pytest.mark.parametrize("act", ["rename", "rewrite"])
def test_a_csv_swapped_while_it_is_captured_never_reaches_the_plan_unhashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, act: str
) -> None:
    config_dir = _config(tmp_path)
    csv = config_dir / "people.csv"
    real_open = snapshots.open_confined

    def opened(path: Path, root: Path, max_bytes: int) -> BinaryIO:
        handle = real_open(path, root, max_bytes)
        return _SwapsMidRead(handle.detach(), path, act)  # type: ignore[attr-defined]

    monkeypatch.setattr(snapshots, "open_confined", opened)
    if act == "rename":  # the open file is still the validated one: it is what is read
        config = load_project(config_dir, tmp_path / "cache")
        snapshot = config.snapshots[csv]
        assert snapshot.digest == hashlib.sha256(CSV.encode()).hexdigest()
        assert snapshot.copy.read_text() == CSV
        return
    with pytest.raises(ConfigError) as caught:  # a half-old, half-new file is refused
        load_project(config_dir, tmp_path / "cache")
    (problem,) = caught.value.problems
    assert str(problem.location) == f"{config_dir / 'rest.yaml'}:4:20"
    assert "changed while it was being read; try again" in problem.message
    assert OUTSIDE not in str(caught.value)
