"""Runtime settings: flags win, then `SMSOPS_*` environment variables, then defaults.

pydantic-settings reads the variables (`Settings`, in `settings_model`). Its
import costs a command ~30 ms (asyncio, dotenv and its other sources), so a
command that needs one setting asks for that one here: when no variable
whose name starts with `SMSOPS_` (in any letter case, as pydantic-settings
matches them) is set, there is nothing for it to read and the setting is its
default (or the flag), without the import. Nor is it imported when every
such variable names a setting whose value is any text (`TEXT_SETTINGS`:
SMSOPS_LEDGER, SMSOPS_CACHE_DIR, as CI and containers set them): pydantic-settings
takes those as written, with nothing to parse or refuse, and `_as_written`
reads them as it does (names in any case, the last spelling in the
environment winning). Any other variable (a number, a choice, a name it does
not know) and the value is pydantic-settings' as before (validated, errors
naming the variable). tests/config/test_settings.py compares both readers on
generated environments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smsops.config.settings_model import Settings

PREFIX = "SMSOPS_"
DEFAULT_LEDGER = ".smsops/ledger.sqlite"
DEFAULT_LEDGER_WAIT = 10.0
# Settings typed `str` in the model: any text is valid, so a variable is its value.
TEXT_SETTINGS = frozenset({"ledger", "cache_dir"})


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line flags (not None) on top."""
    from smsops.config.settings_model import read_settings

    return read_settings(**overrides)


def _as_written() -> dict[str, str] | None:
    """The `SMSOPS_*` variables set, by setting name, when each names a text setting.

    None when any other is set (pydantic-settings must read and check it). As
    pydantic-settings reads them: the name after the prefix in lower case, the
    last of two spellings of one name (in the environment's order) winning.
    """
    prefix = PREFIX.lower()
    written: dict[str, str] = {}
    for name, value in os.environ.items():
        lowered = name.lower()
        if not lowered.startswith(prefix):
            continue
        setting = lowered[len(prefix) :]
        if setting not in TEXT_SETTINGS:
            return None
        written[setting] = value
    return written


def ledger_setting(flag: str | None) -> str:
    """The ledger location: `flag`, else SMSOPS_LEDGER, else the default."""
    written = _as_written()
    if written is None:
        return load_settings(ledger=flag).ledger
    if flag is not None:  # a flag is taken as given (the setting is any text)
        return flag
    return written.get("ledger", DEFAULT_LEDGER)


def ledger_wait_setting() -> float:
    """SMSOPS_LEDGER_WAIT, else the default."""
    # Set, it is not a text setting: _as_written leaves it to pydantic-settings.
    return DEFAULT_LEDGER_WAIT if _as_written() is not None else load_settings().ledger_wait


def cache_dir_setting() -> Path:
    """SMSOPS_CACHE_DIR, else $XDG_CACHE_HOME/smsops or ~/.cache/smsops."""
    written = _as_written()
    if written is None:
        return load_settings().cache_dir_path()
    return cache_dir_path(written.get("cache_dir"))


def cache_dir_path(setting: str | None) -> Path:
    """The cache directory for the SMSOPS_CACHE_DIR value `setting` (None: unset)."""
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "smsops"
