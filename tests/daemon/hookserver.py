"""The run server's HTTP side with a recording `HookSink`, on a real loopback socket.

The webhook tests check the HTTP layer: what reaches the sink, and that a
refused request never does. The sink here is a small recording object (the
ledger's sink, engine/hearing.py, has its own tests); the server is the one
`smsops run` serves (`http_server(service)`: the front door, the routes),
in a thread, stopped when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from smsops.core.frontdoor import FrontDoor
from smsops.core.hooks import Delivery, Inbound, InboundResult, Receipt, ReceiptResult
from smsops.daemon.http import http_server
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.daemon.service import Service
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger

TOKEN = "hook-token-SECRET-7f3a-0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token-SECRET"
PUBLIC = "https://smsops.example.test"  # what Twilio is told; the test server is on loopback
ENV = {
    "SKY_KEY": "sky-key",
    "SKY_HOOK": TOKEN,
    "OT_JWT": "jwt",
    "OT_HOOK": TOKEN,
    "AOC_KEY": "aoc-key",
    "AOC_HOOK": TOKEN,
    "TW_SID": "AC123",
    "TW_TOKEN": TWILIO_TOKEN,
}
CONFIG = f"""\
providers:
  sky:
    type: skycore
    base_url: https://sky.example.test/api
    api_key: ${{env:SKY_KEY}}
    from: "12025550100"
    webhook_token: ${{env:SKY_HOOK}}
  tw:
    type: twilio
    account_sid: ${{env:TW_SID}}
    auth_token: ${{env:TW_TOKEN}}
    from: "+12025550100"
    status_callback: {PUBLIC}/hooks/tw/receipts
    inbound_url: {PUBLIC}/hooks/tw/inbound?source=console
  ot:
    type: opentact
    token: ${{env:OT_JWT}}
    from: "+12017771234"
    webhook_token: ${{env:OT_HOOK}}
  aoc:
    type: aoc
    base_url: https://aoc.example.test
    api_key: ${{env:AOC_KEY}}
    sender: ACME
    webhook_token: ${{env:AOC_HOOK}}
    receipts:
      id_field: data.messageId
      status_field: data.state
      error_field: data.reason
      delivered: [DELIVRD]
      undelivered: [UNDELIV, REJECTD]
      interim: [ENROUTE]
  quiet:
    type: opentact
    token: ${{env:OT_JWT}}
    from: "+12017771234"
  notw:
    type: twilio
    account_sid: ${{env:TW_SID}}
    auth_token: ${{env:TW_TOKEN}}
    from: "+12025550100"
templates:
  t: {{category: transactional, body: "Hi"}}
audiences:
  a: {{contacts: [{{phone: "+447400123456"}}]}}
schedules:
  s: {{template: t, audience: a, provider: ot, enabled: false}}
"""


@dataclass
class RecordingSink:
    """A HookSink that keeps what it was handed and answers `answer` per receipt."""

    receipts_seen: list[Receipt] = field(default_factory=list)
    inbound_seen: list[Inbound] = field(default_factory=list)
    calls: int = 0
    raises: Exception | None = None
    answer: Callable[[Receipt], ReceiptResult] = lambda r: (
        ReceiptResult.INTERIM if r.delivery is Delivery.INTERIM else ReceiptResult.APPLIED
    )

    def receipts(self, items: Sequence[Receipt]) -> list[ReceiptResult]:
        self.calls += 1
        if self.raises is not None:
            raise self.raises
        self.receipts_seen.extend(items)
        return [self.answer(item) for item in items]

    def inbound(self, message: Inbound) -> InboundResult:
        self.calls += 1
        if self.raises is not None:
            raise self.raises
        self.inbound_seen.append(message)
        stop = message.text.strip().upper() == "STOP"
        return InboundResult.OPTED_OUT if stop else InboundResult.OTHER


@dataclass
class Served:
    port: int
    service: Service
    sink: RecordingSink

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(
        self, path: str, body: bytes | str, content_type: str, **kwargs: object
    ) -> httpx.Response:
        content = body.encode() if isinstance(body, str) else body
        headers = {"content-type": content_type} | dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        with httpx.Client(base_url=self.base, timeout=10) as client:
            return client.post(path, content=content, headers=headers, **kwargs)  # type: ignore[arg-type]

    def metric(self, name: str, labels: dict[str, str]) -> float | None:
        value = self.service.metrics.registry.get_sample_value(name, labels)
        return value

    def alive(self) -> bool:
        with httpx.Client(base_url=self.base, timeout=5) as client:
            return client.get("/healthz").status_code == 200


@contextlib.contextmanager
def in_thread(server: FrontDoor, service: Service | None = None) -> Iterator[int]:
    """`server` on a free loopback port (yielded) in a thread of its own until the block
    ends; then what `service`'s API kept is closed (`Service.close`) on that loop."""
    sock = socket.create_server(("127.0.0.1", 0))

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            if service is not None:
                await service.close()

    thread = threading.Thread(target=lambda: asyncio.run(serve()))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextlib.contextmanager
def serving(
    root: Path, sink: RecordingSink | None = None, *, hooks: bool = True, extra: str = ""
) -> Iterator[Served]:
    """The run server of CONFIG (and `extra` YAML) on a free loopback port, its sink `sink`
    (None if not `hooks`)."""
    (root / "c.yaml").write_text(CONFIG + extra)
    sink = sink or RecordingSink()
    ledger = MemoryLedger()
    metrics = Metrics()
    runner = Runner(load_project(root), ledger, ENV, metrics)
    service = Service(root, load_project, ledger, runner, metrics, hooks=sink if hooks else None)
    try:
        with in_thread(http_server(service), service) as port:
            yield Served(port, service, sink)
    finally:
        ledger.close()
