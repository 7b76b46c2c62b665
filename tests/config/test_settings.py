from __future__ import annotations

import pytest

from smsops.config.settings import DEFAULT_LEDGER, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMSOPS_LEDGER", raising=False)
    assert load_settings().ledger == DEFAULT_LEDGER


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSOPS_LEDGER", "sqlite:///env.sqlite")
    monkeypatch.setenv("SMSOPS_LOG_FORMAT", "json")
    assert load_settings().ledger == "sqlite:///env.sqlite"
    assert load_settings().log_format == "json"
    assert load_settings(ledger="flag.sqlite", log_format=None).ledger == "flag.sqlite"
