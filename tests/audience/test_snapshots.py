"""A loaded config reads its CSVs' snapshots: what was validated, whatever happens on disk."""

from __future__ import annotations

import fcntl
import gc
import hashlib
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.core.errors import ConfigError
from smsops.core.snapshot_dirs import SWEEP_AFTER
from smsops.core.snapshots import store_for
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project, pointed_at
from smsops.ledger.memory import MemoryLedger

AT = datetime(2026, 11, 23, 9, tzinfo=UTC)
OLD = "phone,name\n+447400123456,Sam\n+447400123457,Priya\n"
NEW = "phone,name\n+447400999999,Eve\n"
YAML = """\
providers:
  ot: {type: opentact, base_url: 'http://127.0.0.1:9', token: '${env:OT}', from: '+12017771234'}
templates:
  t: {category: transactional, body: 'Hi {{ name }}'}
audiences:
  people: {source: people.csv, default_region: GB}
schedules:
  s: {template: t, audience: people, provider: ot}
"""


def _write(root: Path, csv_text: str = OLD) -> Path:
    (root / "smsops.yaml").write_text(YAML)
    (root / "people.csv").write_text(csv_text)
    return root


def planned(config: Config) -> list[str]:
    """The numbers a plan from `config` sends to."""
    plan = make_plan(config, MemoryLedger(), AT, lambda _: False, PlanOptions(keep_sends=True))
    return sorted(send.message.recipient for send in plan.sends)


def _edit(csv: Path) -> None:
    csv.write_text(NEW)


def _replace(csv: Path) -> None:
    (csv.parent / "new.csv").write_text(NEW)
    os.replace(csv.parent / "new.csv", csv)


def _delete(csv: Path) -> None:
    csv.unlink()


def _symlink_swap(csv: Path) -> None:
    """What a git-sync sidecar does: the path now resolves to another checkout's file."""
    (csv.parent / "v2.csv").write_text(NEW)
    csv.unlink()
    csv.symlink_to("v2.csv")


@pytest.mark.parametrize("change", [_edit, _replace, _delete, _symlink_swap])
def test_a_change_on_disk_after_load_never_reaches_the_loaded_config(
    tmp_path: Path, change: Callable[[Path], None]
) -> None:
    config = load_project(_write(tmp_path), tmp_path / "cache")
    change(tmp_path / "people.csv")
    assert planned(config) == ["+447400123456", "+447400123457"]
    if change is not _delete:
        assert planned(load_project(tmp_path, tmp_path / "cache")) == ["+447400999999"]


def test_copies_are_content_addressed_private_and_per_process(tmp_path: Path) -> None:
    config = load_project(_write(tmp_path), tmp_path / "cache")
    snapshot = config.snapshots[tmp_path / "people.csv"]
    assert snapshot.digest == hashlib.sha256(OLD.encode()).hexdigest()
    assert snapshot.copy.read_text() == OLD
    home = tmp_path / "cache" / "snapshots"
    assert snapshot.copy.parent.parent == home
    assert snapshot.copy.parent.name.startswith("run-")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(snapshot.copy.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(snapshot.copy.stat().st_mode) == 0o600


def test_without_a_cache_dir_copies_go_to_a_private_temporary_directory(tmp_path: Path) -> None:
    config = load_project(_write(tmp_path))
    snapshot = config.snapshots[tmp_path / "people.csv"]
    assert snapshot.copy.parent == store_for(None).directory
    assert not snapshot.copy.is_relative_to(tmp_path)
    assert stat.S_IMODE(snapshot.copy.parent.stat().st_mode) == 0o700


def test_a_copy_is_removed_when_no_generation_uses_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_project(_write(tmp_path), cache)
    second = load_project(tmp_path, cache)  # the same content: one copy, two users
    sandboxed = pointed_at(second, lambda _: "http://127.0.0.1:9")  # shares the snapshots
    copy = first.snapshots[tmp_path / "people.csv"].copy
    assert copy == second.snapshots[tmp_path / "people.csv"].copy
    del first
    gc.collect()
    assert copy.exists()
    _edit(tmp_path / "people.csv")
    third = load_project(tmp_path, cache)
    del second
    gc.collect()
    assert copy.exists()  # `sandboxed` is that generation too
    assert planned(sandboxed) == ["+447400123456", "+447400123457"]
    del sandboxed
    gc.collect()
    assert not copy.exists()
    assert store_for(cache).copies() == [third.snapshots[tmp_path / "people.csv"].digest]


def test_a_dead_process_s_copies_are_swept_a_live_one_s_are_kept(tmp_path: Path) -> None:
    home = tmp_path / "cache" / "snapshots"
    dead, alive = home / "run-dead", home / "run-alive"
    for run in (dead, alive):
        run.mkdir(parents=True)
        (run / ".lock").touch()
        (run / ("0" * 64)).write_text(OLD)
    held = os.open(alive / ".lock", os.O_RDWR)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as its process does while it lives
        long_ago = os.stat(dead).st_mtime - SWEEP_AFTER - 1
        for run in (dead, alive):
            os.utime(run, (long_ago, long_ago))
        load_project(_write(tmp_path), tmp_path / "cache")
        assert not dead.exists()
        assert (alive / ("0" * 64)).exists()
    finally:
        os.close(held)


def test_an_altered_copy_is_a_located_error_never_the_file_on_disk(tmp_path: Path) -> None:
    config = load_project(_write(tmp_path), tmp_path / "cache")
    copy = config.snapshots[tmp_path / "people.csv"].copy
    copy.write_text(OLD.replace("Sam", "Bob"))  # same size, other content
    with pytest.raises(ConfigError) as caught:
        planned(config)
    (problem,) = caught.value.problems
    assert str(problem.location) == f"{tmp_path / 'smsops.yaml'}:6:20"
    assert "was altered" in problem.message
    assert "the file on disk is never read in its place" in problem.message


def test_a_copy_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    config = load_project(_write(tmp_path), tmp_path / "cache")
    copy = config.snapshots[tmp_path / "people.csv"].copy
    copy.unlink()
    copy.symlink_to(tmp_path / "people.csv")  # the live file, same content even
    with pytest.raises(ConfigError, match="cannot be read"):
        planned(config)


def test_a_run_directory_removed_while_another_process_sweeps_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found when several CLI runs shared one cache: one exits (removing its run-*
    directory) while another scans them; that entry's stat fails, which must not make
    the cache 'unusable' (it was: 'cannot keep config snapshots ...: No such file')."""
    from smsops.core import snapshot_dirs

    class Vanished:
        name = "run-gone"
        path = str(tmp_path / "cache" / "snapshots" / "run-gone")

        def is_dir(self, follow_symlinks: bool = True) -> bool:
            return True

        def stat(self, follow_symlinks: bool = True) -> os.stat_result:
            raise FileNotFoundError(2, "No such file or directory", self.path)

    real = os.scandir

    def scandir(path: object) -> object:
        class Listing:
            def __enter__(self) -> Listing:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def __iter__(self) -> object:
                return iter([Vanished(), *real(path)])  # type: ignore[call-overload]

        return Listing()

    monkeypatch.setattr(snapshot_dirs.os, "scandir", scandir)
    run, lock = snapshot_dirs.run_directory(tmp_path / "cache")
    assert run.is_dir()
    assert lock is not None
    snapshot_dirs.remove_run(run, lock, os.getpid())
