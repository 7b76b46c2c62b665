"""How strong the run server's own tokens must be: `api.token`, `status.token` and each
provider's `webhook_token` (docs/security.md#the-run-servers-authentication).

These tokens are ours to choose (a provider's own keys are not), and each one
guards a door anyone who reaches the port can knock on. A token is refused
when it is shorter than `MIN_LENGTH` characters, repeats one short sequence
(`aaaa…`, `abcabc…`), or uses fewer than `MIN_DISTINCT` different characters:
what a person types, not what a generator makes. `secrets.token_urlsafe(32)`
gives 43 characters of 64 kinds (256 bits), `openssl rand -hex 16` 32 of 16
kinds (128 bits): both pass, and with the failed-auth limiter
(daemon/auth_limit.py) no guess at such a token is ever within reach. The OTP
secret follows the same rule, checked by engine/otp.py when a code is sent or
verified (`refusal`).

The rule is checked where a value is known: `validate` when the variable is
set in its environment (a CI job without it checks nothing, and needs no
secret), `run` at every config it loads (a weak token refuses the config, with
its file:line:col), and each door again before it compares (a 503: never
served with a weak token, however the server was built). Messages name the
reference and the rule, never the value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from smsops.config.loader import Config
from smsops.core.envref import WHOLE_REFERENCE
from smsops.core.errors import ConfigError, Location, Problem

MIN_LENGTH = 32
MIN_DISTINCT = 8
HINT = 'make one with: python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def weakness(value: str) -> str | None:
    """Why `value` is too weak to be a token (None: strong enough), never quoting it."""
    if len(value) < MIN_LENGTH:
        return f"is {len(value)} characters long, and a token needs at least {MIN_LENGTH}"
    period = _period(value)
    if period == 1:
        return "is one character repeated"
    if period <= len(value) // 2:
        return f"is a sequence of {period} characters repeated"
    if len(set(value)) < MIN_DISTINCT:
        return f"uses only {len(set(value))} different characters (at least {MIN_DISTINCT})"
    return None


def _period(value: str) -> int:
    """The shortest p such that `value` is value[:p] repeated (and cut): len(value) if none."""
    # The prefix function of KMP: its last entry is the longest border of value.
    border = [0] * len(value)
    for i in range(1, len(value)):
        k = border[i - 1]
        while k and value[i] != value[k]:
            k = border[k - 1]
        border[i] = k + (value[i] == value[k])
    return len(value) - border[-1] if value else 0


def refusal(what: str, reference: str, value: str) -> str | None:
    """What to say of token `what` (written `reference`) set to `value`; None: strong."""
    found = weakness(value)
    if found is None:
        return None
    return f"{what} ({reference}) {found}: use a long random value; {HINT}"


def references(config: Config) -> Iterator[tuple[str, str, Location]]:
    """(what, reference, where it is written) of every token of the config's own doors."""
    if config.api is not None:
        yield "the API token", config.api.token, config.locate("api", "token")
    if config.status is not None and config.status.token is not None:
        yield "the status token", config.status.token, config.locate("status", "token")
    for name, provider in config.providers.items():
        if provider.webhook_token is not None:
            where = config.locate("providers", name, "webhook_token")
            yield f"provider {name!r}'s webhook_token", provider.webhook_token, where


def weak_tokens(config: Config, env: Mapping[str, str]) -> list[Problem]:
    """A problem for each token whose variable `env` sets to a weak value (unset: none)."""
    problems = []
    for what, reference, where in references(config):
        match = WHOLE_REFERENCE.match(reference)
        value = env.get(match.group(1)) if match else None
        if not value:
            continue  # unset: its door answers 503 until it is set (run), or no secret (CI)
        message = refusal(what, reference, value)
        if message is not None:
            problems.append(Problem(where, message))
    return problems


def check_tokens(config: Config, env: Mapping[str, str]) -> None:
    """Raises ConfigError with every weak token of `config` under `env`."""
    problems = weak_tokens(config, env)
    if problems:
        raise ConfigError(problems)
