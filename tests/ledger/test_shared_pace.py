"""The shared limit in PostgreSQL (ledger/postgres_pace.py): many takers, a dying one.

Takers are threads on several ledger handles (each its own pool, as replicas
are). Each marks the moment it "sends" somewhere between its grant and its
report of the answer, as a provider stamps a request somewhere between its
being sent and its answer; the sandbox's own window counter
(`busiest_second`) then judges the marks: never more than the limit in any
one second.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

from smsops.ledger.pace import Pace
from smsops.ledger.postgres import PostgresLedger
from smsops.sandbox.state import busiest_second
from tests.daemon.daemon import until
from tests.leases import short_lease_env

LIMIT = 100
PACE = Pace("ot", 1 / (LIMIT * 0.98), LIMIT, 10.0)


def taker(ledger: PostgresLedger, want: int, marks: list[float], seed: int) -> None:
    """Take slots for requests of 1-3 messages until `want` messages went; mark each send."""
    pick = random.Random(seed)
    sent = 0
    while sent < want:
        messages, reserved = pick.randint(1, 3), False
        while True:
            taken = ledger.take(PACE, messages, reserved)
            if taken.hold is not None:
                break
            reserved = True
            time.sleep(taken.wait)
        # The request on its way, stamped, its answer on its way: mostly quick, at times
        # slow (a stalled loop, a slow network), which bunches stamps that were spaced.
        slow = pick.random() < 0.2
        time.sleep(pick.uniform(0.1, 0.3) if slow else pick.uniform(0, 0.02))
        marks.extend([time.monotonic()] * messages)
        time.sleep(pick.uniform(0, 0.02))
        ledger.answered(taken.hold)
        sent += messages


def test_many_concurrent_takers_never_exceed_the_limit_in_any_second(postgres_db: str) -> None:
    replicas = [PostgresLedger(postgres_db) for _ in range(3)]
    marks: list[float] = []
    try:
        threads = [
            threading.Thread(target=taker, args=(replicas[i % 3], 25, marks, i)) for i in range(9)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for ledger in replicas:
            ledger.close()
    assert len(marks) >= 9 * 25  # over 2 s of sending: several full windows
    assert busiest_second(marks) <= LIMIT
    assert busiest_second(marks) >= LIMIT // 2  # the limit was used, not starved


DIES = """
import sys, time
from smsops.ledger.pace import Pace
from smsops.ledger.postgres import PostgresLedger
ledger = PostgresLedger(sys.argv[1])
taken = ledger.take(Pace("ot", 0.001, 100, float(sys.argv[2])), 100, False)
print(taken.hold, flush=True)
time.sleep(60)
"""


def test_a_replica_killed_with_requests_in_flight_gives_its_slots_back_at_their_lapse(
    postgres_db: str,
) -> None:
    lapse = 1.0  # the provider's timeout and a second: how long an unanswered request counts
    dying = subprocess.Popen(
        [sys.executable, "-c", DIES, postgres_db, str(lapse)],
        stdout=subprocess.PIPE,
        env=short_lease_env(),
    )
    other = PostgresLedger(postgres_db)
    try:
        assert dying.stdout is not None
        assert dying.stdout.readline().strip().isdigit()  # granted the whole second's limit
        dying.kill()  # kill -9 mid-request: it never reports an answer
        dying.wait()
        pace = Pace("ot", 0.001, 100, lapse)
        refused = other.take(pace, 1, reserved=True)
        assert refused.hold is None  # its requests may still reach the provider
        until(lambda: other.take(pace, 1, True).hold is not None, seconds=10)
        held = other.take(pace, 99, True)  # the whole limit is back, not a part of it
        assert held.hold is not None
    finally:
        dying.kill()
        dying.wait()
        if dying.stdout is not None:
            dying.stdout.close()
        other.close()
