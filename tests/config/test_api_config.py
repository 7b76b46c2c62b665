"""The `api` map (docs/api.md): a secret reference for its token, checked like the rest,
and a config of providers and templates with no schedule is a whole config."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsops.cli import main
from smsops.config.types import NAME_PATTERN, check_name
from smsops.core.reserved import RESERVED
from smsops.engine.project import load_project
from tests.daemon.apiserver import PROVIDERS


def test_an_api_map_loads_its_token_as_a_reference_never_a_value(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("api:\n  token: ${env:SMSOPS_API_TOKEN}\n  providers: [sky]\n")
    (tmp_path / "p.yaml").write_text(PROVIDERS)
    config = load_project(tmp_path)
    assert config.api is not None
    assert (config.api.token, config.api.providers) == ("${env:SMSOPS_API_TOKEN}", ["sky"])


def test_without_an_api_map_the_api_is_off(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROVIDERS)
    assert load_project(tmp_path).api is None


@pytest.mark.parametrize(
    ("api", "where", "message"),
    [
        ("api:\n  token: hunter2\n", "2:10", "secrets never live in YAML"),
        ("api:\n  token: ${env:T}\n  tokn: x\n", "3:3", "api: unknown key 'tokn'"),
        ("api:\n  providers: [sky]\n", "", "api: missing required key 'token'"),
        (
            "api:\n  token: ${env:T}\n  providers: [sky, skyy]\n",
            "3:",
            "api: no provider named 'skyy'",
        ),
        ("api:\n  token: ${env:T}\n  providers: [sky, sky]\n", "3:", "listed twice"),
        ("api:\n  token: ${env:T}\n  providers: []\n", "3:", "at least 1 item"),
        ("api: [token]\n", "1:", "'api' must be a mapping"),
    ],
)
def test_a_wrong_api_map_is_an_error_at_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api: str, where: str, message: str
) -> None:
    (tmp_path / "p.yaml").write_text(PROVIDERS)
    (tmp_path / "a.yaml").write_text(api)
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert "hunter2" not in err
    assert f"a.yaml:{where}" in err


def test_an_api_map_in_two_files_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(PROVIDERS + "api:\n  token: ${env:T}\n")
    (tmp_path / "q.yaml").write_text("api:\n  token: ${env:U}\n")
    assert main(["validate", str(tmp_path)]) == 1
    assert "`api` is written in two files" in capsys.readouterr().err


def test_providers_and_templates_without_schedules_validate_and_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(PROVIDERS + "api:\n  token: ${env:T}\n")
    assert main(["validate", "c.yaml"]) == 0
    assert "0 schedules" in capsys.readouterr().out
    assert main(["plan", "c.yaml", "--ledger", "memory://"]) == 0
    assert "Plan: 0 messages to send" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_no_config_can_name_a_schedule_as_smsops_files_its_own_sends(name: str) -> None:
    assert ":" in name  # outside NAME_PATTERN today; check_name refuses it whatever the pattern
    assert check_name(name) is not None
    assert NAME_PATTERN.startswith("^")


def test_a_reserved_name_is_refused_even_where_the_pattern_would_allow_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("smsops.core.reserved.RESERVED", frozenset({"api-messages"}))
    assert check_name("api-messages") is not None
    assert check_name("api-message") is None
