"""A provider's answer is bounded: size (decoded), and time even when it drips.

A `base_url` comes from a pull request, so the server may be hostile: one
that streams gigabytes, a gzip bomb, or a byte every half second must end
as one `uncertain` send (the message may have gone), quickly, without
growing our memory.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from smsops.engine.transport import MAX_ANSWER_BYTES, Transport
from smsops.providers.base import Uncertain, transport_error

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
BOMB = gzip.compress(b" " * (64 * MAX_ANSWER_BYTES))  # 64 MiB of spaces, ~64 KiB on the wire


def _serve(listener: socket.socket, behaviour: str, stop: threading.Event) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.recv(65536)
        try:
            if behaviour == "declared":
                conn.sendall(HEAD + b"Content-Length: 4000000000\r\n\r\n" + b" " * 65536)
                stop.wait(5)
            elif behaviour == "streamed":
                conn.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
                chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
                while not stop.is_set():
                    conn.sendall(chunk)
            elif behaviour == "bomb":
                length = str(len(BOMB)).encode()
                conn.sendall(
                    HEAD + b"Content-Encoding: gzip\r\nContent-Length: " + length + b"\r\n\r\n"
                )
                conn.sendall(BOMB)
                stop.wait(5)
            elif behaviour == "drip":
                conn.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
                while not stop.wait(0.2):
                    conn.sendall(b"1\r\n \r\n")
        except OSError:
            pass  # the client hung up: what it should do


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(listener, request.param, stop), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/send"
    stop.set()
    listener.close()
    thread.join(10)


def _exchange(url: str, timeout: float) -> tuple[object, float, int]:
    """(outcome, seconds, RSS growth in bytes) of one request through the transport."""
    process = psutil.Process()
    before = process.memory_info().rss

    async def post() -> object:
        request = httpx.Request("POST", url, json={"to": "x"})
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        async with Transport(max_connections=1) as transport:
            try:
                await transport.handle_async_request(request)
            except httpx.TransportError as exc:
                return transport_error(exc)
        return "answered"

    started = time.monotonic()
    outcome = asyncio.run(post())
    return outcome, time.monotonic() - started, process.memory_info().rss - before


@pytest.mark.parametrize("server", ["declared", "streamed", "bomb"], indirect=True)
def test_an_answer_past_one_mebibyte_is_refused_unread(server: str) -> None:
    outcome, seconds, grown = _exchange(server, timeout=10)
    assert isinstance(outcome, Uncertain), outcome  # the message may have been taken
    assert outcome.reason.endswith("ReadError")
    assert seconds < 5
    assert grown < 32 * MAX_ANSWER_BYTES  # never the gigabytes on offer


@pytest.mark.parametrize("server", ["drip"], indirect=True)
def test_a_dripping_answer_ends_within_the_timeout_budget(server: str) -> None:
    """The provider's `timeout` is the whole exchange's budget, as docs/config.md says.

    It was the sum of the pool, connect and read budgets: `timeout: 3s` let a
    dripping server hold a send for ~10 s (issue 19's review).
    """
    outcome, seconds, _ = _exchange(server, timeout=1.0)
    assert isinstance(outcome, Uncertain), outcome
    assert 0.9 < seconds < 1.9  # the timeout, never three of them (nor forever)
