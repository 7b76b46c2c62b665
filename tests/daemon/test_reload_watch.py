"""`smsops run` reloads when a file the config reads changes, and only then."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.core.errors import ConfigError, Location, Problem
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.daemon.service import Service
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger

CONFIG = """\
providers:
  ot: {type: opentact, base_url: 'http://127.0.0.1:9', token: '${env:OT}', from: '+12017771234'}
templates:
  t: {category: transactional, body: 'Hi {{ name }}'}
audiences:
  a: {source: people.csv, exclude: [b]}
  b: {contacts: [{phone: '+447400123459', name: X}]}
schedules:
  s: {template: t, audience: a, provider: ot, enabled: false}
"""


class Watch:
    """A service over `root` whose loads are counted and always refused (nothing runs)."""

    def __init__(self, root: Path) -> None:
        self.root, self.loads = root, 0
        config = load_project(root)
        ledger = MemoryLedger()
        metrics = Metrics()
        self.service = Service(
            root, self.load, ledger, Runner(config, ledger, {}, metrics), metrics
        )

    def load(self, path: Path) -> Config:
        self.loads += 1
        raise ConfigError([Problem(Location(path), "counted")])

    def reloads_after(self, change: str, name: str, content: str = "x\n") -> bool:
        """Whether writing `content` to `name` (as `change` says) makes the next poll load."""
        before = self.loads
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if change == "append" and path.exists():
            content = path.read_text() + content
        path.write_text(content)
        os.utime(path, ns=(1, path.stat().st_mtime_ns + 10**9))  # a later mtime, surely
        asyncio.run(self.service.reload_if_changed())
        return self.loads > before


@pytest.fixture
def watch(tmp_path: Path) -> Watch:
    (tmp_path / "smsops.yaml").write_text(CONFIG)
    (tmp_path / "people.csv").write_text("phone,name\n+447400123456,Sam\n")
    (tmp_path / "README.md").write_text("# our SMS config\n")
    (tmp_path / "other.csv").write_text("phone\n")
    return Watch(tmp_path)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ("append", "README.md"),  # documentation beside the config
        ("write", "notes.txt"),  # a new file that is not YAML
        ("append", "other.csv"),  # a CSV no audience names
        ("write", ".git/config.yaml"),  # hidden folders are not walked
        ("write", "data/more.json"),
    ],
)
def test_a_file_the_config_does_not_read_changes_nothing(
    watch: Watch, change: str, name: str
) -> None:
    assert not watch.reloads_after(change, name)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ("append", "smsops.yaml"),  # its YAML
        ("append", "people.csv"),  # the CSV an audience reads
        ("write", "more.yml"),  # a new YAML file where the walk finds it
        ("write", "sub/dir/more.yaml"),
    ],
)
def test_a_file_the_config_reads_reloads(watch: Watch, change: str, name: str) -> None:
    assert watch.reloads_after(change, name, "# changed\n")


def test_a_csv_named_by_a_refused_edit_is_watched_from_then_on(watch: Watch) -> None:
    edited = CONFIG.replace("source: people.csv", "source: other.csv")
    assert watch.reloads_after("write", "smsops.yaml", edited)  # refused by the counting load
    assert watch.reloads_after("append", "other.csv")  # fixing its CSV is seen
    assert not watch.reloads_after("append", "people.csv")  # no longer read
    assert not watch.reloads_after("append", "README.md")


@pytest.mark.parametrize(
    ("added", "where", "says"),
    [
        ("x: &a [*a]\n", "more.yaml:1:8", "alias *a refers to the collection that holds it"),
        ('audiences:\n  c: {source: "p.csv\\0/etc/passwd"}\n', "more.yaml:2:15", "a NUL byte"),
    ],
)
def test_a_hostile_edit_is_refused_at_its_place_while_running(
    tmp_path: Path, added: str, where: str, says: str
) -> None:
    (tmp_path / "smsops.yaml").write_text(CONFIG)
    (tmp_path / "people.csv").write_text("phone,name\n+447400123456,Sam\n")
    config = load_project(tmp_path)
    ledger, metrics = MemoryLedger(), Metrics()
    service = Service(tmp_path, load_project, ledger, Runner(config, ledger, {}, metrics), metrics)
    (tmp_path / "more.yaml").write_text(added)
    asyncio.run(service.reload_if_changed())
    error = service.health.reload_error or ""
    assert f"{tmp_path / where}" in error, error
    assert says in error
    assert "passwd" not in error
