from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from smsops.config import settings
from smsops.config.settings import DEFAULT_LEDGER, load_settings
from smsops.config.settings_model import Settings
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


def _without_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().startswith("smsops_"):
            monkeypatch.delenv(name)


def test_one_setting_without_any_variable_is_the_models_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Read without pydantic-settings when nothing is set: the same values it would give."""
    _without_settings(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert settings._as_written() == {}
    model = Settings()
    assert settings.ledger_setting(None) == model.ledger
    assert settings.ledger_wait_setting() == model.ledger_wait
    assert settings.cache_dir_setting() == model.cache_dir_path() == tmp_path / "smsops"


@pytest.mark.parametrize("name", ["SMSOPS_LEDGER_WAIT", "smsops_ledger_wait", "Smsops_Ledger_Wait"])
def test_any_variable_is_read_by_pydantic_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    _without_settings(monkeypatch)
    monkeypatch.setenv(name, "2.5")
    monkeypatch.setenv("SMSOPS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SMSOPS_LEDGER", "env.sqlite")
    assert settings.ledger_wait_setting() == 2.5
    assert settings.cache_dir_setting() == tmp_path
    assert settings.ledger_setting(None) == "env.sqlite"
    assert settings.ledger_setting("flag.sqlite") == "flag.sqlite"
    monkeypatch.setenv(name, "soon")  # a wrong value is still pydantic-settings' error
    with pytest.raises(UsageError, match="SMSOPS_LEDGER_WAIT"):
        settings.ledger_wait_setting()


def test_a_flag_wins_and_any_variable_means_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_settings(monkeypatch)
    assert settings.ledger_setting("flag.sqlite") == load_settings(ledger="flag.sqlite").ledger
    monkeypatch.setenv("SMSOPS_UNRELATED", "x")  # any SMSOPS_ variable: the reader decides
    assert settings.ledger_setting("flag.sqlite") == "flag.sqlite"
    assert settings.ledger_setting(None) == DEFAULT_LEDGER


def test_text_settings_are_read_as_pydantic_settings_reads_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The reader without pydantic-settings (only text settings set) and the model agree.

    Generated environments: setting names in mixed letter case, two spellings of
    one name, empty and odd values, settings to check and unknown names (which
    must send the reading to pydantic-settings), with and without a flag.
    """
    rng = random.Random(19)
    names = ["ledger", "cache_dir", "ledger_wait", "log_level", "not_a_setting"]
    values = ["", " ", "x.sqlite", "sqlite:///a b.sqlite", "null", "None", '{"a": 1}', "é/ü", "2.5"]
    fast = 0
    for _ in range(400):
        _without_settings(monkeypatch)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        for _ in range(rng.randrange(4)):
            name = "smsops_" + rng.choice(names[:2] if rng.random() < 0.7 else names)
            spelled = "".join(c.upper() if rng.random() < 0.5 else c for c in name)
            monkeypatch.setenv(spelled, rng.choice(values))
        flag = rng.choice([None, "flag.sqlite"])
        try:
            model: Settings | None = load_settings(ledger=flag)
        except UsageError:
            model = None
        fast += settings._as_written() is not None
        if model is None:  # pydantic-settings refused a value: so does every reading
            assert settings._as_written() is None
            with pytest.raises(UsageError):
                settings.ledger_setting(flag)
            continue
        assert settings.ledger_setting(flag) == model.ledger
        assert settings.cache_dir_setting() == model.cache_dir_path()
        assert settings.ledger_wait_setting() == model.ledger_wait
    assert fast > 200  # most cases took the reader without pydantic-settings
