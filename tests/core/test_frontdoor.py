"""The front door over real loopback sockets: caps, header limits, timeouts, bounded logs.

A small app behind `FrontDoor` with small limits, served in a thread; the
clients are raw sockets, so every byte of what an attacker sends is ours to
choose. tests/daemon/test_front_door_floods.py runs the floods against
`smsops run` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from smsops.core import frontdoor
from smsops.core.errors import UsageError
from smsops.core.frontdoor import (
    ACCEPT_FAILED,
    BACKLOG,
    MIN_CONNECTIONS,
    RESERVED_DESCRIPTORS,
    FrontDoor,
    Limits,
    plan_descriptors,
)
from tests.daemon.floods import (
    Flood,
    many_fields,
    one_huge_field,
    request_head,
    status_of,
    wait_until,
)
from tests.daemon.hookserver import in_thread

LIMITS = Limits(connections=4, header_fields=10, head_bytes=1024, head_timeout=0.3)


def app(release: threading.Event) -> Starlette:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def busy(request: Request) -> Response:  # holds its connection until released
        while not release.is_set():
            await asyncio.sleep(0.01)
        return PlainTextResponse("done")

    return Starlette(routes=[Route("/ok", ok), Route("/busy", busy)])


@contextlib.contextmanager
def serving(limits: Limits = LIMITS) -> Iterator[tuple[int, FrontDoor, threading.Event]]:
    release = threading.Event()
    server = FrontDoor(app(release), limits)
    with in_thread(server) as port:
        try:
            yield port, server, release
        finally:
            release.set()  # before the server's stop waits for a busy request


def head(target: str = "/ok", fields: int = 0, size: int = 1) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: t"]
    lines += [f"X-{i}: {'v' * size}" for i in range(fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ask(port: int, *heads: bytes) -> list[str]:
    """Send the heads on one connection (pipelined) and return each answer's status."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"".join(heads))
        received = b""
        while received.count(b"HTTP/1.1 ") < len(heads):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return [part.split(b" ", 1)[0].decode() for part in received.split(b"HTTP/1.1 ")[1:]]


def test_header_fields_past_the_limit_are_answered_431() -> None:
    with serving() as (port, server, _):
        assert ask(port, head(fields=9)) == ["200"]  # 9 + Host = the limit of 10
        assert ask(port, head(fields=10)) == ["431"]
        assert request_head("127.0.0.1", port, many_fields(2_000_000)) == "431"
        assert server.door.tally.total == {"431": 2}


def test_heads_past_the_size_limit_are_answered_431_or_414() -> None:
    with serving() as (port, server, _):
        assert ask(port, head(fields=1, size=900)) == ["200"]
        assert ask(port, head(fields=1, size=1100)) == ["431"]  # whole in one read
        assert ask(port, head(fields=3, size=400)) == ["431"]  # the sum counts
        assert request_head("127.0.0.1", port, one_huge_field(64 << 20)) == "431"  # read by read
        assert ask(port, head(target="/ok?" + "q" * 1100)) == ["414"]
        assert server.door.tally.total == {"431": 3, "414": 1}


def test_each_request_of_a_keep_alive_connection_gets_the_whole_limit() -> None:
    with serving() as (port, _, _):
        assert ask(port, head(fields=9), head(fields=9), head(fields=9)) == ["200"] * 3


@pytest.fixture
def depths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many requests each connection held queued, after each request head it parsed."""
    seen: list[int] = []
    parsed = frontdoor._Guarded.on_headers_complete

    def counting(self: frontdoor._Guarded) -> None:
        parsed(self)
        seen.append(len(self.pipeline))

    monkeypatch.setattr(frontdoor._Guarded, "on_headers_complete", counting)
    return seen


def test_pipelined_requests_wait_at_the_cap_and_are_all_answered(depths: list[int]) -> None:
    with serving(Limits(pipeline=4)) as (port, server, _):
        # 2,000 requests in one write: the server reads them in a few big reads
        assert ask(port, *[head()] * 2_000) == ["200"] * 2_000
        assert server.door.tally.total == {}
    assert len(depths) == 2_000
    assert max(depths) == 4  # never more queued than the cap


def test_a_client_that_reads_none_of_its_answers_is_closed(depths: list[int]) -> None:
    limits = Limits(pipeline=4, write_timeout=0.5)
    with serving(limits) as (port, server, _), Flood(port) as flood:
        flood.pipeline(2)
        assert wait_until(lambda: flood.unread_closed >= 2, seconds=30)
        closed = server.door.tally.total["not reading its answers"]
        assert closed >= 2
    assert max(depths) <= 4
    assert flood.pipelined > len(depths)  # what it sent past the cap was never parsed


def test_a_head_that_never_ends_is_answered_408() -> None:
    with (
        serving() as (port, server, _),
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
    ):
        sock.sendall(b"GET /ok HTTP/1.1\r\n")
        with contextlib.suppress(OSError):  # a slowloris dribble, until the door answers
            for _ in range(100):
                sock.sendall(b"X")
                if server.door.tally.total:
                    break
                time.sleep(0.05)
        assert status_of(sock) == "408"


def test_a_silent_connection_is_closed() -> None:
    with (
        serving() as (port, server, _),
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
    ):
        assert status_of(sock) == "closed"
        assert server.door.tally.total == {}  # nothing to count: it asked nothing


def test_at_the_cap_the_oldest_waiting_connection_makes_room() -> None:
    limits = Limits(connections=4, head_timeout=60)
    with serving(limits) as (port, server, _):
        silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
        try:
            while len(server.door.open) < 4:
                time.sleep(0.01)
            assert ask(port, head()) == ["200"]  # a probe still gets in
            assert status_of(silent[0]) in {"closed", "reset"}  # the oldest made room
            for sock in silent[1:]:
                sock.settimeout(0.2)
                assert status_of(sock) == "silent"  # the others are still open
        finally:
            for sock in silent:
                sock.close()
        assert server.door.tally.total == {"evicted at the connection cap": 1}


def test_at_the_cap_with_every_connection_busy_a_newcomer_gets_503() -> None:
    limits = Limits(connections=2, head_timeout=60)
    with serving(limits) as (port, server, release):
        busy = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        try:
            for sock in busy:
                sock.sendall(head("/busy"))
            while len(server.door.open) < 2 or any(c.waiting() for c in list(server.door.open)):
                time.sleep(0.01)
            assert ask(port, head()) == ["503"]
            release.set()
            assert [status_of(sock) for sock in busy] == ["200", "200"]
        finally:
            for sock in busy:
                sock.close()


def test_what_is_turned_away_is_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "smsops.http")
    limits = Limits(header_fields=10, log_interval=3600)
    with serving(limits) as (port, server, _):
        for _ in range(30):
            assert ask(port, head(fields=20)) == ["431"]
            assert ask(port, b"NOT HTTP\r\n\r\n") == ["400"]
    lines = [r.getMessage() for r in caplog.records if r.name == "smsops.http"]
    # the first at once, the rest in one summary (here: at shutdown, before the hour)
    assert lines == [
        "turned away at the HTTP port: 431: 1",
        "turned away at the HTTP port: 400: 30, 431: 29",
    ]
    assert server.door.tally.total == {"431": 30, "400": 30}


def test_failed_accepts_are_counted_not_reported_as_errors() -> None:
    forwarded: list[dict[str, Any]] = []
    server = FrontDoor(app(threading.Event()), Limits(log_interval=3600))

    async def flood() -> None:
        loop = asyncio.get_running_loop()
        server._previous = lambda _loop, context: forwarded.append(context)
        for _ in range(10_000):  # asyncio reports one per queued connection, every second
            server._loop_error(loop, {"message": ACCEPT_FAILED, "exception": OSError(24, "EMFILE")})
        server._loop_error(loop, {"message": "something else"})
        server.door.tally.close()

    asyncio.run(flood())
    assert forwarded == [{"message": "something else"}]  # the service sees only the rest
    assert server.door.tally.total == {"accept failed (EMFILE)": 10_000}


def test_the_connection_cap_leaves_room_for_provider_connections() -> None:
    limits = Limits(connections=256)
    spare = RESERVED_DESCRIPTORS + BACKLOG
    assert plan_descriptors(limits, 100, 1 << 20) == limits
    assert plan_descriptors(limits, 100, spare + 100 + 256) == limits
    assert plan_descriptors(limits, 100, spare + 100 + 255).connections == 255
    assert plan_descriptors(limits, 100, spare + 100 + MIN_CONNECTIONS).connections == 16
    with pytest.raises(UsageError, match=r"too few file descriptors: the limit is 300") as error:
        plan_descriptors(limits, 100, 300)
    assert "ulimit -n" in str(error.value)
    assert "max_in_flight" in str(error.value)


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip("this machine's hard limit is too low to lower the soft one under it")
    code = (
        "import resource\n"
        "from smsops.core.frontdoor import Limits, fit_descriptors\n"
        "fit_descriptors(Limits(), 10)\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE))"
    )

    def lower_soft() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1000, 1024))

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=lower_soft
    )
    assert result.stdout.strip() == "(1024, 1024)", result.stderr


def test_a_refusal_is_answered_after_the_requests_before_it() -> None:
    """HTTP/1.1 answers in request order: a bad request pipelined behind a busy one is
    refused only once the busy one's answer is out (it was written first, so the
    client took the 400 for the busy request's answer)."""
    bad = b"NOT HTTP AT ALL\r\n\r\n"
    with serving() as (port, server, release):
        threading.Timer(0.3, release.set).start()
        assert ask(port, head("/busy"), head(), bad) == ["200", "200", "400"]
        release.clear()
        threading.Timer(0.3, release.set).start()
        assert ask(port, head("/busy"), head(fields=11)) == ["200", "431"]
        assert server.door.tally.total == {"400": 1, "431": 1}


def test_a_slow_head_behind_a_busy_request_never_cuts_into_its_answer() -> None:
    """A head left unfinished behind a busy request: the busy answer goes out whole,
    and the connection still ends (the idle timeout) instead of waiting forever."""
    limits = Limits(connections=4, head_timeout=0.3, idle_timeout=1)
    with (
        serving(limits) as (port, _, release),
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        sock.settimeout(10)
        sock.sendall(head("/busy") + b"GET /ok HTTP/1.1\r\nHo")
        time.sleep(0.6)  # past head_timeout while /busy is still being served
        release.set()
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(b"\r\n\r\ndone") or b"HTTP/1.1 408" in received.split(b"done", 1)[1]


def test_accepted_connections_send_without_waiting_for_acks() -> None:
    """Nagle's algorithm is off on every admitted connection: asyncio turns it off only for
    sockets that say IPPROTO_TCP, and socket.create_server's say 0, so a keep-alive answer
    written in two parts waited for the client's delayed ACK (40 ms a request)."""
    with serving() as (port, server, _), socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        (protocol,) = list(server.door.open)
        accepted = protocol.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
