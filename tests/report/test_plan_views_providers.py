"""Every view of a plan lists each provider in use, where it sends, and what it reads.

A PR that points a provider elsewhere, or makes it read another environment
variable, changes the plan comment: destination `scheme://host:port` and the
variable names (never their values).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsops.cli import main
from tests.attacks.harness import write_config

PROVIDERS = """\
providers:
  ses:
    type: sendwithses
    template_keys: {transactional: "${env:SES_KEY}", otp: "${env:SES_OTP_KEY}"}
  sky:
    type: skycore
    base_url: "${env:SKY_URL}"
    api_key: ${env:SKY_KEY}
    from: "12025550100"
  idle:
    type: aoc
    base_url: http://10.0.0.1:8080/x
    api_key: ${env:AOC_KEY}
    sender: ACME
"""
REST = """\
templates:
  hello: {category: transactional, body: "Hi {{ name }}"}
audiences:
  people:
    contacts:
      - {phone: "+447400123456", name: Sam}
schedules:
  greet: {template: hello, audience: people, provider: [ses, sky]}
"""
VALUES = {"SES_KEY": "ses-value-1f2e", "SKY_URL": "https://sky.example/k=url-value-9a8b"}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in VALUES.items():
        monkeypatch.setenv(name, value)
    return write_config(tmp_path, {"providers.yaml": PROVIDERS, "rest.yaml": REST})


def _plan(config: Path, view: str, capsys: pytest.CaptureFixture[str]) -> str:
    ledger = str(config.parent / "ledger.sqlite")
    assert main(["plan", str(config), "--format", view, "--ledger", ledger]) in (0, 2)
    out = capsys.readouterr().out
    for value in VALUES.values():
        assert value not in out
    return out


def test_json_lists_the_providers_in_use(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = json.loads(_plan(config, "json", capsys))
    assert plan["providers"] == [
        {
            "name": "ses",
            "type": "sendwithses",
            "destination": "https://api.sendwithses.com:443",
            "env": ["SES_KEY", "SES_OTP_KEY"],
        },
        {
            "name": "sky",
            "type": "skycore",
            "destination": "${env:SKY_URL}",
            "env": ["SKY_URL", "SKY_KEY"],
        },
    ]


def test_text_lists_the_providers_in_use(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _plan(config, "text", capsys)
    assert (
        "provider ses (sendwithses) sends to https://api.sendwithses.com:443, reads SES_KEY, SES_OTP_KEY"
        in out
    )
    assert "provider sky (skycore) sends to ${env:SKY_URL}, reads SKY_URL, SKY_KEY" in out
    assert "idle" not in out  # not in use


def test_markdown_lists_the_providers_in_use(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _plan(config, "markdown", capsys)
    assert "| provider | type | sends to | reads |" in out
    assert (
        "| `ses` | `sendwithses` | `https://api.sendwithses.com:443` | `SES_KEY`, `SES_OTP_KEY` |"
        in out
    )
    assert "| `sky` | `skycore` | `${env:SKY_URL}` | `SKY_URL`, `SKY_KEY` |" in out
    assert "idle" not in out
