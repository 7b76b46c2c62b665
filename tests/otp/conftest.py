"""A config with one-time code templates on SendWithSES and AOC, pointed at the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from smsops.config.loader import Config
from smsops.engine.project import load_project, pointed_at
from smsops.sandbox.server import Sandbox

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
UK = "+447400123456"
SECRET = "otp-secret-0123456789abcdefghijklmnop"  # passes the token rule (config/tokens.py)
ENV = {"SES_OTP": "ses-otp-key", "AOC_KEY": "aoc-key", "OTP_SECRET": SECRET}
CONFIG = """
otp:
  secret: ${env:OTP_SECRET}
providers:
  ses:
    type: sendwithses
    template_keys: {otp: "${env:SES_OTP}"}
  aoc:
    type: aoc
    base_url: https://one.telepie.com
    api_key: ${env:AOC_KEY}
    sender: ACME
templates:
  login:
    category: otp
    body: "Your ACME code is {{ code }}. It expires in 10 minutes."
    otp: {max_attempts: 3, max_sends: 3, send_window: 10m, min_gap: 30s}
  short:
    category: otp
    body: "Code {{ code }}"
    otp: {code_length: 4, expiry: 1m}
  notice:
    category: transactional
    body: "Hello"
"""


def write_config(folder: Path, text: str = CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "smsops.yaml").write_text(text)
    return folder


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox) -> Config:
    return pointed_at(load_project(write_config(tmp_path / "config")), sandbox.base_url)


def sandbox_messages(sandbox: Sandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(sandbox.url + "/_sandbox/messages").json()["messages"]
    return found


def last_code(sandbox: Sandbox) -> str:
    """The code in the newest text the sandbox received (its last word, or after `is`)."""
    text = str(sandbox_messages(sandbox)[-1]["text"])
    return next(word for word in text.replace(".", " ").split() if word.isdigit())
