"""What the sandbox remembers (accepted messages) and the faults it injects."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from smsops.providers.emulation import Sent
from smsops.sandbox.loop import Loop


@dataclass
class Faults:
    """Failure modes to exercise every path of a client; all off by default."""

    latency_ms: float = 0.0
    # Every Nth provider request is answered with `status` (and Retry-After for 429/503).
    status_every: int = 0
    status: int = 429
    retry_after: float | None = 1.0
    # Every Nth request is accepted and recorded, then the connection is dropped
    # before any response: the client cannot know the message went out.
    drop_every: int = 0
    # Requests per second above which the sandbox answers 429 (0: no limit).
    rate_limit: float = 0.0
    # Every Nth request is answered with `echo_status` and a body that echoes the
    # request (method, URL, every header, the body), as a misbehaving proxy would:
    # whatever a client prints or stores of that answer must not carry its keys.
    echo_every: int = 0
    echo_status: int = 400
    # Every Nth request is answered with exactly this status, these headers and this
    # body (UTF-8), taking nothing: the hostile answers no emulator gives (a
    # `Retry-After: inf`, a charset naming `rot13`, a body nested 100,000 deep).
    raw_every: int = 0
    raw_status: int = 200
    raw_headers: dict[str, str] = field(default_factory=dict)
    raw_body: str = ""

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(
                    f"unknown fault {name!r}; known: {', '.join(self.__dataclass_fields__)}"
                )
            setattr(self, name, value)


@dataclass
class SandboxState:
    """Thread-safe: the server thread records, tests and the CLI read."""

    faults: Faults = field(default_factory=Faults)
    messages: list[dict[str, Any]] = field(default_factory=list)
    otp_codes: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    loop: Loop = field(default_factory=Loop)  # receipts and texts the sandbox posts
    _recent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self, provider: str, recipient: str, text: str, message_id: str | None, body: dict[str, Any]
    ) -> None:
        entry = {
            "provider": provider,
            "recipient": recipient,
            "text": text,
            "message_id": message_id,
            "request": body,
            "received_at": datetime.now(UTC).isoformat(),
        }
        with self._lock:
            self.messages.append(entry)

    async def report(self, sent: Sent) -> None:
        await self.loop.report(sent)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.otp_codes.clear()
            self.requests = 0
            self._recent.clear()
            self.faults = Faults()
        self.loop.reset()

    def count_request(self) -> int:
        with self._lock:
            self.requests += 1
            return self.requests

    def over_rate_limit(self) -> bool:
        """Sliding one-second window, as a provider's limiter would count."""
        limit = self.faults.rate_limit
        if limit <= 0:
            return False
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= limit:
                return True
            self._recent.append(now)
            return False

    def busiest_second(self) -> int:
        """The most messages received within any one second: what a rate limit must bound."""
        return busiest_second(
            datetime.fromisoformat(m["received_at"]).timestamp() for m in self.snapshot()
        )

    def faults_dict(self) -> dict[str, Any]:
        return asdict(self.faults)


def busiest_second(times: Iterable[float]) -> int:
    """The most of `times` (seconds) inside any window [t, t + 1)."""
    ordered = sorted(times)
    busiest, start = 0, 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest
