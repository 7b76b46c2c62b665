"""The run server's own tokens (api, status, webhook_token) must be long and random:
`validate` says so at the reference's file:line:col when the variable is set, `run`
refuses such a config, and each door answers 503 instead of comparing against one."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.cli.common import SANDBOX_SECRET
from smsops.config.tokens import MIN_LENGTH, weakness
from tests.daemon.apiserver import PROVIDERS

STRONG = "04IWIdG_wB6vuGdIGQB1g_hHzRDQjtXcvprPvn1iAp8"  # made by the hint's command
WEAK = [
    "sandbox-secret",  # the sandbox's old placeholder: 14 characters
    "x" * 31,
    "a" * 64,
    "abc" * 20,
    "0123" * 10,
    "correct-horse-battery-staple",  # 28
    "abababababababababababababababababababcd"[:36],  # nearly periodic, 4 kinds
]
DOORS = (
    "api:\n  token: ${env:API_T}\n"
    "status:\n  token: ${env:STATUS_T}\n"
    "providers:\n  hooked:\n    type: opentact\n    token: ${env:OT}\n"
    '    from: "+12017771234"\n    webhook_token: ${env:HOOK_T}\n'
)


@pytest.mark.parametrize("value", WEAK)
def test_weak_tokens_are_refused_with_a_reason_that_never_quotes_them(value: str) -> None:
    reason = weakness(value)
    assert reason is not None
    assert value not in reason


@pytest.mark.parametrize(
    "value",
    [
        STRONG,
        "bb1d3227c84add960394002b79c67336",  # openssl rand -hex 16: 32 characters of 16 kinds
        "QDNY4VNriYXwjq1IK9q7pz0t-jeq6WsH",  # exactly 32
        SANDBOX_SECRET,
    ],
)
def test_generated_tokens_pass(value: str) -> None:
    assert len(value) >= MIN_LENGTH
    assert weakness(value) is None


def test_many_generated_tokens_pass() -> None:
    """What the hint's command makes, and 32 hex digits, never fail the rule."""
    for _ in range(2000):
        assert weakness(secrets.token_urlsafe(32)) is None
        assert weakness(secrets.token_hex(16)) is None


@pytest.mark.parametrize(
    ("variable", "where", "what"),
    [
        ("API_T", "c.yaml:2:10", "the API token (${env:API_T})"),
        ("STATUS_T", "c.yaml:4:10", "the status token (${env:STATUS_T})"),
        ("HOOK_T", "c.yaml:10:20", "provider 'hooked''s webhook_token (${env:HOOK_T})"),
    ],
)
def test_validate_names_a_weak_token_at_its_place_with_how_to_make_one(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    where: str,
    what: str,
) -> None:
    (tmp_path / "c.yaml").write_text(DOORS)
    for name in ("API_T", "STATUS_T", "HOOK_T"):
        monkeypatch.setenv(name, STRONG)
    assert main(["validate", str(tmp_path)]) == 0
    capsys.readouterr()
    monkeypatch.setenv(variable, "hunter2hunter2")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{where}: {what} is 14 characters long" in err
    assert "secrets.token_urlsafe(32)" in err
    assert "hunter2" not in err
    assert "Traceback" not in err


def test_validate_needs_no_secret_an_unset_token_is_not_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.yaml").write_text(DOORS)
    for name in ("API_T", "STATUS_T", "HOOK_T"):
        monkeypatch.delenv(name, raising=False)
    assert main(["validate", str(tmp_path)]) == 0


def test_validate_json_lists_a_weak_token_as_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.yaml").write_text(PROVIDERS)
    (tmp_path / "s.yaml").write_text("status:\n  token: ${env:STATUS_T}\n")
    monkeypatch.setenv("STATUS_T", "z" * 40)
    assert main(["validate", str(tmp_path), "--format", "json"]) == 1
    out = capsys.readouterr().out
    assert '"line": 2' in out
    assert "is one character repeated" in out
    assert "z" * 40 not in out
