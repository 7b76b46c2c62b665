"""The sandbox's outgoing calls (receipts, texts from people), made in the background.

An emulator accepts a message and returns at once; what the provider would
post back afterwards is a job here: a few worker threads post each job's
requests in order, after its delay, each with a short timeout. The queue is
bounded (a job beyond MAX_PENDING is dropped and counted), so a stalled or
dead receiver never blocks the sandbox nor makes it grow: at worst every
worker waits out its timeout while new jobs are dropped.

Loopback only: a URL whose host is not a loopback IP address is refused
(counted, never connected to), redirects are not followed and no proxy from
the environment is used. The sandbox is for this machine; it must never be
a way to make requests elsewhere.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from smsops.providers.emulation import Post

MAX_PENDING = 1000  # jobs waiting or being posted
WORKERS = 4
TIMEOUT = 2.0  # seconds for each request (connect, send, answer)


def loopback(url: str) -> bool:
    """Whether `url` is http(s) to a loopback IP address (127.0.0.0/8, ::1)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range
        host = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host.is_loopback


@dataclass(eq=False)
class Job:
    posts: Sequence[Post]
    done: threading.Event = field(default_factory=threading.Event)


class Poster:
    """Posts jobs from worker threads: `start()`, `submit(...)`, `stop()`."""

    def __init__(
        self, max_pending: int = MAX_PENDING, workers: int = WORKERS, timeout: float = TIMEOUT
    ) -> None:
        self.max_pending, self.timeout = max_pending, timeout
        # Counts: posted (an answer came, any status), failed (no answer: refused
        # connection, timeout), refused (not loopback), dropped (queue full); and answers
        # by status code.
        self.counts: Counter[str] = Counter()
        self.answers: Counter[int] = Counter()
        self._queue: list[tuple[float, int, Job]] = []
        self._busy = 0
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._client = httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
        self._threads = [
            threading.Thread(target=self._work, name=f"smsops-sandbox-post-{n}", daemon=True)
            for n in range(workers)
        ]

    def start(self) -> Poster:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=self.timeout + 1)
        self._client.close()

    def submit(self, posts: Sequence[Post], delay: float = 0.0) -> Job | None:
        """Queue `posts` (posted in order, after `delay` seconds); None when refused or dropped."""
        with self._cond:
            if not all(loopback(post.url) for post in posts):
                self.counts["refused"] += len(posts)
                return None
            if self._closed or len(self._queue) + self._busy >= self.max_pending:
                self.counts["dropped"] += len(posts)
                return None
            job = Job(posts)
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), job))
            self._cond.notify()
            return job

    def clear(self) -> None:
        """Forget the waiting jobs and the counts (jobs being posted finish)."""
        with self._cond:
            for _, _, job in self._queue:
                job.done.set()
            self._queue.clear()
            self.counts.clear()
            self.answers.clear()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._busy

    def stats(self) -> dict[str, object]:
        with self._cond:
            answers = {str(status): n for status, n in sorted(self.answers.items())}
            counts = {
                name: self.counts[name] for name in ("posted", "failed", "refused", "dropped")
            }
            return counts | {"pending": len(self._queue) + self._busy, "answers": answers}

    def _next(self) -> Job | None:
        with self._cond:
            while not self._closed:
                if self._queue:
                    wait = self._queue[0][0] - time.monotonic()
                    if wait <= 0:
                        self._busy += 1
                        return heapq.heappop(self._queue)[2]
                else:
                    wait = None
                self._cond.wait(wait)
            return None

    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                for post in job.posts:
                    self._post(post)
            finally:
                with self._cond:
                    self._busy -= 1
                job.done.set()

    def _post(self, post: Post) -> None:
        status: int | None = None
        try:
            # The answer's status only: its body (any size) is never read.
            with self._client.stream(
                "POST", post.url, content=post.body, headers=dict(post.headers)
            ) as response:
                status = response.status_code
        except Exception:
            status = None
        outcome = "failed" if status is None else "posted"
        with self._cond:
            self.counts[outcome] += 1
            if status is not None:
                self.answers[status] += 1
