"""The `status` map (docs/operations.md): who may read /status.json; off without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsops.cli import main
from smsops.engine.project import load_project
from tests.daemon.apiserver import PROVIDERS


def test_a_status_map_loads_its_token_as_a_reference_never_a_value(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("status:\n  token: ${env:STATUS_TOKEN}\n")
    (tmp_path / "p.yaml").write_text(PROVIDERS)
    config = load_project(tmp_path)
    assert config.status is not None
    assert (config.status.token, config.status.public) == ("${env:STATUS_TOKEN}", False)


def test_a_public_status_map_needs_no_token(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("status:\n  public: true\n")
    (tmp_path / "p.yaml").write_text(PROVIDERS)
    config = load_project(tmp_path)
    assert config.status is not None
    assert (config.status.token, config.status.public) == (None, True)


def test_without_a_status_map_the_status_view_is_off(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROVIDERS)
    assert load_project(tmp_path).status is None


@pytest.mark.parametrize(
    ("status", "where", "message"),
    [
        ("status:\n  token: hunter2\n", "2:10", "secrets never live in YAML"),
        ("status:\n  public: true\n  tokn: x\n", "3:3", "status: unknown key 'tokn'"),
        ("status:\n  public: false\n", "", "or `public: true`"),
        ("status:\n  public: yes please\n", "2:", "status"),
        ("status:\n  token: ${env:T}\n  public: true\n", "", "not both"),
        ("status: {}\n", "", "or `public: true`"),
        ("status: [public]\n", "1:", "'status' must be a mapping"),
    ],
)
def test_a_wrong_status_map_is_an_error_at_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str, where: str, message: str
) -> None:
    (tmp_path / "p.yaml").write_text(PROVIDERS)
    (tmp_path / "s.yaml").write_text(status)
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert "hunter2" not in err
    assert f"s.yaml:{where}" in err


def test_a_status_map_in_two_files_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(PROVIDERS + "status:\n  public: true\n")
    (tmp_path / "q.yaml").write_text("status:\n  token: ${env:U}\n")
    assert main(["validate", str(tmp_path)]) == 1
    assert "`status` is written in two files" in capsys.readouterr().err
