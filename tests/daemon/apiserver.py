"""The run server of a config with an `api` map, on a real loopback socket, in a thread.

The API tests call it as any client would (httpx over 127.0.0.1). The
service is the one `smsops run` builds (runner, ledger, metrics, the front
door); `routes` replaces API_ROUTES for the shell's own tests. Stopped, its
socket closed and its ledger closed when the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from smsops.daemon.api import ApiRoute
from smsops.daemon.http import http_server
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.daemon.service import Service
from smsops.engine.project import load_project
from smsops.ledger.base import Ledger
from smsops.ledger.memory import MemoryLedger
from tests.daemon.hookserver import in_thread

TOKEN = "api-token-SECRET-51c9-0123456789abcdef"
ENV = {"SMSOPS_API_TOKEN": TOKEN, "SKY_KEY": "k"}
# Providers and templates, no schedule, no `api` map: the API tests add one.
PROVIDERS = """\
providers:
  sky:
    type: skycore
    base_url: http://127.0.0.1:9/api
    api_key: ${env:SKY_KEY}
    from: "12025550100"
templates:
  shipped: {category: transactional, body: "Order {{ order }} shipped"}
"""
API = "api:\n  token: ${env:SMSOPS_API_TOKEN}\n"


def on_sandbox(base_url: str, templates: str, *, api: bool = True, provider: str = "") -> str:
    """A config of provider `sky` (Skycore at `base_url`, the sandbox's), `templates` (the
    YAML lines below `templates:`), the `api` map unless not `api`; `provider`: more keys."""
    head = API if api else ""
    return (
        f"{head}providers:\n  sky:\n    type: skycore\n    base_url: {base_url}\n"
        f'    api_key: ${{env:SKY_KEY}}\n    from: "12025550100"\n{provider}'
        f"templates:\n{templates}"
    )


BEARER = {"authorization": f"Bearer {TOKEN}"}


@dataclass
class ApiServed:
    port: int
    service: Service
    ledger: Ledger

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, headers=headers)

    def count(self, route: str, outcome: str) -> float:
        labels = {"route": route, "outcome": outcome}
        found = self.service.metrics.registry.get_sample_value("smsops_api_requests_total", labels)
        return found or 0.0


@contextlib.contextmanager
def api_serving(
    root: Path,
    config: str,
    env: Mapping[str, str],
    *,
    routes: Sequence[ApiRoute] | None = None,
    ledger: Ledger | None = None,
) -> Iterator[ApiServed]:
    (root / "c.yaml").write_text(config)
    ledger = ledger or MemoryLedger()
    metrics = Metrics()
    runner = Runner(load_project(root), ledger, dict(env), metrics)
    service = Service(root, load_project, ledger, runner, metrics)
    try:
        with in_thread(http_server(service, api=routes), service) as port:
            yield ApiServed(port, service, ledger)
    finally:
        ledger.close()
