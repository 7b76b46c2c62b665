"""The HTTP transport of `apply`: httpx's API over aiohttp's connection pool.

httpx's own pool (httpcore) spends milliseconds of CPU per request once many
are in flight (DESIGN §6; bench/apply_throughput.py), so apply sends through
`httpx-aiohttp`. Its exception mapping is not good enough for a ledger that
must know whether a provider may have received a message: it reports a
server that hung up after the request went out as a connect timeout, which
would mean "certainly not sent" and resend it. So errors are mapped again
here, from aiohttp's own exception: only a failure to connect is a connect
error; anything later is a read/protocol error (the message may be out).

The request itself is made here too (httpx-aiohttp still sets up the pool):
provider answers are small JSON bodies, read whole inside aiohttp, so every
error of the exchange falls in one `try`, and httpx gets a finished Response
instead of a stream to wrap (5,000 sends at 0 ms: ~5% faster).
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from smsops.core import secrets


class Transport(AiohttpTransport):
    """aiohttp underneath; the body is read inside, so every error is mapped here."""

    def __init__(self, max_connections: int) -> None:
        super().__init__(
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                # under the 5 s idle timeout common in servers, so a connection is
                # not reused just as the server closes it (that send would be uncertain)
                keepalive_expiry=4.0,
            ),
            # SSL_CERT_FILE/SSL_CERT_DIR are honoured; aiohttp itself takes no proxy
            # from the environment (httpx did: HTTPS_PROXY no longer applies)
            trust_env=True,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        try:
            async with self.client.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes by Content-Encoding, as before
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
            ) as answer:
                body = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise honest(exc, request) from exc
        extensions = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode()
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            content=body,
            request=request,
            extensions=extensions,
        )


def honest(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error that says truthfully whether the request may have left."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) and exc.__cause__ else exc
    # aiohttp's messages may quote the URL, and a base_url may hold a `${env:...}` value
    message = secrets.scrub(f"{type(cause).__name__}: {cause}")
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(cause, aiohttp.ClientConnectorError):  # DNS, refused, unreachable
        return httpx.ConnectError(message, request=request)
    if isinstance(cause, TimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message, request=request)
    return httpx.ReadError(message, request=request)
