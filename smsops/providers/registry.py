"""The provider types smsops knows.

Each provider is one module, `smsops/providers/<type>.py`, holding its config
model (a `ProviderBase` with `type: Literal["<type>"]`) and its adapter,
exported as `ADAPTER`. Adding a provider: that module plus its name below.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache

from smsops.config.providers import ProviderBase
from smsops.providers.base import Adapter

PROVIDER_MODULES = ("sendwithses", "skycore", "opentact", "aoc")


@cache
def adapters() -> dict[str, type[Adapter]]:
    """Provider type → adapter class, in PROVIDER_MODULES order."""
    found: dict[str, type[Adapter]] = {}
    for name in PROVIDER_MODULES:
        adapter: type[Adapter] = importlib.import_module(f"smsops.providers.{name}").ADAPTER
        found[name] = adapter
    return found


def provider_models() -> dict[str, type[ProviderBase]]:
    """Provider type → config model, for the config loader and the JSON Schema."""
    return {name: adapter.config_model() for name, adapter in adapters().items()}


def adapter_for(name: str, config: ProviderBase, env: Mapping[str, str]) -> Adapter:
    """The adapter for provider `name`, resolving its secrets from `env` when it builds."""
    return adapters()[config.type](name=name, config=config, env=env)
