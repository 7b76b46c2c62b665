"""Which `Host` the status view, its login and the API answer to (DNS rebinding).

A web page on `attacker.example` can point its own name at the run server's
address (a short DNS answer, then a second one): the browser then thinks the
server is that page's origin, and lets the page read what it serves. With
`status: {public: true}` that is the whole status view; with a token the
login's Origin check would see the attacker's name as "same site". The
browser still sends the name it used, in `Host`, so the guarded routes answer
only:

- an IP literal (`10.0.0.7:8080`, `[::1]:8080`): a browser that used an
  address was not rebound, and Kubernetes' probes and Prometheus' scrapes by
  pod address send one;
- `localhost`;
- a name the config lists in `server: {hosts: [...]}` (case-insensitive, a
  trailing dot ignored, any port).

Anything else, or no `Host` at all, gets 421 Misdirected Request with an
empty body: nothing of the page, not even whether it is there. The probes
and `/metrics` answer any Host (scrapers and compose files name a service:
`smsops:8080`; they hold nothing a token guards), and so do the webhooks
(providers post to the public name; each carries its token or signature).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from smsops.daemon.service import Service

Endpoint = Callable[[Request], Awaitable[Response]]
ALWAYS = "localhost"


def host_name(header: str) -> str | None:
    """The name in a Host header, lower case, without its port (None: not a host)."""
    text = header.strip().lower()
    if text.startswith("["):  # an IPv6 literal, maybe with a port
        name, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name
    name, colon, port = text.partition(":")
    if colon and not port.isdigit():
        return None
    return name.rstrip(".") or None


def allowed(header: str | None, names: list[str]) -> bool:
    if header is None:
        return False
    name = host_name(header)
    if name is None:
        return False
    if name == ALWAYS or name in names:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def misdirected() -> Response:
    """421 and nothing else."""
    return Response(status_code=421, headers={"cache-control": "no-store"})


def host_checked(service: Service, endpoint: Endpoint) -> Endpoint:
    """`endpoint`, answering 421 before anything else for a Host it does not answer to."""

    async def checked(request: Request) -> Response:
        server = service.runner.config.server
        names = server.hosts if server is not None else []
        if not allowed(request.headers.get("host"), names):
            return misdirected()
        return await endpoint(request)

    return checked
