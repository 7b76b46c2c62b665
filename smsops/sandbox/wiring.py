"""`smsops run --sandbox`: the sandbox's callbacks point at the run server's own /hooks.

For each provider of the config that takes hooks and whose emulator calls
back: a Skycore provider with a `webhook_token` sends to the sandbox as
account NAME (`base_url` ending in `/skycore/NAME`), whose postback URL is
`/hooks/NAME/receipts?token=...` (and inbound texts go to
`/hooks/NAME/inbound?token=...`); a Twilio provider's `status_callback` and
`inbound_url`, where set, become the run server's `/hooks/NAME/receipts` and
`/hooks/NAME/inbound` (what its signatures are then checked against), and
inbound texts are signed with its auth token. The secrets are resolved from
the run's environment (the sandbox's placeholders), as the hooks resolve them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import quote

from smsops.core import envref
from smsops.providers.registry import emulators
from smsops.sandbox.loop import Target

if TYPE_CHECKING:
    from smsops.config.loader import Config


def loopback_base(host: str, port: int) -> str | None:
    """The loopback URL that reaches a server listening on `host:port`, or None."""
    if host in ("", "0.0.0.0", "localhost"):  # noqa: S104 - every address includes loopback
        return f"http://127.0.0.1:{port}"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if address.version == 6 and (address.is_unspecified or address.is_loopback):
        return f"http://[::1]:{port}"
    return f"http://{address}:{port}" if address.is_loopback else None


def hooked(
    config: Config, run_url: str, base_url_for: Callable[[str], str], env: Mapping[str, str]
) -> tuple[Config, dict[str, Target]]:
    """`config` (pointed at the sandbox) with its hook URLs at `run_url`, and the sandbox's
    targets for it. `base_url_for`: the sandbox's base URL of a provider type."""
    providers, targets = dict(config.providers), {}
    for name, provider in config.providers.items():
        if emulators()[provider.type].callbacks is None:
            continue
        hooks = f"{run_url}/hooks/{quote(name, safe='')}"
        if provider.hook_format == "twilio":
            changes = {
                field: f"{hooks}/{kind}"
                for field, kind in (("status_callback", "receipts"), ("inbound_url", "inbound"))
                if getattr(provider, field, None) is not None
            }
            token = getattr(provider, "auth_token", None)
            secret = envref.resolve(token, env, name) if isinstance(token, str) else None
            providers[name] = provider.model_copy(update=changes)
            targets[name] = Target("twilio", None, changes.get("inbound_url"), secret)
        elif provider.webhook_token is not None:
            query = "?token=" + quote(envref.resolve(provider.webhook_token, env, name), safe="")
            account = f"{base_url_for(provider.type)}/{quote(name, safe='')}"
            providers[name] = provider.model_copy(update={"base_url": account})
            urls = (f"{hooks}/{kind}{query}" for kind in ("receipts", "inbound"))
            targets[name] = Target(provider.type, *urls)
    return replace(config, providers=providers), targets
