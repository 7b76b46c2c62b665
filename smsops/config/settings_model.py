"""The settings model, read by pydantic-settings (imported only when a setting is read).

What reads it, and when it is not imported at all: `smsops.config.settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from smsops.config.settings import DEFAULT_LEDGER, DEFAULT_LEDGER_WAIT, PREFIX, cache_dir_path
from smsops.core.errors import UsageError


class Settings(BaseSettings):
    """Settings that are not part of the config (they differ per machine, not per repo)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    ledger: str = Field(
        default=DEFAULT_LEDGER,
        description="Ledger location: a path, sqlite:///path or a postgresql:// URL.",
    )
    ledger_wait: float = Field(
        default=DEFAULT_LEDGER_WAIT,
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
    units: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Batches of units (shards of one occurrence taken together) one `smsops "
        "run` replica works on at once (PostgreSQL ledger; docs/scale-out.md).",
    )
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def cache_dir_path(self) -> Path:
        return cache_dir_path(self.cache_dir)


def read_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line flags (not None) on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        wrong = "; ".join(
            f"SMSOPS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"a setting is wrong: {wrong}") from None
