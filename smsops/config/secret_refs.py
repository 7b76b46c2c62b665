"""Where a config names its secrets, and which of them an environment leaves unset.

The one home of the rule both `apply` and `run` check before anything is
sent: every `${env:...}` of a provider that will be used, each with its place
in the YAML, is set and not empty. `apply` refuses to start with any missing
(listing all of them); `run` holds the schedules that need them (see
daemon/readiness.py). Names and places only, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from smsops.config.loader import Config
from smsops.config.providers import HOOK_ONLY_FIELDS
from smsops.core.envref import referenced_names
from smsops.core.errors import Location

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class UnsetVariable:
    """A variable a provider refers to (at `where`) that the environment does not set."""

    provider: str
    variable: str
    where: Location

    def __str__(self) -> str:
        return (
            f"{self.where}: provider {self.provider!r} needs the environment variable "
            f"{self.variable} (${{env:{self.variable}}}), which is not set (or empty)"
        )


def _references(value: Any, path: YamlPath) -> Iterator[tuple[YamlPath, str]]:
    """(YAML path, variable name) of every `${env:...}` inside a provider's settings."""
    if isinstance(value, str):
        for name in referenced_names(value):
            yield path, name
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _references(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _references(item, (*path, index))


def provider_variables(
    config: Config, *, sending: bool = False
) -> dict[str, list[tuple[str, Location]]]:
    """Provider name -> (variable, where it is written) for every reference it holds
    (`sending`: only those a send reads, not the webhooks' token)."""
    found: dict[str, list[tuple[str, Location]]] = {}
    skipped = set(HOOK_ONLY_FIELDS) if sending else None
    for name, provider in config.providers.items():
        settings = provider.model_dump(by_alias=True, exclude_none=True, exclude=skipped)
        found[name] = [
            (variable, config.locate("providers", name, *path))
            for path, variable in _references(settings, ())
        ]
    return found


def unset_variables(
    config: Config, env: Mapping[str, str], providers: Iterable[str]
) -> list[UnsetVariable]:
    """Every reference of `providers` that a send reads and `env` leaves unset or empty,
    once per provider and variable, in the providers' order (empty: all set). A webhook
    token is not one: its webhooks answer 503 until it is set, and sends go on."""
    wanted = set(providers)
    unset: dict[tuple[str, str], UnsetVariable] = {}
    for provider, references in provider_variables(config, sending=True).items():
        if provider not in wanted:
            continue
        for variable, where in references:
            if not env.get(variable) and (provider, variable) not in unset:
                unset[(provider, variable)] = UnsetVariable(provider, variable, where)
    return list(unset.values())


@dataclass(frozen=True)
class MissingSecret:
    """A variable a provider refers to that is not set, and the schedules it holds."""

    provider: str
    variable: str
    where: Location
    schedules: tuple[str, ...]

    def __str__(self) -> str:
        unset = UnsetVariable(self.provider, self.variable, self.where)
        return (
            f"{unset}; held until it is (restart with it set, or reload a config that names a set "
            f"variable): {', '.join(self.schedules)}"
        )


def missing_secrets(config: Config, env: Mapping[str, str]) -> list[MissingSecret]:
    """Every unset variable a provider of an enabled schedule refers to (empty: all set)."""
    users: dict[str, list[str]] = {}
    for name, schedule in config.schedules.items():
        if schedule.enabled:
            for provider in schedule.providers:
                users.setdefault(provider, []).append(name)
    return [  # a provider no enabled schedule sends through holds nothing
        MissingSecret(unset.provider, unset.variable, unset.where, tuple(users[unset.provider]))
        for unset in unset_variables(config, env, users)
    ]
