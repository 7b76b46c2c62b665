"""Shards of an audience: which part of a due occurrence a replica plans and sends.

Several `smsops run` replicas on one PostgreSQL ledger split a due occurrence
into shards (docs/scale-out.md): a recipient belongs to shard
`shard_of(number, shards)`, a stable hash of its normalised (E.164) number,
so every replica, every round and every release of smsops puts a number in
the same shard, and the shards of one count cover the audience exactly once.
The hash is the number's own, not the send key's: the same number keeps its
shard from one occurrence to the next, and from one schedule to another.

The count is the schedule's `shards:`, else `default_shards(rows)` (a
schedule with `limits` is one shard, see `shards_for`): one shard
per `SHARD_ROWS` audience rows, at least one, at most `MAX_SHARDS`. Small
audiences (under twice `SHARD_ROWS`) are one shard: one replica sends them
whole, as a schedule lock would. The rows are counted, not read
(`audience_rows`): the contacts plus the CSV's lines, exclusions not taken
off; the count only sizes the work.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from smsops.config.loader import Config
from smsops.core.snapshots import Snapshot, open_snapshot

# A shard of this many rows is planned in well under a second and sent in
# seconds at the provider rates of docs/benchmarks.md: small enough that K
# replicas share an audience of a few thousand, big enough that a replica's
# units are few.
SHARD_ROWS = 2_000
# Bounds the units of one occurrence (rows of the units table, takes):
# a 1,000,000-row audience is 64 shards of ~15,600.
MAX_SHARDS = 64
_BLOCK = 1 << 20
_counted: dict[tuple[str, int], int] = {}  # (digest, size) -> lines, per process
_counted_lock = threading.Lock()
_COUNTED_KEPT = 256


def shard_of(number: str, shards: int) -> int:
    """The shard of a normalised number among `shards` (0 when there is one)."""
    if shards <= 1:
        return 0
    digest = hashlib.blake2b(number.encode(), digest_size=8).digest()
    return int.from_bytes(digest) % shards


def default_shards(rows: int) -> int:
    """One shard per `SHARD_ROWS` rows (rounded down), between 1 and `MAX_SHARDS`."""
    return max(1, min(MAX_SHARDS, rows // SHARD_ROWS))


def shards_for(config: Config, schedule: str) -> int:
    """The schedule's shard count: its `shards:`, else the default for its audience.

    A schedule with a guardrail (`limits`, its own or the defaults') is one
    shard: its limits judge the plan of the whole occurrence, which no
    holder of a part could.
    """
    found = config.schedules[schedule]
    if any(value is not None for value in config.limits(schedule).model_dump().values()):
        return 1
    if found.shards is not None:
        return found.shards
    return default_shards(audience_rows(config, found.audience))


def audience_rows(config: Config, name: str) -> int:
    """The rows of audience `name`: its contacts and its CSV's lines (header included).

    The CSV is counted from the config's snapshot (what planning reads),
    once per content in this process.
    """
    audience = config.audiences[name]
    rows = len(audience.contacts)
    path = audience.source_path()
    snapshot = config.snapshots.get(path) if path is not None else None
    if snapshot is None:
        return rows
    key = (snapshot.digest, snapshot.size)
    with _counted_lock:
        lines = _counted.get(key)
    if lines is None:
        lines = _lines(snapshot_blocks(snapshot))
        with _counted_lock:
            if len(_counted) >= _COUNTED_KEPT:
                _counted.clear()
            _counted[key] = lines
    return rows + lines


def snapshot_blocks(snapshot: Snapshot) -> Iterator[bytes]:
    """The snapshot's bytes in blocks (its digest checked at the end, see `open_snapshot`)."""
    with open_snapshot(snapshot) as stream:
        while block := stream.read(_BLOCK):
            yield block


def _lines(blocks: Iterable[bytes]) -> int:
    count, last = 0, b"\n"
    for block in blocks:
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")  # a last line without its newline


@dataclass(frozen=True)
class Part:
    """The shards of one occurrence a plan keeps (`PlanOptions.part`).

    `occurrence`: the unit's occurrence label; `LOCAL` for a recipient-local
    schedule, whose occurrences are each recipient's own (all of them kept,
    by shard). Another due occurrence is another unit's: left out. `shards`
    of `count` are kept; members that are no number (skips) are counted by
    the holder of shard 0 only, so K holders count them once.
    """

    occurrence: str
    count: int
    shards: frozenset[int]

    def holds(self, number: str) -> bool:
        """Whether the number is in one of the kept shards."""
        return self.count <= 1 or shard_of(number, self.count) in self.shards

    def covers(self, occurrence: str) -> bool:
        """Whether the occurrence is this unit's (any, for a recipient-local schedule)."""
        return occurrence == self.occurrence or self.occurrence == LOCAL

    @property
    def counts_skips(self) -> bool:
        return 0 in self.shards

    @property
    def whole(self) -> bool:
        return len(self.shards) >= self.count


LOCAL = "*"  # the unit occurrence of a recipient-local schedule (see `Part`)
