"""Runtime settings: flags win, then `SMSOPS_*` environment variables, then defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LEDGER = ".smsops/ledger.sqlite"


class Settings(BaseSettings):
    """Settings that are not part of the config (they differ per machine, not per repo)."""

    model_config = SettingsConfigDict(env_prefix="SMSOPS_", extra="ignore")

    ledger: str = Field(
        default=DEFAULT_LEDGER,
        description="Ledger location: a path, sqlite:///path or a postgresql:// URL.",
    )
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line flags (not None) on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)  # type: ignore[arg-type]
