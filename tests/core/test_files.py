"""Opening a file a config reads: inside the config, a regular file, bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smsops.core import files
from smsops.core.errors import FileRefused
from smsops.core.files import confinement_root, open_confined, read_confined


@pytest.fixture
def root(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    (config / "people.csv").write_text("phone\n+447400123456\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    return config.resolve()


def test_a_file_inside_and_a_symlink_inside_are_read(root: Path) -> None:
    (root / "sub").mkdir()
    (root / "sub" / "link.csv").symlink_to(root / "people.csv")
    assert read_confined(root / "people.csv", root, 100) == b"phone\n+447400123456\n"
    assert read_confined(root / "sub" / "link.csv", root, 100).startswith(b"phone")


@pytest.mark.parametrize("name", ["../secret.txt", "link-out", "/etc/hostname"])
def test_a_file_outside_is_refused_before_it_is_opened(
    root: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "link-out").symlink_to(root.parent / "secret.txt")
    opened: list[object] = []
    monkeypatch.setattr(files.os, "open", lambda *args: opened.append(args))
    with pytest.raises(FileRefused, match="outside the config directory"):
        open_confined(root / name, root, 100)
    assert opened == []  # a device outside is never even opened


def test_a_fifo_is_refused_without_waiting_for_a_writer(root: Path) -> None:
    os.mkfifo(root / "pipe.csv")
    with pytest.raises(FileRefused, match="a FIFO"):
        open_confined(root / "pipe.csv", root, 100)


def test_a_directory_is_refused(root: Path) -> None:
    (root / "folder.csv").mkdir()
    with pytest.raises(FileRefused, match="a directory"):
        open_confined(root / "folder.csv", root, 100)


def test_a_file_over_its_limit_is_refused_by_its_size(root: Path) -> None:
    with pytest.raises(FileRefused, match="is 20 bytes, over the limit of 10 bytes"):
        open_confined(root / "people.csv", root, 10)


def test_a_file_growing_past_its_limit_while_read_is_cut_off(root: Path) -> None:
    path = root / "people.csv"
    with open_confined(path, root, 30) as handle:
        with path.open("a") as more:
            more.write("+447400123457\n" * 100)
        with pytest.raises(FileRefused, match="over the limit of 30 bytes"):
            handle.read()


def test_a_name_swapped_to_point_out_after_the_check_is_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def swap_then_open(path: str, flags: int) -> int:
        # between the realpath check and the open, the file becomes a link out
        os.replace(root / "people.csv", root / "moved.csv")
        (root / "people.csv").symlink_to(root.parent / "secret.txt")
        return real_open(path, flags)

    monkeypatch.setattr(files.os, "open", swap_then_open)
    with pytest.raises(FileRefused, match="outside the config directory"):
        open_confined(root / "people.csv", root, 100)


def test_the_root_of_a_one_file_config_is_its_folder(root: Path) -> None:
    (root / "all.yaml").write_text("{}\n")
    assert confinement_root(root / "all.yaml") == root
    assert confinement_root(root) == root


def test_a_name_holding_a_nul_byte_is_refused_not_a_value_error(root: Path) -> None:
    with pytest.raises(FileRefused) as refused:
        read_confined(root / "people.csv\0/etc/passwd", root, 100)
    assert "NUL byte" in refused.value.reason
    assert "passwd" not in refused.value.reason
