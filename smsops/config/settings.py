"""Runtime settings: flags win, then `SMSOPS_*` environment variables, then defaults.

pydantic-settings reads the variables (`Settings`, in `settings_model`). Its
import costs a command ~30 ms (asyncio, dotenv and its other sources), so a
command that needs one setting asks for that one here: when no variable
whose name starts with `SMSOPS_` (in any letter case, as pydantic-settings
matches them) is set, there is nothing for it to read and the setting is its
default (or the flag), without the import. With any such variable set, the
value is pydantic-settings' as before (validated, errors naming the variable).
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


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line flags (not None) on top."""
    from smsops.config.settings_model import read_settings

    return read_settings(**overrides)


def any_set() -> bool:
    """Whether the environment sets any `SMSOPS_*` variable (names match in any case)."""
    prefix = PREFIX.lower()
    return any(name.lower().startswith(prefix) for name in os.environ)


def ledger_setting(flag: str | None) -> str:
    """The ledger location: `flag`, else SMSOPS_LEDGER, else the default."""
    if not any_set():  # a flag is taken as given (the setting is any text)
        return DEFAULT_LEDGER if flag is None else flag
    return load_settings(ledger=flag).ledger


def ledger_wait_setting() -> float:
    """SMSOPS_LEDGER_WAIT, else the default."""
    return load_settings().ledger_wait if any_set() else DEFAULT_LEDGER_WAIT


def cache_dir_setting() -> Path:
    """SMSOPS_CACHE_DIR, else $XDG_CACHE_HOME/smsops or ~/.cache/smsops."""
    return cache_dir_path(load_settings().cache_dir if any_set() else None)


def cache_dir_path(setting: str | None) -> Path:
    """The cache directory for the SMSOPS_CACHE_DIR value `setting` (None: unset)."""
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "smsops"
