"""Hostile clients of an HTTP port, for the front door's tests and bench/frontdoor.py.

Each flood is what the outside review aimed at `smsops run`'s probe port:
idle connections held open (and reopened when the server closes them),
slowloris heads dribbled a byte at a time, and requests whose head never
ends — millions of header fields, or one enormous field. Each runs in its own
thread on blocking loopback sockets until `stop()`, and counts what the
server answered, so a test can say what the door did as well as that the
daemon lived. Loopback only.
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

HEAD = b"GET /healthz HTTP/1.1\r\nHost: smsops\r\n"


def readable(sock: socket.socket) -> bool:
    poll = select.poll()  # not select(): descriptors past 1,024
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


def status_of(sock: socket.socket) -> str:
    """The status code the server answered on `sock`, or `closed` / `reset` / `silent`."""
    try:
        first = sock.recv(64)
    except TimeoutError:
        return "silent"
    except OSError:
        return "reset"
    if not first:
        return "closed"
    parts = first.split(b" ", 2)
    return parts[1].decode("ascii", "replace") if len(parts) > 1 else "garbage"


def request_head(host: str, port: int, chunks: Iterator[bytes], timeout: float = 10) -> str:
    """Send a head chunk by chunk (as far as the server lets it) and return the answer."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        # no TIME_WAIT left behind by thousands of these in the benchmark
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):  # the server may stop reading and close first
            for chunk in chunks:
                if readable(sock):
                    break  # answered already: the rest would only be dropped
                sock.sendall(chunk)
        return status_of(sock)


def many_fields(count: int, batch: int = 20_000) -> Iterator[bytes]:
    """A head of `count` small header fields, never finished (a server must stop it first)."""
    yield HEAD
    line = b"X-Flood: 1\r\n"
    for start in range(0, count, batch):
        yield line * min(batch, count - start)
    yield b"\r\n"


def one_huge_field(size: int, piece: int = 1 << 20) -> Iterator[bytes]:
    """A head with one header field of `size` bytes."""
    yield HEAD + b"X-Flood: "
    for start in range(0, size, piece):
        yield b"a" * min(piece, size - start)
    yield b"\r\n\r\n"


@dataclass
class Flood:
    """Floods in background threads: `with Flood(port) as flood: flood.idle(1100) ...`."""

    port: int
    host: str = "127.0.0.1"
    answers: Counter[str] = field(default_factory=Counter)  # what oversized heads got
    reopened: int = 0  # idle connections the server closed (and we opened again)
    pipelined_bytes: int = 0  # sent by `pipeline`
    unread_closed: int = 0  # `pipeline` connections the server closed
    refused: int = 0  # connections that could not be opened at all
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _start(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _connect(self) -> socket.socket | None:
        try:
            return socket.create_connection((self.host, self.port), timeout=2)
        except OSError:
            with self._lock:
                self.refused += 1
            return None

    def idle(self, connections: int) -> None:
        """Hold `connections` silent connections open, reopening each one the server closes."""

        def hold() -> None:
            held = selectors.DefaultSelector()  # select() stops at descriptor 1,024
            while not self._stop.is_set():
                while len(held.get_map()) < connections and not self._stop.is_set():
                    sock = self._connect()
                    if sock is None:
                        self._stop.wait(0.05)
                        break
                    held.register(sock, selectors.EVENT_READ)
                for key, _ in held.select(0.05):  # readable: the server closed it
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    held.unregister(sock)
                    sock.close()
                    with self._lock:
                        self.reopened += 1
            for key in list(held.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            held.close()

        self._start(hold)

    def slowloris(self, connections: int, every: float = 0.1) -> None:
        """`connections` heads that never end: one more header byte each `every` seconds."""

        def dribble() -> None:
            held: list[socket.socket] = []
            while not self._stop.is_set():
                while len(held) < connections and not self._stop.is_set():
                    sock = self._connect()
                    if sock is None:
                        break
                    try:
                        sock.sendall(HEAD)
                    except OSError:
                        sock.close()
                        break
                    held.append(sock)
                for sock in list(held):
                    try:
                        sock.sendall(b"X")
                    except OSError:  # the server gave up on it: open another
                        sock.close()
                        held.remove(sock)
                        with self._lock:
                            self.reopened += 1
                self._stop.wait(every)
            for sock in held:
                sock.close()

        self._start(dribble)

    def heads(self, requests: int, make: Callable[[], Iterator[bytes]], parallel: int = 1) -> None:
        """`requests` oversized heads from `make()` in all, `parallel` at a time."""
        left = iter(range(requests))

        def send() -> None:
            for _ in left:
                if self._stop.is_set():
                    return
                try:
                    answer = request_head(self.host, self.port, make())
                except OSError:
                    answer = "refused"
                with self._lock:
                    self.answers[answer] += 1

        for _ in range(parallel):
            self._start(send)

    def pipeline(self, connections: int, batch: int = 2_000) -> None:
        """`connections` connections sending requests back to back, never reading an answer."""
        request = HEAD + b"\r\n"
        requests = request * batch

        def send() -> None:
            while not self._stop.is_set():
                sock = self._connect()
                if sock is None:
                    self._stop.wait(0.05)
                    continue
                with sock:
                    sock.settimeout(0.1)  # blocked by a server that stopped reading: look at stop
                    at = 0
                    while not self._stop.is_set():
                        try:
                            sent = sock.send(requests[at:])
                        except TimeoutError:
                            continue
                        except OSError:  # closed by the server
                            with self._lock:
                                self.unread_closed += 1
                            break
                        with self._lock:
                            self.pipelined_bytes += sent
                        at = (at + sent) % len(requests)

        for _ in range(connections):
            self._start(send)

    @property
    def pipelined(self) -> int:
        """Requests sent by `pipeline` (as far as the server took them)."""
        return self.pipelined_bytes // len(HEAD + b"\r\n")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def __enter__(self) -> Flood:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pipelined_and_read(port: int, count: int, host: str = "127.0.0.1") -> int:
    """Send `count` requests back to back on one connection while reading; the 200s read."""
    status = b"HTTP/1.1 200 "
    with socket.create_connection((host, port), timeout=10) as sock:
        sender = threading.Thread(target=sock.sendall, args=((HEAD + b"\r\n") * count,))
        sender.start()
        answered, tail = 0, b""
        while answered < count:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            seen = tail + chunk
            answered += seen.count(status)
            tail = seen[-(len(status) - 1) :]  # a status line cut between two reads
        sender.join()
    return answered


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB (Linux)."""
    return rss_mb(pid, "VmHWM")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """The process's resident set now (or another /proc/PID/status field), in MB (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/PID/status")


def descriptors(pid: int) -> int:
    """How many file descriptors the process holds now (Linux)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
