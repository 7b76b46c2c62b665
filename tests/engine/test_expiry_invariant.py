"""The promise as a test: every due send of a closed occurrence is accounted for, none late.

Several schedules share one slow provider (a fake clock: each request
"takes" seconds by moving it) whose windows are shorter than their rounds
take; some requests answer 503 with Retry-After (one near a close); some
recipients are skipped
with reasons; one schedule is never reached by a round (its previous round
was still sending). After the windows close and a catch-up round, for every
closed occurrence: sent + failed + uncertain + expired + skipped = the
audience, nothing left pending, and no request went out after its close.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from smsops.core.expiry import ExpiryReason
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.engine.round import Round, RoundHooks
from smsops.ledger.base import Ledger, Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.sqlite import SqliteLedger
from smsops.schedule.occurrences import closed_between, occurrence_label, window_closes
from tests.fakeclock import FakeClock

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ENV = {"OT": "ot-jwt"}
SCHEDULES = ("first", "second", "unreached")
VALID = 24
AUDIENCE = VALID + 3  # two invalid numbers and one duplicate are skipped
REQUEST_TAKES = timedelta(seconds=4)


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    opened = SqliteLedger(tmp_path / "l.sqlite")
    yield opened
    opened.close()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    rows = [f"+4474{i:08d},P{i}" for i in range(VALID)]
    rows += ["12345,Bad", "not-a-number,Worse", f"+4474{0:08d},Again"]
    (tmp_path / "people.csv").write_text("phone,name\n" + "\n".join(rows) + "\n")
    schedules = "".join(
        f"  {name}:\n    template: {name}\n    audience: people\n    provider: ot\n"
        "    trigger: {cron: '0 9 * * *', timezone: UTC}\n    window: 1m\n"
        for name in SCHEDULES
    )
    templates = "".join(
        f"  {name}: {{category: transactional, body: 'Hi {{{{ name }}}} ({name})'}}\n"
        for name in SCHEDULES
    )
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234', max_in_flight: 1}\n"
        f"templates:\n{templates}"
        "audiences:\n  people: {source: people.csv}\n"
        f"schedules:\n{schedules}"
    )
    return tmp_path


class SlowProvider:
    """Each request takes REQUEST_TAKES of fake time; every 7th answers 503, Retry-After: 5.

    One request at a time (`max_in_flight: 1`): the fake clock moves per
    request, so two in flight would look as if the second left after the first
    came back.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.requests = 0
        self.made: list[tuple[str, datetime]] = []  # (schedule, when it went out)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["message"]
        self.made.append((text.rsplit("(", 1)[1].rstrip(")"), self.clock.now()))
        self.clock.advance(REQUEST_TAKES)
        self.requests += 1
        if self.requests % 7 == 0:
            return httpx.Response(503, headers={"Retry-After": "5"}, json={})
        return httpx.Response(201, json={"success": True, "payload": {"uuid": "u", "state": "x"}})


def test_every_due_send_of_a_closed_occurrence_is_accounted_for(
    config_dir: Path, ledger: Ledger
) -> None:
    config = load_project(config_dir)
    clock = FakeClock(AT)
    provider = SlowProvider(clock)
    transport = httpx.MockTransport(provider)

    def round_() -> Round:
        return Round(config, ledger, ENV, RoundHooks(), clock=clock, transport=transport)

    # The fire: a round for two schedules; the third is not reached in its window.
    first = asyncio.run(round_().run(AT, ["first", "second"]))
    assert first is not None
    assert clock.now() > AT + timedelta(minutes=1)  # the round outlasted the window
    # Later: the windows have closed; a catch-up round records what no round reached.
    later = AT + timedelta(minutes=5)
    clock.advance(later - clock.now())
    made_before = len(provider.made)
    overdue = {
        name: [(fire, ExpiryReason.NOT_REACHED) for fire in closed_between(s, AT, later)]
        for name, s in config.schedules.items()
    }
    assert all(len(fires) == 1 for fires in overdue.values())
    catch_up = asyncio.run(round_().run(later, None, overdue))
    assert catch_up is not None
    assert len(provider.made) == made_before  # a catch-up sends nothing

    label = occurrence_label(AT)
    reasons: Counter[tuple[str, str | None]] = Counter()
    for name in SCHEDULES:
        rows = [r for r in ledger.records(name) if r.occurrence == label]
        counts = Counter(r.status for r in rows)
        reasons.update((name, r.error) for r in rows if r.status is Status.EXPIRED)
        closes = window_closes(config.schedules[name], label)
        assert closes is not None
        before_close = make_plan(
            config,
            MemoryLedger(),
            closes - timedelta(microseconds=1),
            lambda _: False,
            PlanOptions(only=[name]),
        )
        skipped = before_close.schedules[0].skipped
        assert skipped == AUDIENCE - VALID  # skipped with their reasons
        accounted = sum(counts[s] for s in (Status.SENT, Status.FAILED, Status.UNCERTAIN))
        accounted += counts[Status.EXPIRED] + skipped
        assert accounted == AUDIENCE, (name, counts)
        assert counts[Status.PENDING] == 0
        # no request went out after its window closed
        late = [when for schedule, when in provider.made if schedule == name and when >= closes]
        assert late == []
    # every reason showed up where it should, and each is what the report said
    assert reasons[("unreached", ExpiryReason.NOT_REACHED.value)] == VALID
    assert reasons[("first", ExpiryReason.SENDING.value)] > 0
    faults = ExpiryReason.FAULTS.value
    assert sum(n for (_, why), n in reasons.items() if why == faults) > 0
    assert first.expired + catch_up.expired == sum(reasons.values())
    assert catch_up.expired_by[("unreached", label, ExpiryReason.NOT_REACHED)] == VALID
