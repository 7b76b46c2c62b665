"""The HTTP transport of `apply`: httpx's transport contract over an aiohttp pool.

httpx's own pool (httpcore) spends milliseconds of CPU per request once many
are in flight (docs/architecture.md, Measured choices; bench/apply_throughput.py),
so apply sends through an `aiohttp.ClientSession` this transport owns, behind
httpx's public `AsyncBaseTransport` (adapters build `httpx.Request`s, parse
`httpx.Response`s; tests plug in `httpx.MockTransport` instead). Only public
APIs of both libraries are used, so a minor release of either cannot break
it silently (issue 13: it used to subclass httpx-aiohttp and replace its one
method).

Errors are mapped here, from aiohttp's own exception, because a ledger must
know whether a provider may have received a message: only a failure to
connect is a connect error (certainly not sent, retryable); anything later
is a read/protocol error (the message may be out: uncertain).

Provider answers are small JSON bodies, read whole inside aiohttp, so every
error of the exchange falls in one `try`, and httpx gets a finished Response
instead of a stream to wrap (5,000 sends at 0 ms: ~5% faster).
"""

from __future__ import annotations

import ssl

import aiohttp
import httpx

from smsops.core import secrets

# Under the 5 s idle timeout common in servers, so a connection is not reused
# just as the server closes it (that send would be uncertain).
KEEPALIVE_SECONDS = 4.0
# A provider's answer is a small JSON body; a `base_url` comes from a pull
# request, and a server that streams gigabytes must not fill our memory.
MAX_ANSWER_BYTES = 1024 * 1024


class AnswerTooLarge(aiohttp.ClientPayloadError):
    """The answer ran past MAX_ANSWER_BYTES: read no further (the message may be out)."""


class Transport(httpx.AsyncBaseTransport):
    """aiohttp underneath; the body is read inside, so every error is mapped here."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | None = None

    def _open(self) -> aiohttp.ClientSession:
        """The pool, made at the first request: aiohttp wants the running loop."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.max_connections, keepalive_timeout=KEEPALIVE_SECONDS
            ),
            # requests arrive whole from the adapters; cookies would only be stored
            # and echoed (aiohttp takes no proxy from the environment either:
            # HTTPS_PROXY does not apply, as before)
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self._session

    def _tls_context(self) -> ssl.SSLContext:
        """httpx's certificate store, SSL_CERT_FILE/SSL_CERT_DIR honoured.

        Built at the first https request, not at start: it costs ~30 ms and a
        config whose providers are all http:// (the sandbox) never needs it.
        """
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=True)
        return self._tls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                # decoded here, so the size bound counts decoded bytes (a gzip bomb
                # stops at 1 MiB); httpx gets the plain body and no Content-Encoding
                auto_decompress=True,
                compress=False,
                ssl=self._tls_context() if request.url.scheme == "https" else True,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                    # a server dripping a byte at a time never trips sock_read:
                    # the whole exchange gets the provider's `timeout`, no more
                    total=_total(timeout),
                ),
            ) as answer:
                body = await _bounded(answer)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise honest(exc, request) from exc
        extensions = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode()
        headers = [
            (name, value)
            for name, value in answer.raw_headers
            if name.lower() not in (b"content-encoding", b"content-length")
        ]
        # The body handed over as a stream and read at once: with `content=` httpx
        # also makes and merges a Content-Length header of its own, which nothing
        # reads (~10 us of the Response's ~22 us a send). Headers: the provider's.
        response = httpx.Response(
            answer.status,
            headers=headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )
        response.read()
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _total(timeout: dict[str, float | None]) -> float | None:
    """The whole exchange's budget: the largest phase budget, not their sum.

    A provider's `timeout` is "how long one request may take" (docs/config.md)
    and arrives as equal pool, connect and read budgets; summing them let
    `timeout: 3s` hold a send for ~10 s. Waiting for a pool slot is part of
    it, but the engine sizes the pool to every lane's `max_in_flight`, so a
    request barely waits there.
    """
    parts = [timeout.get("pool"), timeout.get("connect"), timeout.get("read")]
    return max((part for part in parts if part is not None), default=None)


async def _bounded(answer: aiohttp.ClientResponse) -> bytes:
    """The answer's body, refused past MAX_ANSWER_BYTES (before reading it all)."""
    if (answer.content_length or 0) > MAX_ANSWER_BYTES:
        raise AnswerTooLarge(f"the answer is {answer.content_length} bytes; at most 1 MiB is read")
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge("the answer is larger than 1 MiB; the rest was not read")
        chunks.append(chunk)
    return b"".join(chunks)


def honest(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error that says truthfully whether the request may have left."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) and exc.__cause__ else exc
    # aiohttp's messages may quote the URL, and a base_url may hold a `${env:...}` value
    message = secrets.scrub(f"{type(cause).__name__}: {cause}")
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(cause, aiohttp.ClientConnectorError):  # DNS, refused, unreachable, TLS
        return httpx.ConnectError(message, request=request)
    if isinstance(cause, TimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message, request=request)
    return httpx.ReadError(message, request=request)
