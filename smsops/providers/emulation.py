"""The contract between a provider's sandbox emulator and the sandbox server.

An emulator lives in its provider's module, beside the adapter it answers,
so one module holds everything about a provider. It is plain code over plain
data (`EmulatedRequest` in, `Answer` out, accepted messages told to a
`Recorder`): the provider layer needs no web framework, and the sandbox
server (`smsops.sandbox`), one layer up, mounts every emulator of the
registry and adds the shared fault machinery in front of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DIGITS = re.compile(r"^\+?[1-9]\d{6,14}$")


@dataclass(frozen=True)
class EmulatedRequest:
    """What an emulator sees of a request: header names are lower case."""

    headers: Mapping[str, str]
    body: bytes
    path_params: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            body = json.loads(self.body)
        except ValueError:  # bad JSON, or bytes that are no UTF-8
            return None
        return body if isinstance(body, dict) else None

    def form(self) -> dict[str, str]:
        """The body as an `application/x-www-form-urlencoded` form (last value wins)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass(frozen=True)
class Answer:
    """An emulator's response: a JSON payload with its status (and headers)."""

    payload: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


class Recorder(Protocol):
    """Where an emulator reports what it accepted (the sandbox's state)."""

    otp_codes: dict[str, str]

    def record(
        self, provider: str, recipient: str, text: str, message_id: str | None, body: dict[str, Any]
    ) -> None: ...


Handler = Callable[[EmulatedRequest, Recorder], Awaitable[Answer]]


@dataclass(frozen=True)
class Emulator:
    """A provider's sandbox API: the base path its `base_url` gets and its routes under it.

    Route paths are Starlette path patterns relative to `base_path`
    (`""` is the base path itself, `"/{action:str}"` captures a segment).
    """

    base_path: str
    routes: tuple[tuple[str, Handler], ...]
