"""Runtime settings: flags win, then `SMSOPS_*` environment variables, then defaults.

A plain pydantic model read from the environment here, not pydantic-settings:
importing that cost every command ~35 ms (it loads asyncio and dotenv) to read
five variables. The rules are its defaults, kept: a variable's name is
`SMSOPS_` and the field's, in any letter case; others are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smsops.core.errors import UsageError

DEFAULT_LEDGER = ".smsops/ledger.sqlite"
ENV_PREFIX = "smsops_"


class Settings(BaseModel):
    """Settings that are not part of the config (they differ per machine, not per repo)."""

    model_config = ConfigDict(extra="ignore")

    ledger: str = Field(
        default=DEFAULT_LEDGER,
        description="Ledger location: a path, sqlite:///path or a postgresql:// URL.",
    )
    ledger_wait: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Seconds to wait for another process writing the ledger before giving up.",
    )
    cache_dir: str | None = Field(
        default=None,
        description=(
            "Where normalised CSV numbers and the snapshot copies of loaded CSV files are kept "
            "(default ~/.cache/smsops)."
        ),
    )
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def cache_dir_path(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "smsops"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line flags (not None) on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings.model_validate({**from_environment(), **given})
    except ValidationError as exc:
        wrong = "; ".join(
            f"SMSOPS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"a setting is wrong: {wrong}") from None


def from_environment() -> dict[str, str]:
    """The `SMSOPS_<field>` variables (any letter case) by field name."""
    found = {}
    for name, value in os.environ.items():
        lower = name.lower()
        if lower.startswith(ENV_PREFIX) and lower[len(ENV_PREFIX) :] in Settings.model_fields:
            found[lower[len(ENV_PREFIX) :]] = value
    return found
