"""`smsops send` (issue 22): the same code as POST /v1/messages, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.engine.transactional import key_of
from smsops.ledger.open import open_ledger
from smsops.sandbox.server import Sandbox
from tests.daemon.apiserver import on_sandbox

NUMBER = "+447400123456"


@pytest.fixture
def setup(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("SKY_KEY", "k")
    template = '  shipped: {category: transactional, body: "Order {{ order }} shipped"}\n'
    (tmp_path / "c.yaml").write_text(on_sandbox(sandbox.base_url("skycore"), template, api=False))
    ledger = str(tmp_path / "l.sqlite")
    return [str(tmp_path / "c.yaml"), "--ledger", ledger, "--template", "shipped"]


def test_the_same_key_sends_once_and_prints_the_first_result_masked(
    setup: list[str], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["send", *setup, "--to", NUMBER, "--var", "order=42", "--key", "o-1"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert (first["status"], first["replayed"], again["replayed"]) == ("sent", False, True)
    assert {k: v for k, v in again.items() if k != "replayed"} == {
        k: v for k, v in first.items() if k != "replayed"
    }
    assert NUMBER not in json.dumps(first)
    assert [m["text"] for m in sandbox.state.snapshot()] == ["Order 42 shipped"]
    ledger = open_ledger(setup[2])
    try:
        assert ledger.get([key_of("o-1")])[key_of("o-1")].recipient == NUMBER
    finally:
        ledger.close()


def test_without_a_key_one_is_made_and_shown(
    setup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", *setup, "--to", NUMBER, "--var", "order=1"]) == 0
    assert json.loads(capsys.readouterr().out)["key"].startswith("cli-")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--to", "12", "--var", "order=1"], "to: "),
        (["--to", NUMBER], "template 'shipped': no value for order"),
        (["--to", NUMBER, "--var", "order=1", "--key", "bad key"], "idempotency_key: "),
        (
            ["--to", NUMBER, "--var", "order=1", "--provider", "nope"],
            "provider: the config has no provider",
        ),
    ],
)
def test_what_cannot_be_sent_exits_1_with_the_reason_and_sends_nothing(
    setup: list[str],
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    reason: str,
) -> None:
    assert main(["send", *setup, *extra]) == 1
    err = capsys.readouterr().err
    assert f"error: {reason}" in err
    assert "Traceback" not in err
    assert "7400123456" not in err
    assert sandbox.state.snapshot() == []


def test_a_reused_key_with_another_text_exits_1(
    setup: list[str], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", *setup, "--to", NUMBER, "--var", "order=1", "--key", "k"]) == 0
    assert main(["send", *setup, "--to", NUMBER, "--var", "order=2", "--key", "k"]) == 1
    assert "idempotency_key was used with another request" in capsys.readouterr().err
    assert len(sandbox.state.snapshot()) == 1


def test_a_variable_without_a_value_is_a_usage_error(
    setup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["send", *setup, "--to", NUMBER, "--var", "order"])
    assert exited.value.code == 1  # smsops's parser exits 1 on usage errors
    assert "write NAME=VALUE" in capsys.readouterr().err


def test_a_variable_given_twice_is_refused_not_silently_the_last(
    setup: list[str], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--var order=1 --var order=2`: which one the sender meant is not ours to guess."""
    argv = ["send", *setup, "--to", NUMBER, "--var", "order=1", "--var", "order=2"]
    assert main(argv) == 1
    assert "--var order is given twice" in capsys.readouterr().err
    assert sandbox.state.snapshot() == []
