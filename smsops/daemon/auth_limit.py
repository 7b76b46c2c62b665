"""Wrong tokens, limited per client address, on every door of the run server.

The API's bearer token, the status page's (bearer, session cookie and
`POST /login`) and the webhooks' (`webhook_token`, Twilio's signature) are
each compared in constant time; this bounds how often one client may be
wrong. Each address may be wrong `BURST` times at once, then once per
`REFILL` seconds (a leaky bucket: 20 at once, then 20 a minute). A client
over it gets 429 with `Retry-After`, and its credentials are not even
compared: a right token sent from that address waits too. The table is
shared by every door (a guesser at the API waits at the page as well).

Per address, never per token: an attacker's failures never lock out the real
user, who calls from another address. Without proxies that holds as is.
Behind a reverse proxy every request comes from the proxy's address, so all
its clients share one allowance: name the proxy in `server:
{trusted_proxies: [...]}` and the client is read from `X-Forwarded-For` (the
right-most address that is not a trusted proxy: what the proxy itself saw;
the left part is whatever the client wrote). `X-Forwarded-For` from anyone
else is ignored, as is uvicorn's own reading of it (core/frontdoor.py).
IPv6 clients count by their /64: one host holds a whole /64 to rotate
through.

Bounded memory: at most `TABLE` addresses are remembered; when full, the
one that failed least recently is forgotten first (an address whose bucket
has refilled is forgotten as soon as it is seen again). What is counted,
and only that: a credential shown and wrong (a bearer, a cookie, a form's
token, `?token=`, a signature). A request without any (a browser opening
the login form) costs nothing, and a right one from an address under the
limit forgets that address's failures.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from starlette.requests import Request

from smsops.core.errors import Refused

if TYPE_CHECKING:
    from smsops.daemon.service import Service

BURST = 20  # wrong tokens one address may send at once
REFILL = 3.0  # seconds for one more once those are spent (20 a minute)
TABLE = 4096  # addresses remembered at once (~1 MB at most)
Surface = Literal["api", "status", "login", "hooks"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Limited(Refused):
    """429: this client was wrong too often; `retry_after` whole seconds until it may try."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, f"too many wrong tokens from this address: retry in {retry_after} s")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)}


class FailedAuth:
    """Per client: (attempts left, when last counted); refilled by the clock on reading."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, size: int = TABLE) -> None:
        self._clock = clock
        self._size = size
        self._left: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _now_left(self, client: str, now: float) -> float:
        found = self._left.get(client)
        if found is None:
            return float(BURST)
        left, at = found
        return min(float(BURST), left + (now - at) / REFILL)

    def wait(self, client: str) -> int:
        """Whole seconds `client` must wait before its next try (0: it may try now)."""
        with self._lock:
            now = self._clock()
            left = self._now_left(client, now)
            if left >= BURST:
                self._left.pop(client, None)  # refilled: nothing to remember
            return 0 if left >= 1 else max(1, math.ceil((1 - left) * REFILL))

    def failed(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            self._left[client] = (max(0.0, self._now_left(client, now) - 1), now)
            self._left.move_to_end(client)
            while len(self._left) > self._size:
                self._left.popitem(last=False)  # the one that failed least recently

    def passed(self, client: str) -> None:
        with self._lock:
            self._left.pop(client, None)

    def __len__(self) -> int:
        return len(self._left)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def trusted_networks(service: Service) -> list[Network]:
    server = service.runner.config.server
    if server is None:
        return []
    return [ipaddress.ip_network(entry, strict=False) for entry in server.trusted_proxies]


def client_of(request: Request, trusted: Sequence[Network]) -> str:
    """The key the limit counts `request` under: its address (an IPv6 one as its /64)."""
    peer = _address(request.client.host) if request.client else None
    if peer is not None and any(peer in network for network in trusted):
        forwarded = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
        for hop in reversed(forwarded):
            address = _address(hop)
            if address is None:
                break  # a proxy never writes that: what is left of it is the client's own
            peer = address
            if not any(address in network for network in trusted):
                break
    if peer is None:
        return request.client.host if request.client else "(unknown)"
    if peer.version == 6:
        return str(ipaddress.ip_network(f"{peer}/64", strict=False))
    return str(peer)


class Door:
    """One request's passage through a door: `admit` before comparing, then `failed`
    or `passed` after; every refusal counted in smsops_auth_refusals_total."""

    def __init__(self, service: Service, request: Request, surface: Surface) -> None:
        self._service = service
        self._table = service.keep("failed-auth", FailedAuth)
        self._surface = surface
        self.client = client_of(request, trusted_networks(service))

    def admit(self) -> None:
        """Raises Limited (429) when this client may not try now."""
        wait = self._table.wait(self.client)
        if wait:
            self._service.metrics.auth_refusals.labels(self._surface, "limited").inc()
            raise Limited(wait)

    def failed(self) -> None:
        self._service.metrics.auth_refusals.labels(self._surface, "wrong_token").inc()
        self._table.failed(self.client)

    def passed(self) -> None:
        self._table.passed(self.client)
