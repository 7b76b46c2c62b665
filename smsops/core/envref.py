"""`${env:NAME}` references: how configs name secrets without holding them.

References stay unresolved through `validate` and `plan`; only building a
real request resolves them, and a missing variable then names the provider
and the variable (never a value). Every value resolved is registered with
`smsops.core.secrets`, so it is scrubbed from any text that came back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qsl, urlsplit

from smsops.core import secrets
from smsops.core.errors import SecretMissing

REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
WHOLE_REFERENCE = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")


def referenced_names(text: str) -> list[str]:
    """The environment variable names a string refers to, in order."""
    return REFERENCE.findall(text)


def resolve(text: str, env: Mapping[str, str], provider: str) -> str:
    """Replace every `${env:NAME}` in `text` from `env`; raise `SecretMissing` if unset."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise SecretMissing(provider, name)
        value = env[name]
        secrets.register(value)
        return value

    return REFERENCE.sub(substitute, text)


def resolve_url(text: str, env: Mapping[str, str], provider: str) -> str:
    """A `base_url`, resolved: from the environment (a whole reference), every part of
    it that may carry a key is registered as a secret too, since an error quotes parts
    (a host, a query) rather than the whole value."""
    url = resolve(text, env, provider)
    if url != text:
        for part in _url_parts(url):
            secrets.register(part)
    return url


def _url_parts(url: str) -> Iterator[str]:
    """The user, password, host, port, path, query (and each of its values) and fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all: the whole value is registered already
        return
    yield parts.netloc
    yield from parts.netloc.rpartition("@")[0].split(":")
    yield parts.netloc.rpartition("@")[2]
    yield parts.path
    yield parts.query
    yield from (value for _, value in parse_qsl(parts.query, keep_blank_values=True))
    yield parts.fragment


class Placeholders(Mapping[str, str]):
    """An environment where every variable is set to `value`.

    For the sandbox and dry runs: requests are built without touching a
    single real secret, so none can leak into output or to the emulator.
    """

    def __init__(self, value: str) -> None:
        self.value = value

    def __getitem__(self, name: str) -> str:
        return self.value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
