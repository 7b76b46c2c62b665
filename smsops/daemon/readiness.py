"""Which secrets run mode will need, checked before a schedule fires.

`apply` checks its secrets before the first request of one run; `run` lives
for months, so it checks every `${env:...}` of every provider an enabled
schedule may send through, at start and for every config a reload brings.
A missing (or empty) variable holds the schedules that need it (nothing of theirs is
planned or sent), makes `/readyz` answer 503 with the reason, and is logged
once per config with its place in the YAML — never with a value.

Only the schedules that need the variable are held, not every send: the
other schedules' windows keep running, and holding them would turn their
occurrences into missed ones (never sent late) for a fault that is not
theirs. A held schedule's own closed windows are reported as missed after
it recovers, so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from smsops.config.loader import Config
from smsops.core.envref import referenced_names
from smsops.core.errors import Location


@dataclass(frozen=True)
class MissingSecret:
    """A variable a provider refers to that is not set, and the schedules it holds."""

    provider: str
    variable: str
    where: Location
    schedules: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.where}: provider {self.provider!r} needs the environment variable "
            f"{self.variable} (${{env:{self.variable}}}), which is not set (or empty); "
            f"held until it is (restart with it set, or reload a config that names a set "
            f"variable): {', '.join(self.schedules)}"
        )


YamlPath = tuple[str | int, ...]


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


def provider_variables(config: Config) -> dict[str, list[tuple[str, Location]]]:
    """Provider name -> (variable, where it is written) for every reference it holds."""
    found: dict[str, list[tuple[str, Location]]] = {}
    for name, provider in config.providers.items():
        settings = provider.model_dump(by_alias=True, exclude_none=True)
        found[name] = [
            (variable, config.locate("providers", name, *path))
            for path, variable in _references(settings, ())
        ]
    return found


def missing_secrets(config: Config, env: Mapping[str, str]) -> list[MissingSecret]:
    """Every unset variable a provider of an enabled schedule refers to (empty: all set)."""
    users: dict[str, list[str]] = {}
    for name, schedule in config.schedules.items():
        if schedule.enabled:
            for provider in schedule.providers:
                users.setdefault(provider, []).append(name)
    missing: dict[tuple[str, str], MissingSecret] = {}
    for provider, references in provider_variables(config).items():
        if provider not in users:
            continue  # no enabled schedule sends through it: nothing to hold
        for variable, where in references:
            if not env.get(variable) and (provider, variable) not in missing:
                missing[(provider, variable)] = MissingSecret(
                    provider, variable, where, tuple(users[provider])
                )
    return list(missing.values())


def secret_values(config: Config, env: Mapping[str, str]) -> list[str]:
    """The values of every variable the config refers to that is set, longest first.

    What failure messages are scrubbed of: an exception text may quote a
    request (a URL with a key in it) that was built from them.
    """
    values = {
        env[variable]
        for references in provider_variables(config).values()
        for variable, _ in references
        if env.get(variable)
    }
    return sorted(values, key=len, reverse=True)
