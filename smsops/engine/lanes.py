"""Provider lanes: each provider's adapter, in-flight slots and pace, and who shares them.

A provider's `max_in_flight` and `rate_limit` are promises about what *the
provider* sees, so every request to it must pass the same semaphore and the
same `Pacer`, however many rounds send at once. `apply` is one run: its
`Sender` keeps its own lanes. Run mode sends several schedules' rounds in
parallel, so its runner owns one `Lanes` registry that all its senders draw
from.

A lane is keyed by the provider's name and a fingerprint of its settings and
of the secret values they resolve: a reload that changes a provider (another
URL, cap or pace, a rotated token) gets a fresh lane, while rounds still
running with the old generation finish on the old one. The fingerprint is a
hash, so no secret value is kept in a key.

Run mode's registry also carries what records each request's latency and
results (`smsops_provider_request_seconds`, the status page's last hour): a
lane keeps its provider's recorder, so a request costs no label lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence

import httpx

from smsops.config.providers import ProviderBase
from smsops.core.envref import referenced_names
from smsops.engine.pacing import Pacer
from smsops.engine.shared_pacing import SharedPacer
from smsops.ledger.pace import SharedPace
from smsops.providers.base import Adapter, Result
from smsops.providers.registry import adapter_for

# What records one request to a provider: its seconds and its results.
Recorder = Callable[[float, Sequence[Result]], None]


class Lane:
    """One provider: its adapter, its slots, its pace.

    With `shared` (a PostgreSQL ledger's), the pace is the provider's across
    every process on that ledger (`SharedPacer`, keyed by the provider's
    name); `max_in_flight` stays this process's own.
    """

    def __init__(
        self,
        adapter: Adapter,
        observe: Recorder | None = None,
        shared: SharedPace | None = None,
    ) -> None:
        config = adapter.config
        self.adapter = adapter
        # one request's seconds (its answer read) and results (None: not recorded)
        self.observe = observe
        self.max_in_flight = config.max_in_flight
        self.slots = asyncio.Semaphore(config.max_in_flight)
        rate = config.rate_limit.per_second if config.rate_limit else None
        seconds = config.timeout.total_seconds()
        self.pacer: Pacer | SharedPacer | None = None
        if rate and shared is not None:
            self.pacer = SharedPacer(shared, adapter.name, rate, seconds)
        elif rate:
            self.pacer = Pacer(rate)
        self.timeout = httpx.Timeout(seconds).as_dict()
        self.price = config.price()
        # A bulk request never carries more messages than the pace allows per second.
        self.batch = max(1, min(adapter.batch_size, int(rate) if rate else adapter.batch_size))


def fingerprint(config: ProviderBase, env: Mapping[str, str]) -> str:
    """A hash of the provider's settings and of the values its `${env:...}` resolve to."""
    settings = config.model_dump_json(by_alias=True)
    values = [env.get(name, "") for name in referenced_names(settings)]
    digest = hashlib.sha256(settings.encode())
    for value in values:
        digest.update(b"\0" + value.encode())
    return digest.hexdigest()


class Lanes:
    """The lanes every sender of one process shares, keyed by (name, fingerprint).

    Lanes hold asyncio primitives, which belong to one event loop: a registry
    used from a new loop (a test calling `asyncio.run` twice) starts empty.
    Rounds prepare in worker threads (outside any loop) while others send,
    so the registry itself is guarded by a thread lock.
    """

    def __init__(
        self,
        observe: Callable[[str], Recorder] | None = None,
        shared: SharedPace | None = None,
    ) -> None:
        self._observe = observe  # a provider's name -> what records its requests
        self._shared = shared  # the ledger's shared limits (PostgreSQL), else None
        self._lanes: dict[tuple[str, str], Lane] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard = threading.Lock()

    def get(self, name: str, config: ProviderBase, env: Mapping[str, str]) -> Lane:
        key = (name, fingerprint(config, env))
        loop = _running_loop()
        with self._guard:
            if loop is not None and loop is not self._loop:
                self._lanes, self._loop = {}, loop
            lane = self._lanes.get(key)
            if lane is None:
                recorder = self._observe(name) if self._observe is not None else None
                adapter = adapter_for(name, config, env)
                lane = Lane(adapter, recorder, self._shared)
                self._lanes[key] = lane
            return lane

    def keep_only(self, providers: Mapping[str, ProviderBase], env: Mapping[str, str]) -> None:
        """Forget the lanes no provider of the current config uses (rounds keep theirs)."""
        current = {(name, fingerprint(config, env)) for name, config in providers.items()}
        with self._guard:
            self._lanes = {key: lane for key, lane in self._lanes.items() if key in current}

    def __len__(self) -> int:
        return len(self._lanes)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop, or None outside one (a dry run builds lanes to show requests)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
