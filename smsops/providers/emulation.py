"""The contract between a provider's sandbox emulator and the sandbox server.

An emulator lives in its provider's module, beside the adapter it answers,
so one module holds everything about a provider. It is plain code over plain
data (`EmulatedRequest` in, `Answer` out, accepted messages told to a
`Recorder`): the provider layer needs no web framework, and the sandbox
server (`smsops.sandbox`), one layer up, mounts every emulator of the
registry and adds the shared fault machinery in front of them.

An emulator whose provider calls back (delivery receipts, texts from people)
also says how it writes those calls (`Callbacks`): the sandbox decides when
and whether to make them, and makes them (smsops/sandbox/callbacks.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from smsops.core.phone import E164_WHOLE

E164 = E164_WHOLE  # the shape the emulated providers require of a number
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


@dataclass(frozen=True)
class Sent:
    """A message an emulator accepted, as the callbacks about it need it."""

    provider: str  # the provider type
    message_id: str
    recipient: str  # E.164
    sender: str  # the number, short code or service it was sent from
    account: str = ""  # which of the provider's accounts (Skycore: the base_url's last segment)
    url: str | None = None  # where its receipts go, when the send said (Twilio's StatusCallback)
    secret: str | None = None  # what signs its receipts (Twilio: the account's auth token)
    sender_mask: str = ""  # the alphanumeric sender, when one was passed


@dataclass(frozen=True)
class Incoming:
    """A text a person sends to one of our numbers (`POST /_sandbox/inbound`)."""

    sender: str  # E.164
    to: str
    text: str


@dataclass(frozen=True)
class Post:
    """A request the sandbox makes to a client's webhook."""

    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Callbacks:
    """How a provider writes its callbacks.

    `statuses(sent, delivered, interim)`: the receipts of one accepted message,
    in the order the provider posts them (an interim one first when `interim`),
    to `sent.url`. `inbound(text, url, secret)`: a person's text, posted to `url`.
    """

    statuses: Callable[[Sent, bool, bool], list[Post]]
    inbound: Callable[[Incoming, str, str | None], Post]


class Recorder(Protocol):
    """Where an emulator reports what it accepted (the sandbox's state)."""

    otp_codes: dict[str, str]

    def record(
        self, provider: str, recipient: str, text: str, message_id: str | None, body: dict[str, Any]
    ) -> None: ...

    async def report(self, sent: Sent) -> None:
        """A message was accepted: the sandbox may post its receipts (`Callbacks`)."""
        ...


Handler = Callable[[EmulatedRequest, Recorder], Awaitable[Answer]]


@dataclass(frozen=True)
class Emulator:
    """A provider's sandbox API: the base path its `base_url` gets and its routes under it.

    Route paths are Starlette path patterns relative to `base_path`
    (`""` is the base path itself, `"/{action:str}"` captures a segment).
    """

    base_path: str
    routes: tuple[tuple[str, Handler], ...]
    callbacks: Callbacks | None = None
