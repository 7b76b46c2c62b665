"""Whether a send's window is still open: now, or when its retry would start.

A send's window closes at `Send.closes` (None: it has none), by the
sender's clock (run mode: the daemon's; `apply --at T`: one running on from
T). The sender asks here before a send spends a turn of the pace, after its
claim commits, before a retry or a failover goes, and when a result comes
back. A claimed send whose retry would start after the close is remembered
in `closed_in_retry`, so its result is settled `expired`, not retried and
not failed over. Nothing is sent after the close.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TypeVar

from smsops.engine.clock import Clock
from smsops.engine.plan import Send

_T = TypeVar("_T")


class Windows:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.closed_in_retry: set[str] = set()  # keys of claimed sends not to be retried

    def closed(self, send: Send) -> bool:
        """Whether the send's window closed (or closes before its retry would start)."""
        if send.key in self.closed_in_retry:
            return True
        return send.closes is not None and send.closes <= self.clock.now()

    def split(self, sends: Sequence[Send]) -> tuple[list[Send], list[Send]]:
        """`sends` whose window is open now, and those whose window has closed."""
        if all(s.closes is None for s in sends):  # no window (most sends): no clock to read
            return list(sends), []
        now = self.clock.now()
        closed = [s for s in sends if s.closes is not None and s.closes <= now]
        if not closed:
            return list(sends), []
        return [s for s in sends if s.closes is None or s.closes > now], closed

    def closes_within(self, sends: Sequence[Send], seconds: float) -> bool:
        """Whether any send's window closes within `seconds` from now."""
        if seconds <= 0:
            return False
        now = self.clock.now()
        return any(
            s.closes is not None and (s.closes - now).total_seconds() <= seconds for s in sends
        )

    def open_at(
        self, sends: Sequence[Send], retry: list[tuple[int, _T]], delay: float
    ) -> list[tuple[int, _T]]:
        """The retries (index into `sends`, result) whose window is open `delay` from now.

        The others are kept in `closed_in_retry`: settled `expired`, not retried.
        """
        starts = self.clock.now() + timedelta(seconds=delay)
        still_open = []
        for index, result in retry:
            closes = sends[index].closes
            if closes is not None and closes <= starts:
                self.closed_in_retry.add(sends[index].key)
            else:
                still_open.append((index, result))
        return still_open

    def not_closed(self, sends: Sequence[Send]) -> list[Send]:
        """Claimed `sends` still inside their window; the others are kept for `expired`."""
        late = {send.key for send in sends if self.closed(send)}
        self.closed_in_retry.update(late)
        return [send for send in sends if send.key not in late]

    def settled(self, key: str) -> None:
        """The send's result is written: nothing more to remember of it."""
        self.closed_in_retry.discard(key)
