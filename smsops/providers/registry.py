"""Provider type → adapter class. Adding a provider: one module plus one line here."""

from __future__ import annotations

from collections.abc import Mapping

from smsops.config.providers import ProviderBase
from smsops.providers.aoc import AocAdapter
from smsops.providers.base import Adapter
from smsops.providers.opentact import OpentactAdapter
from smsops.providers.sendwithses import SendWithSESAdapter
from smsops.providers.skycore import SkycoreAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    "sendwithses": SendWithSESAdapter,
    "skycore": SkycoreAdapter,
    "opentact": OpentactAdapter,
    "aoc": AocAdapter,
}


def adapter_for(name: str, config: ProviderBase, env: Mapping[str, str]) -> Adapter:
    """The adapter for provider `name`, resolving its secrets from `env` when it builds."""
    return ADAPTERS[config.type](name=name, config=config, env=env)
