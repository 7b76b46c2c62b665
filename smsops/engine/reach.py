"""Whether a round's requests reached their provider: what `held: provider` is decided on.

A request either got an HTTP answer (any status: the provider is up, even
if it refused the message), or certainly never reached it (the transport's
connect errors, engine/transport.py: refused, DNS, TLS, connect timeout),
or neither is known (a read error after connecting: `uncertain`, the
provider may have taken it). A round whose requests to a provider were all
of the second kind found the provider down (engine/holds.py records it).

The cause is one of a few fixed phrases, never the error's text: that may
quote the URL, and a `base_url` may hold a secret.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp
import httpx

# How one request went, as far as reaching its provider goes: ANSWERED, why it
# could not be reached (`unreachable`), or None (not known).
Heard = str | None
ANSWERED = "answered"


def unreachable(error: httpx.TransportError) -> str | None:
    """Why `error` certainly never reached the provider (a fixed phrase), else None."""
    if isinstance(error, httpx.ConnectTimeout):
        return "connect timeout"
    if not isinstance(error, httpx.ConnectError):
        return None  # a pool timeout waits on us, anything later may have reached it
    cause = error.__cause__
    if isinstance(cause, aiohttp.ClientConnectorDNSError):
        return "DNS"
    if isinstance(cause, aiohttp.ClientSSLError | ssl.SSLError):
        return "TLS"
    os_error = cause.os_error if isinstance(cause, aiohttp.ClientConnectorError) else cause
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(os_error, ConnectionResetError):
        return "connection reset"
    return "could not connect"


@dataclass
class Reach:
    """One provider's requests for one schedule in one round."""

    requests: int = 0
    answered: int = 0  # got an HTTP answer, whatever its status
    unreachable: int = 0  # certainly never reached it
    cause: str = ""  # the first unreachable request's (a fixed phrase)

    def heard(self, how: Heard) -> None:
        self.requests += 1
        if how == ANSWERED:
            self.answered += 1
        elif how is not None:
            self.unreachable += 1
            self.cause = self.cause or how

    @property
    def down(self) -> bool:
        """No request reached it, and at least one certainly could not."""
        return self.unreachable > 0 and self.unreachable == self.requests
