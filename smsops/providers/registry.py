"""The provider types smsops knows.

Each provider is one module, `smsops/providers/<type>.py`, holding its config
model (a `ProviderBase` with `type: Literal["<type>"]`), its adapter exported
as `ADAPTER` (request building with its body encoding, response parsing,
which headers are secret) and its sandbox emulator as `EMULATOR` (built when
first read: `__getattr__ = emulator_on_demand(__name__, _emulator)`).
Adding a provider: that module plus its name below. Everything else — config
validation, the JSON Schema, the sandbox routes, help texts, the generated
docs (docs/config.md, docs/providers.md) and the conformance test — is
driven from this list.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing a provider module costs pydantic: `--help` only needs the names
    from smsops.config.providers import ProviderBase
    from smsops.providers.base import Adapter
    from smsops.providers.emulation import Emulator

PROVIDER_MODULES = ("sendwithses", "skycore", "opentact", "aoc", "twilio")


@cache
def _module(name: str) -> ModuleType:
    return importlib.import_module(f"smsops.providers.{name}")


def adapters() -> dict[str, type[Adapter]]:
    """Provider type → adapter class, in PROVIDER_MODULES order."""
    return {name: _module(name).ADAPTER for name in PROVIDER_MODULES}


def emulators() -> dict[str, Emulator]:
    """Provider type → its sandbox emulator, in PROVIDER_MODULES order."""
    return {name: _module(name).EMULATOR for name in PROVIDER_MODULES}


def provider_models() -> dict[str, type[ProviderBase]]:
    """Provider type → config model, for the config loader and the JSON Schema."""
    return {name: adapter.config_model() for name, adapter in adapters().items()}


class _ModelsByType(Mapping[str, "type[ProviderBase]"]):
    """`provider_models()`, each provider's module imported when its type is looked up.

    A config names a few of the types: loading one does not import (and build
    the pydantic models of) the others, ~2.5 ms each at every `validate` and `plan`.
    """

    def __getitem__(self, name: str) -> type[ProviderBase]:
        if name not in PROVIDER_MODULES:
            raise KeyError(name)
        model: type[ProviderBase] = _module(name).ADAPTER.config_model()
        return model

    def __iter__(self) -> Iterator[str]:
        return iter(PROVIDER_MODULES)

    def __len__(self) -> int:
        return len(PROVIDER_MODULES)

    def __contains__(self, name: object) -> bool:
        return name in PROVIDER_MODULES


def models_on_demand() -> Mapping[str, type[ProviderBase]]:
    """Provider type → config model like `provider_models()`, importing only the types used."""
    return _ModelsByType()


def emulator_on_demand(module: str, build: Callable[[], Emulator]) -> Callable[[str], Emulator]:
    """A provider module's `__getattr__`: its `EMULATOR`, built by `build` when first read.

    The emulator's types (providers.emulation: seven dataclasses) and its webhook
    posters are the sandbox's: validate, plan and apply, which load a provider's
    module for its config model and adapter, never build them (~4 ms of each start).
    """
    built = cache(build)

    def attribute(name: str) -> Emulator:
        if name == "EMULATOR":
            return built()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return attribute


def adapter_for(name: str, config: ProviderBase, env: Mapping[str, str]) -> Adapter:
    """The adapter for provider `name`, resolving its secrets from `env` when it builds."""
    adapter: type[Adapter] = _module(config.type).ADAPTER
    return adapter(name=name, config=config, env=env)
