"""apply's transport tells truthfully whether a request may have reached the provider."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest

from smsops.engine.transport import Transport
from smsops.providers.base import Retryable, Uncertain, transport_error


async def _post(url: str, timeout: float = 5.0) -> httpx.Response:
    async with httpx.AsyncClient(transport=Transport(max_connections=2)) as client:
        return await client.post(url, json={"to": "x"}, timeout=timeout)


def _outcome(url: str, timeout: float = 5.0) -> object:
    try:
        asyncio.run(_post(url, timeout))
    except httpx.TransportError as exc:
        return transport_error(exc)
    raise AssertionError("no error")


def _server(behaviour: str) -> tuple[socket.socket, threading.Thread]:
    """A one-shot loopback server that reads the request, then hangs up or stays silent."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            if behaviour == "silent":
                conn.recv(65536)  # until the client gives up
            elif behaviour == "half":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_a_refused_connection_was_certainly_not_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        result = _outcome(f"http://127.0.0.1:{port}/sms")
    assert isinstance(result, Retryable)
    assert "ConnectError" in result.reason


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [("close", "RemoteProtocolError"), ("half", "ReadError"), ("silent", "ReadTimeout")],
)
def test_a_failure_after_the_request_left_is_uncertain(behaviour: str, error: str) -> None:
    listener, thread = _server(behaviour)
    with listener:
        port = listener.getsockname()[1]
        result = _outcome(f"http://127.0.0.1:{port}/sms", timeout=0.5)
        thread.join(timeout=5)
    assert isinstance(result, Uncertain)
    assert error in result.reason


def test_an_answer_is_read_whole() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b'HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{"ok":true}')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with listener:
        response = asyncio.run(_post(f"http://127.0.0.1:{listener.getsockname()[1]}/sms"))
        thread.join(timeout=5)
    assert (response.status_code, response.json()) == (201, {"ok": True})


def test_an_aiohttp_error_quoting_a_keyed_url_is_scrubbed() -> None:
    """aiohttp quotes URLs in its messages; a base_url may carry a `${env:...}` key."""
    import aiohttp

    from smsops.core import envref
    from smsops.engine.transport import honest

    url = envref.resolve("http://127.0.0.1:9/sms?key=${env:K}", {"K": "url-SECRET-5e6f"}, "p")
    request = httpx.Request("POST", url)
    cause = aiohttp.InvalidURL(url)
    assert "url-SECRET-5e6f" in str(cause)
    error = honest(cause, request)
    assert isinstance(error, httpx.ReadError)
    assert "url-SECRET-5e6f" not in str(error)
    assert "key=***" in str(error)
