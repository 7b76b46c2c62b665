from __future__ import annotations

import pytest

from smsops.config.settings import DEFAULT_LEDGER, load_settings
from smsops.core.errors import UsageError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMSOPS_LEDGER", raising=False)
    assert load_settings().ledger == DEFAULT_LEDGER


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSOPS_LEDGER", "sqlite:///env.sqlite")
    monkeypatch.setenv("SMSOPS_LOG_FORMAT", "json")
    assert load_settings().ledger == "sqlite:///env.sqlite"
    assert load_settings().log_format == "json"
    assert load_settings(ledger="flag.sqlite", log_format=None).ledger == "flag.sqlite"


def test_a_variable_name_in_any_letter_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMSOPS_LEDGER_WAIT", raising=False)
    monkeypatch.setenv("smsops_ledger_wait", "2.5")
    monkeypatch.setenv("SMSOPS_NOT_A_SETTING", "ignored")
    assert load_settings().ledger_wait == 2.5


def test_a_wrong_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSOPS_LEDGER_WAIT", "soon")
    with pytest.raises(UsageError, match="SMSOPS_LEDGER_WAIT: Input should be a valid number"):
        load_settings()
    monkeypatch.setenv("SMSOPS_LEDGER_WAIT", "0")
    with pytest.raises(UsageError, match="SMSOPS_LEDGER_WAIT: Input should be greater than 0"):
        load_settings()
