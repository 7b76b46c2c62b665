"""A project: a config that passed every check, ready to plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from smsops.audience.headers import read_headers
from smsops.audience.recipients import exclusion_problems
from smsops.config.checks import check_config
from smsops.config.loader import Config, load_config
from smsops.core.errors import ConfigError
from smsops.core.snapshots import store_for
from smsops.providers.registry import models_on_demand
from smsops.render.checks import check_templates
from smsops.schedule.checks import check_schedules


def load_project(path: Path, cache_dir: Path | None = None) -> Config:
    """Load and check the config at `path`; raise `ConfigError` listing every problem.

    The files it reads besides its YAML are snapshotted in `cache_dir`
    (None: a private temporary directory); see `smsops.core.snapshots`.
    """
    result = load_config(path, models_on_demand(), store_for(cache_dir))
    problems = list(result.problems)
    problems.extend(check_config(result.config))
    headers = read_headers(result.config)
    problems.extend(headers.problems)
    problems.extend(exclusion_problems(result.config, cache_dir))
    problems.extend(check_templates(result.config, headers.columns))
    problems.extend(check_schedules(result.config))
    if problems:
        raise ConfigError(problems)
    return result.config


def load_without_audiences(path: Path) -> Config:
    """The config at `path` checked without opening any audience file (`smsops status`:
    the view reads the ledger alone, so a CSV that is gone or unreadable changes nothing).
    What needs a file's columns (its templates' variables, exclusions) is not checked."""
    result = load_config(path, models_on_demand(), audiences=False)
    problems = [*result.problems, *check_config(result.config), *check_schedules(result.config)]
    if problems:
        raise ConfigError(problems)
    return result.config


def pointed_at(config: Config, base_url_for: Callable[[str], str]) -> Config:
    """The config with every provider's `base_url` replaced (the sandbox's, by type)."""
    providers = {
        name: provider.model_copy(update={"base_url": base_url_for(provider.type)})
        for name, provider in config.providers.items()
    }
    return replace(config, providers=providers)
