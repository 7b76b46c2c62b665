"""The sandbox closes the loop: receipts after a send, and texts from people (issue 21).

After an emulator accepts a message it reports it (`Recorder.report`); when
the sandbox knows where that provider's receipts go, it posts them as the
provider would (the provider module's `Callbacks`: Skycore's XML postbacks
N201 then N202 or E202 to the account's postback URL, Twilio's signed status
callbacks to the send's StatusCallback). `POST /_sandbox/inbound` makes a
person's text (STOP...) arrive at a target's inbound URL.

Targets are named like the config's providers (`smsops run --sandbox` sets
them from its config, pointed at its own /hooks). Which recipients get E202,
which receipts are posted twice and which arrive before the send's own
answer are decided by the number (`picked`), so a test can predict them.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from smsops.providers.emulation import Incoming, Sent
from smsops.providers.registry import emulators
from smsops.sandbox.poster import Poster, loopback

MAX_TARGETS = 100
MAX_NAME = 64
MAX_SECRET = 512
MAX_DELAY_MS = 60_000.0
FIRST_WAIT = 15.0  # seconds a send's answer waits for its early receipts, at most


def picked(number: str, what: str, share: float) -> bool:
    """Whether `number` is in the `share` (0..1) of numbers chosen for `what`: a stable hash."""
    digest = hashlib.sha256(f"{what}:{number}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass
class Options:
    """How the sandbox reports on what it accepted (`PUT /_sandbox/callbacks`)."""

    receipts: bool = True  # post receipts where a URL is known
    interim: bool = True  # N201 / `sent` before the final receipt
    undelivered_share: float = 0.0  # E202 / `undelivered` for this share of recipients
    delay_ms: float = 0.0  # each message's receipts wait this long
    twice_share: float = 0.0  # each receipt to this share of recipients is posted twice
    # This share of recipients' receipts are posted (and answered) before the send's
    # own answer: the receipt races the settle.
    first_share: float = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown option {name!r}; known: {', '.join(known)}")
            if known[name] == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            else:
                top = MAX_DELAY_MS if name == "delay_ms" else 1.0
                if not 0 <= value <= top:
                    raise ValueError(f"{name} must be from 0 to {top:g}")
            checked[name] = value
        for name, value in checked.items():  # all or nothing
            setattr(self, name, value)


@dataclass(frozen=True)
class Target:
    """Where one provider's callbacks go: a webhook of the client under test."""

    type: str  # the provider type (one whose emulator has callbacks)
    receipts_url: str | None = None  # Skycore: the account's postback URL (with its token)
    inbound_url: str | None = None
    secret: str | None = None  # Twilio: the auth token that signs an inbound text

    def shown(self) -> dict[str, Any]:
        """What GET shows: no token in a URL, no secret."""
        return {
            "type": self.type,
            "receipts_url": self.receipts_url and self.receipts_url.partition("?")[0],
            "inbound_url": self.inbound_url and self.inbound_url.partition("?")[0],
            "secret": self.secret and "***",
        }


def target(name: object, spec: object) -> Target:
    """A target from JSON, or a ValueError saying what is wrong (never quoting a secret)."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise ValueError(f"a target's name is a string of 1 to {MAX_NAME} characters")
    if not isinstance(spec, dict):
        raise ValueError(f"target {name!r} must be an object")
    unknown = set(spec) - {"type", "receipts_url", "inbound_url", "secret"}
    if unknown:
        raise ValueError(f"target {name!r}: unknown key {sorted(unknown)[0]!r}")
    kind = spec.get("type")
    if kind not in {t for t, e in emulators().items() if e.callbacks is not None}:
        raise ValueError(f"target {name!r}: type must be a provider type with callbacks")
    for key in ("receipts_url", "inbound_url"):
        url = spec.get(key)
        if url is not None and not (isinstance(url, str) and loopback(url)):
            raise ValueError(f"target {name!r}: {key} must be an http URL to a loopback IP")
    secret = spec.get("secret")
    if secret is not None and not (isinstance(secret, str) and 0 < len(secret) <= MAX_SECRET):
        raise ValueError(f"target {name!r}: secret must be a string of 1 to {MAX_SECRET}")
    return Target(kind, spec.get("receipts_url"), spec.get("inbound_url"), secret)


@dataclass
class Loop:
    """The callback side of the sandbox's state (thread-safe)."""

    options: Options = field(default_factory=Options)
    targets: dict[str, Target] = field(default_factory=dict)
    poster: Poster | None = None  # set while a server runs
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.options, self.targets = Options(), {}
        if self.poster is not None:
            self.poster.clear()

    def configure(self, changes: object) -> None:
        """`PUT /_sandbox/callbacks`: options, and `targets` (replacing them all)."""
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        changes = dict(changes)
        targets = None
        if "targets" in changes:
            given = changes.pop("targets")
            if not isinstance(given, dict) or len(given) > MAX_TARGETS:
                raise ValueError(f"targets must be an object of at most {MAX_TARGETS} targets")
            targets = {name: target(name, spec) for name, spec in given.items()}
        with self._lock:
            options = replace(self.options)
            options.update(changes)
            self.options = options
            if targets is not None:
                self.targets = targets

    def set_targets(self, targets: dict[str, Target]) -> None:
        with self._lock:
            self.targets = dict(targets)

    def shown(self) -> dict[str, Any]:
        with self._lock:
            shown = asdict(self.options)
            shown["targets"] = {name: t.shown() for name, t in sorted(self.targets.items())}
        shown["posts"] = self.poster.stats() if self.poster is not None else None
        return shown

    def _receipts_url(self, sent: Sent) -> str | None:
        if sent.url is not None:
            return sent.url
        with self._lock:
            if sent.account:
                found = self.targets.get(sent.account)
                mine = [found] if found is not None and found.type == sent.provider else []
            else:  # the account's base_url without a name: the only target of that type
                mine = [t for t in self.targets.values() if t.type == sent.provider]
        return mine[0].receipts_url if len(mine) == 1 else None

    async def report(self, sent: Sent) -> None:
        """Post `sent`'s receipts, if its URL is known; wait for them when it is picked first."""
        callbacks = emulators()[sent.provider].callbacks
        url = self._receipts_url(sent)
        with self._lock:
            options = replace(self.options)
        if self.poster is None or callbacks is None or url is None or not options.receipts:
            return
        delivered = not picked(sent.recipient, "undelivered", options.undelivered_share)
        posts = callbacks.statuses(replace(sent, url=url), delivered, options.interim)
        if picked(sent.recipient, "twice", options.twice_share):
            posts = [post for post in posts for post in (post, post)]
        first = picked(sent.recipient, "first", options.first_share)
        job = self.poster.submit(posts, 0.0 if first else options.delay_ms / 1000)
        if first and job is not None:
            await asyncio.to_thread(job.done.wait, FIRST_WAIT)

    def inject(self, provider: str, text: Incoming) -> bool:
        """Queue `text` to target `provider`'s inbound URL; False when the queue is full.

        A KeyError when no target of that name takes inbound texts.
        """
        with self._lock:
            found = self.targets.get(provider)
        if found is None or found.inbound_url is None:
            raise KeyError(provider)
        callbacks = emulators()[found.type].callbacks
        assert callbacks is not None  # a target's type has callbacks (`target`)
        post = callbacks.inbound(text, found.inbound_url, found.secret)
        return self.poster is not None and self.poster.submit([post]) is not None
