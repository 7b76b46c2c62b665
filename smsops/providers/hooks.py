"""What a webhook request must be, and what it carried (issue 21).

The run server (daemon/hooks.py) asks, in this order, so that nothing is
read or judged for a caller who has not shown who it is (an unauthenticated
client learns nothing of what a route accepts): `ready` (has this provider
hooks of this kind? else 404), `check_token` (401 before the body is read,
for providers that authenticate with `webhook_token`; for Twilio, a missing
signature), then, with the body read (at most MAX_BODY bytes: Twilio's
signature covers it), `check_signature` (Twilio: 401, a body that is no form
included), and only then `check_media_type` (415) and `read`: the
provider's format into `core.hooks` values. Each refusal is a `HookRefused`
raised before anything is recorded.

Formats: the provider type's `hook_format` - Skycore's XML postbacks
(providers/skycore_hooks.py), Twilio's signed forms (providers/twilio_hooks.py),
or the generic JSON form (providers/generic_hooks.py) for every other type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from smsops.config.providers import HookFormat, ProviderBase
from smsops.config.tokens import refusal
from smsops.core import envref
from smsops.core.errors import HookRefused, SecretMissing
from smsops.core.hooks import Inbound, Receipt
from smsops.core.secrets import token_matches
from smsops.providers import generic_hooks, skycore_hooks, twilio_hooks

MAX_BODY = 64 * 1024  # bytes: a receipt is ~0.5 KB, a list of MAX_RECEIPTS ~60-100 KB is not
Kind = Literal["receipts", "inbound"]
Hook = list[Receipt] | Inbound

MEDIA_TYPES: dict[HookFormat, tuple[str, ...]] = {
    "generic": ("application/json",),
    "skycore": ("application/xml", "text/xml"),
    "twilio": ("application/x-www-form-urlencoded",),
}
# Twilio reads the answer to an inbound message as TwiML: an empty one replies nothing.
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


@dataclass(frozen=True)
class Caller:
    """What a hook request says about who sent it, read from its head."""

    token: str | None = None  # ?token= or Authorization: Bearer
    signature: str | None = None  # X-Twilio-Signature


def _twilio_url(config: ProviderBase, kind: Kind) -> str | None:
    field = "status_callback" if kind == "receipts" else "inbound_url"
    url = getattr(config, field, None)
    return url if isinstance(url, str) else None


def ready(name: str, config: ProviderBase, kind: Kind) -> None:
    """A 404 with the reason when provider `name` takes no hooks of `kind`."""
    if config.hook_format == "twilio":
        if _twilio_url(config, kind) is None:
            field = "status_callback" if kind == "receipts" else "inbound_url"
            raise HookRefused(404, f"provider {name!r} takes no {kind} hooks: set its {field}")
    elif config.webhook_token is None:
        raise HookRefused(404, f"provider {name!r} takes no hooks: set its webhook_token")


def check_media_type(config: ProviderBase, content_type: str) -> None:
    """A 415 unless the request's Content-Type is one this provider's format posts."""
    media, _, parameters = content_type.partition(";")
    wanted = MEDIA_TYPES[config.hook_format]
    if media.strip().lower() not in wanted:
        raise HookRefused(415, f"this hook takes {' or '.join(wanted)}")
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise HookRefused(415, "this hook takes UTF-8 bodies only")


def _secret(name: str, value: str, env: Mapping[str, str]) -> str:
    try:
        secret = envref.resolve(value, env, name)
    except SecretMissing as exc:  # not the caller's fault: a retry may find it set
        raise HookRefused(503, str(exc)) from None
    if not secret:
        raise HookRefused(503, f"provider {name!r}: its hook secret is set but empty")
    return secret


def check_token(name: str, config: ProviderBase, caller: Caller, env: Mapping[str, str]) -> None:
    """A 401 unless the caller gave this provider's webhook_token (constant-time compare).

    Twilio's hooks: a 401 without a signature; `check_signature` checks it, with the body.
    """
    if config.hook_format == "twilio":
        if not caller.signature:
            raise HookRefused(401, "X-Twilio-Signature is missing")
        return
    if config.webhook_token is None:
        return
    expected = _secret(name, config.webhook_token, env)
    what = f"provider {name!r}'s webhook_token"
    if (weak := refusal(what, config.webhook_token, expected)) is not None:
        raise HookRefused(503, weak)  # never compared against: a guess could match it
    if caller.token is None:
        raise HookRefused(401, "the token is missing: pass ?token= or Authorization: Bearer")
    if not token_matches(expected, caller.token):
        raise HookRefused(401, "the token is wrong")


def check_signature(
    name: str, config: ProviderBase, kind: Kind, body: bytes, caller: Caller, env: Mapping[str, str]
) -> None:
    """Twilio's hooks: a 401 unless the signature covers `body`, posted to the configured URL.

    Before anything judges the body: one that is no form (not UTF-8, too many fields)
    cannot carry a valid signature, so it is a 401 as well, never a 400 that would tell
    an unauthenticated caller how its body was read.
    """
    if config.hook_format != "twilio":
        return
    url = _twilio_url(config, kind)
    token = getattr(config, "auth_token", None)
    if url is None or not isinstance(token, str):
        raise HookRefused(404, f"provider {name!r} takes no {kind} hooks")
    try:
        params = twilio_hooks.form(body)
    except HookRefused:
        raise HookRefused(401, "X-Twilio-Signature does not match this request") from None
    twilio_hooks.check_signature(url, params, _secret(name, token, env), caller.signature)


def read(
    name: str,
    config: ProviderBase,
    kind: Kind,
    body: bytes,
) -> Hook:
    """The receipts or the inbound text a body carries (Skycore's may be either), once
    `check_token` and `check_signature` let its caller in."""
    if config.hook_format == "skycore":
        return skycore_hooks.read(name, body)
    if config.hook_format == "twilio":
        params = twilio_hooks.form(body)
        if kind == "receipts":
            return [twilio_hooks.receipt(name, params)]
        return twilio_hooks.inbound(name, params)
    if kind == "receipts":
        return generic_hooks.receipts(name, config.receipts, body)
    return generic_hooks.inbound(name, body)
