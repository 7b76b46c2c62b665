"""The front door: how smsops serves HTTP to whoever can reach its port.

`smsops run` listens on `0.0.0.0:8080` for its probes and metrics (and, next,
for webhooks and an API), so anyone who reaches the port is a client. An
outside review held 1,100 idle connections open (the descriptors ran out and
provider connections failed), dribbled heads a byte at a time, and sent heads
of 2,000,000 header fields (67 MB to 1.45 GB). uvicorn alone bounds none of
that: its keep-alive timeout starts only after a first response,
`limit_concurrency` answers 503 but still accepts and holds every
connection, `h11_max_incomplete_event_size` applies to h11 only (and answers
400), and httptools keeps every header field it is sent. So every limit is
here, in one place (`Limits`, defaults below):

- `connections` (256): inbound connections at once. Past it, the oldest
  connection that is only waiting for a request head (silent, dribbling, or
  idle between keep-alive requests) is closed to make room, so a flood of
  idle connections rotates itself out while a probe, which sends its request
  at once, gets in; if every connection is busy with a request, the newcomer
  gets 503 and is closed.
- `header_fields` (100) and `head_bytes` (16 KiB: request line and header
  fields): past either, 431 (a target longer than `head_bytes`: 414), and
  the connection closes after reading on for `LINGER` seconds, so the client
  reads the answer instead of a reset.
- `head_timeout` (10 s): a request head must be complete this long after the
  connection opens or its first byte arrives; else 408 (or a quiet close if
  nothing came) - slowloris.
- `idle_timeout` (5 s): a keep-alive connection with no new request is closed
  (uvicorn's `timeout_keep_alive`).
- `pipeline` (16): requests queued on one connection behind the one being
  answered. uvicorn parses every request of a read at once and queues each
  (one read holds thousands of small ones), then reads on after every
  answer: an outside review's client sent requests back to back for 3 s and
  never read an answer, and took the server from 72 MB to 1 GB. Here the
  parser is fed only what can complete the requests the queue has room for;
  the rest of the read waits, and reading pauses, until answers make room.
- `write_timeout` (10 s): while the answers are not read (the write buffer is
  over its high-water mark) nothing more is read or parsed; after this long,
  the connection is closed. So one connection holds at most `pipeline`
  request heads, one read (256 KB) and a write buffer at its high-water mark.
- `backlog` (128): the kernel's queue of unaccepted connections, and the most
  that asyncio accepts in one turn of the loop.
- `log_interval` (60 s): what the door turns away (by reason) and failed
  accepts are logged as one summary line per interval, never a line each: a
  flood of bad requests must not become a flood of log lines. asyncio reports
  a failed `accept()` (EMFILE) once per queued connection each second; those
  reports are counted here and never reach the service's error handler (they
  are not a job failure, and must not leave /healthz degraded).

Descriptors: `fit_descriptors` raises the soft RLIMIT_NOFILE to the hard one
and checks that `connections + backlog + outbound + RESERVED_DESCRIPTORS` fit,
lowering `connections` if needed, so inbound connections can never take the
descriptors that provider connections, the ledger and the config need.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import resource
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from smsops.core.errors import UsageError

MAX_CONNECTIONS = 256
MAX_HEADER_FIELDS = 100  # Apache's LimitRequestFields; a probe sends under 10
MAX_HEAD_BYTES = 16 * 1024  # h11's default for a whole head; nginx's buffer is 8-32 KiB
HEAD_TIMEOUT = 10.0  # seconds; nginx's client_header_timeout is 60 s, probes send at once
IDLE_TIMEOUT = 5  # seconds (uvicorn's keep-alive default; it takes whole seconds)
BACKLOG = 128
MAX_PIPELINE = 16  # requests queued on one connection behind the one being answered
WRITE_TIMEOUT = 10.0  # seconds a client may leave its answers unread (see `_Guarded`)
LOG_INTERVAL = 60.0  # seconds between two summaries of what was turned away
MIN_REQUEST = 16  # bytes: no request is shorter ("GET / HTTP/1.1\r\n\r\n" is 18)
LINGER = 1.0  # seconds a refused client may go on sending while it is read and dropped
# Descriptors kept for everything that is not a connection: the ledger, the config
# and CSV files a reload reads, snapshots, logs, the event loop's own.
RESERVED_DESCRIPTORS = 64
MIN_CONNECTIONS = 16  # fewer and a probe may wait on a handful of idle sockets

log = logging.getLogger("smsops.http")
ACCEPT_FAILED = "socket.accept() out of system resource"  # asyncio's message


@dataclass(frozen=True)
class Limits:
    connections: int = MAX_CONNECTIONS
    header_fields: int = MAX_HEADER_FIELDS
    head_bytes: int = MAX_HEAD_BYTES
    head_timeout: float = HEAD_TIMEOUT
    idle_timeout: int = IDLE_TIMEOUT
    backlog: int = BACKLOG
    log_interval: float = LOG_INTERVAL
    pipeline: int = MAX_PIPELINE
    write_timeout: float = WRITE_TIMEOUT


class Tally:
    """What was turned away, by reason: logged at most once per `interval`, as one line."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.total: Counter[str] = Counter()  # since start (tests, metrics)
        self.pending: Counter[str] = Counter()  # not logged yet
        self.logged_at = -interval
        self._timer: asyncio.TimerHandle | None = None

    def add(self, reason: str) -> None:
        self.total[reason] += 1
        self.pending[reason] += 1
        wait = self.logged_at + self.interval - self.clock()
        if wait <= 0:
            self.flush()
        elif self._timer is None:  # what comes until then is logged then, not lost
            with contextlib.suppress(RuntimeError):  # no loop: the next add or close logs it
                self._timer = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        self._timer = None
        if self.pending:
            counts = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.pending.items()))
            log.warning("turned away at the HTTP port: %s", counts, extra=dict(self.pending))
            self.pending.clear()
            self.logged_at = self.clock()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.flush()


class Door:
    """What every connection of one server shares: its limits, who is open, the tally."""

    def __init__(self, limits: Limits, on_turn_away: Callable[[str], None] | None = None) -> None:
        self.limits = limits
        self.tally = Tally(limits.log_interval)
        self.open: dict[_Guarded, None] = {}  # admitted connections, oldest first
        self.on_turn_away = on_turn_away

    def turn_away(self, reason: str) -> None:
        self.tally.add(reason)
        if self.on_turn_away is not None:
            self.on_turn_away(reason)

    def make_room(self) -> bool:
        """Close the oldest connection that only waits for a head; False if all are busy."""
        for connection in self.open:
            if connection.waiting():
                connection.evict()
                return True
        return False


class _Refused(Exception):
    """Raised inside the parser's callbacks: it stops the parser at once."""

    def __init__(self, status: int) -> None:
        self.status = status


def _answer(status: int) -> bytes:
    phrase = http.HTTPStatus(status).phrase
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(phrase) + 1}\r\nconnection: close\r\n\r\n{phrase}\n"
    ).encode("ascii")


class _Flow(FlowControl):
    """uvicorn's flow control, except that reading resumes only when the door lets it.

    uvicorn resumes reading after every answer and whenever a request asks
    for its body, even while requests wait queued or answers go unread.
    """

    def __init__(self, transport: asyncio.Transport, holding: Callable[[], bool]) -> None:
        super().__init__(transport)
        self.holding = holding

    def resume_reading(self) -> None:
        if not self.holding():
            super().resume_reading()


def _no_delay(transport: asyncio.Transport) -> None:
    """Turn off Nagle's algorithm on an accepted TCP connection.

    asyncio does it only for a socket whose `proto` is IPPROTO_TCP, and the
    sockets `socket.create_server` makes (ours, `listening_socket`) say 0; so
    an answer written in two parts (head, then body) on a keep-alive
    connection waited for the client's delayed ACK: 40 ms for every request
    after a connection's first (bench/api_latency.py found it).
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # closed already: nothing to speed up
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Guarded(HttpToolsProtocol):
    """uvicorn's httptools protocol with the door's limits around its parser callbacks."""

    door: ClassVar[Door]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admitted = False
        self._draining = False  # refused: what still comes is read and dropped
        self._refusal: int | None = None  # a refusal waiting for earlier requests' answers
        self._in_head = True  # the next bytes belong to a request head
        self._head_bytes = 0  # received while in a head (whole reads: at most one read under)
        self._seen = 0  # bytes of the current head as the parser reported it (exact)
        self._fields = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._got_bytes = False  # any byte of the current head arrived
        self._unparsed = memoryview(b"")  # read, not parsed yet (at most about one read)
        self._held = False  # the door paused reading
        self._write_timer: asyncio.TimerHandle | None = None

    # --- connections ------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        door = self.door
        if len(self.connections) >= door.limits.connections and not door.make_room():
            door.turn_away("busy (503)")
            self.transport = transport
            transport.write(_answer(503))
            transport.close()
            return
        super().connection_made(transport)
        _no_delay(transport)
        self.flow = _Flow(transport, self.holding)
        self._admitted = True
        door.open[self] = None
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self.door.open.pop(self, None)
        self._cancel_head_timer()
        self._cancel_write_timer()
        super().connection_lost(exc)
        self._unparsed = memoryview(b"")  # what it held goes now, not when it is collected
        self.pipeline.clear()

    def waiting(self) -> bool:
        """Waiting for a request head or for its client to read: closing it loses nothing."""
        idle = (self.cycle is None or self.cycle.response_complete) and not self.pipeline
        return self._draining or idle or self.flow.write_paused

    def evict(self) -> None:
        self.door.open.pop(self, None)
        self.door.turn_away("evicted at the connection cap")
        self._cancel_head_timer()
        self.transport.abort()  # frees the descriptor now, not after a goodbye

    # --- heads ------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.door.limits.head_timeout, self._head_late)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._got_bytes:
            self.refuse(408)  # slowloris: bytes come, a head never does
        else:
            self.transport.close()  # nothing came at all: nothing to answer

    def answering(self) -> bool:
        """An earlier request of this connection is still being served or waits in the queue."""
        busy = self.cycle is not None and not self.cycle.response_complete
        return busy or bool(self.pipeline)

    def refuse(self, status: int) -> None:
        """Answer `status`, stop serving this connection, read and drop what follows a while.

        HTTP/1.1 answers in request order, so a refusal of a request pipelined
        behind others waits for their answers (on_response_complete writes it):
        written at once, the client would take it for the earlier request's
        answer, or find it in the middle of one. They are bounded (`pipeline`).
        """
        self.door.turn_away(str(status))
        self._cancel_head_timer()
        self._draining = True
        if self.transport.is_closing():
            return
        if self.answering():
            self._refusal = status
            return
        self._write_refusal(status)

    def _write_refusal(self, status: int) -> None:
        self.transport.write(_answer(status))
        # Closing while the client still sends would reset the connection before
        # it reads the answer; closing after LINGER seconds of dropping lets it.
        self.loop.call_later(LINGER, self.transport.close)

    # --- reading: what one connection can make the server hold ------------
    def holding(self) -> bool:
        """Reading waits: bytes not parsed yet, the queue full, or answers not read."""
        full = len(self.pipeline) >= self.door.limits.pipeline
        return bool(self._unparsed) or full or self.flow.write_paused

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return
        # Reading is paused while bytes wait, so this joins nothing but a late read.
        self._unparsed = memoryview(bytes(self._unparsed) + data if self._unparsed else data)
        self._feed()

    def _feed(self) -> None:
        """Parse what was read, a slice at a time, while the queue has room and answers go out.

        One read can hold thousands of requests, and the parser queues every
        request it completes, so a slice is cut to complete at most `room` of
        them: each request is at least MIN_REQUEST bytes (one more may end in
        the slice, begun in the one before). What is left waits, unparsed and
        at most one read, with reading paused, until answers make room.
        """
        while self._unparsed and not self._draining and self.parser is not None:
            room = self.door.limits.pipeline - len(self.pipeline)
            if room <= 0 or self.flow.write_paused:
                self._hold()
                return
            self._unset_keepalive_if_required()
            chunk = self._unparsed[: room * MIN_REQUEST]
            self._unparsed = self._unparsed[len(chunk) :]
            if self._in_head:
                self._got_bytes = True
                self._head_bytes += len(chunk)
                self._arm_head_timer()
            try:
                self.parser.feed_data(chunk)
            except httptools.HttpParserUpgrade:
                pass  # no upgrades served: the request is answered as plain HTTP
            except httptools.HttpParserError as exc:
                refused = exc.__context__
                self.refuse(refused.status if isinstance(refused, _Refused) else 400)
                return
            if self._in_head and self._head_bytes > self.door.limits.head_bytes:
                self.refuse(431)  # one field longer than the limit, still arriving
        if self._held and not self.holding():
            self._held = False
            self.flow.resume_reading()

    def _hold(self) -> None:
        # The wait is the server's (or the unread answers'), not a slow head's.
        self._cancel_head_timer()
        self._held = True
        self.flow.pause_reading()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the next queued request: room for one more
        if self._refusal is not None and not self.answering():
            status, self._refusal = self._refusal, None
            if not self.transport.is_closing():
                self._write_refusal(status)
            return
        self._feed()

    def pause_writing(self) -> None:
        """The write buffer is over its high-water mark: the client does not read its answers."""
        super().pause_writing()
        self._hold()
        if self._write_timer is None:
            timeout = self.door.limits.write_timeout
            self._write_timer = self.loop.call_later(timeout, self._not_reading)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_write_timer()
        self._feed()

    def _cancel_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _not_reading(self) -> None:
        self._write_timer = None
        if not self.transport.is_closing():
            self.door.turn_away("not reading its answers")
            self.transport.abort()  # what it did not read it never will: no goodbye

    def on_message_begin(self) -> None:
        self._seen = self._fields = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._seen += len(url)
        if self._seen > self.door.limits.head_bytes:
            raise _Refused(414)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        limits = self.door.limits
        self._fields += 1
        self._seen += len(name) + len(value) + 4
        if self._fields > limits.header_fields or self._seen > limits.head_bytes:
            raise _Refused(431)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = self._got_bytes = False
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()


class FrontDoor(uvicorn.Server):
    """A uvicorn server behind the door: `FrontDoor(app, Limits()).serve(sockets=[sock])`.

    It leaves signals to its owner (the daemon's service stops it with
    `should_exit`).
    """

    def __init__(
        self,
        app: Any,
        limits: Limits,
        *,
        on_turn_away: Callable[[str], None] | None = None,
        log_level: str = "warning",
    ) -> None:
        self.door = Door(limits, on_turn_away)
        protocol = type("FrontDoorProtocol", (_Guarded,), {"door": self.door})
        config = uvicorn.Config(
            app,
            http=protocol,
            ws="none",
            lifespan="off",
            log_level=log_level,
            log_config=None,  # its lines go through the owner's handlers
            access_log=False,
            backlog=limits.backlog,
            timeout_keep_alive=limits.idle_timeout,
            limit_concurrency=None,  # the door's cap, which also frees descriptors
            # uvicorn would take X-Forwarded-For from any loopback peer as the client: a
            # local process could then pose as any address to the failed-auth limit. The
            # run server reads it itself, from the proxies its config trusts only.
            proxy_headers=False,
        )
        super().__init__(config)
        self._previous: Any = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_error)
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        asyncio.get_running_loop().set_exception_handler(self._previous)
        self.door.tally.close()

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Failed accepts are counted; anything else goes where it went before."""
        if context.get("message") == ACCEPT_FAILED:
            error = context.get("exception")
            reason = getattr(error, "strerror", None) or type(error).__name__
            self.door.turn_away(f"accept failed ({reason})")
        elif self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)


def fit_descriptors(limits: Limits, outbound: int) -> Limits:
    """`limits` with a connection cap that leaves room for `outbound` connections and files.

    Raises the soft RLIMIT_NOFILE to the hard limit first; a UsageError when
    even MIN_CONNECTIONS do not fit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return plan_descriptors(limits, outbound, soft)


def plan_descriptors(limits: Limits, outbound: int, available: int) -> Limits:
    """The connection cap that fits in `available` descriptors (see `fit_descriptors`)."""
    if available == resource.RLIM_INFINITY:
        return limits
    room = available - RESERVED_DESCRIPTORS - limits.backlog - outbound
    if room >= limits.connections:
        return limits
    if room >= MIN_CONNECTIONS:
        log.warning(
            "at most %d inbound HTTP connections (not %d): the descriptor limit is %d "
            "and provider connections may take %d",
            room,
            limits.connections,
            available,
            outbound,
        )
        return replace(limits, connections=room)
    need = RESERVED_DESCRIPTORS + limits.backlog + outbound + MIN_CONNECTIONS
    raise UsageError(
        f"too few file descriptors: the limit is {available}, and smsops run needs "
        f"{need} ({outbound} provider connections at most - the schedules' providers' "
        f"max_in_flight -, {MIN_CONNECTIONS} HTTP connections and {limits.backlog} queued, "
        f"{RESERVED_DESCRIPTORS} for files); raise it (ulimit -n, docker run --ulimit "
        "nofile=N:N) or lower max_in_flight"
    )
