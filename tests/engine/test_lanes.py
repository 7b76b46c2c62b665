"""Provider lanes shared by rounds: one cap per provider, a new lane when it changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from smsops.config.loader import Config
from smsops.engine.apply import ApplyOptions, Sender
from smsops.engine.lanes import Lanes, fingerprint
from smsops.engine.plan import Send
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger
from tests.apply.test_sender import AT

SECRET = "jwt-lane-secret-value"


def write(root: Path, cap: int = 3, url: str = "http://ot.test") -> Config:
    people = ", ".join(f"{{phone: '+4474001{i:05d}'}}" for i in range(12))
    (root / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{url}', token: '${{env:OT}}', "
        f"from: '+12017771234', max_in_flight: {cap}}}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        f"audiences:\n  a: {{contacts: [{people}]}}\n"
        "schedules:\n"
        "  one: {template: t, audience: a, provider: ot}\n"
        "  two: {template: t, audience: a, provider: ot}\n"
    )
    return load_project(root)


def test_a_lane_is_kept_while_its_provider_is_the_same_and_renewed_when_it_changes(
    tmp_path: Path,
) -> None:
    lanes = Lanes()
    env = {"OT": SECRET}
    first = write(tmp_path).providers["ot"]
    lane = lanes.get("ot", first, env)
    assert lanes.get("ot", write(tmp_path).providers["ot"], env) is lane  # a reload, unchanged
    assert lanes.get("ot", first, {"OT": "rotated"}) is not lane  # another token
    wider = write(tmp_path, cap=5).providers["ot"]
    assert lanes.get("ot", wider, env).max_in_flight == 5  # another cap
    lanes.keep_only({"ot": wider}, env)
    assert len(lanes) == 1  # the lanes of the old settings are gone
    assert SECRET not in fingerprint(first, env)  # a hash, never the value


def test_rounds_sharing_lanes_share_the_providers_in_flight_cap(tmp_path: Path) -> None:
    config = write(tmp_path, cap=3)
    ledger = MemoryLedger()
    wire = {"open": 0, "peak": 0}

    async def handle(request: httpx.Request) -> httpx.Response:
        wire["open"] += 1
        wire["peak"] = max(wire["peak"], wire["open"])
        await asyncio.sleep(0.02)
        wire["open"] -= 1
        return httpx.Response(201, json={"success": True, "payload": {"uuid": "u", "state": "x"}})

    def sender_of(schedule: str, lanes: Lanes | None) -> tuple[Sender, list[Send]]:
        options = PlanOptions(only=[schedule], keep_sends=True)
        plan = make_plan(config, ledger, AT, lambda _: False, options)
        sender = Sender(
            config,
            ledger,
            {"OT": SECRET},
            ApplyOptions(claimed_by="h:1:r"),
            transport=httpx.MockTransport(handle),
            shared=lanes,
        )
        return sender, list(plan.sends)

    async def two_rounds(lanes: Lanes | None) -> int:
        wire["peak"] = 0
        senders = [sender_of(name, lanes) for name in ("one", "two")]
        reports = await asyncio.gather(*(s.run(sends) for s, sends in senders))
        assert [r.sent for r in reports] == [12, 12]
        return wire["peak"]

    assert asyncio.run(two_rounds(Lanes())) == 3  # shared: the provider sees its cap
    ledger = MemoryLedger()
    assert asyncio.run(two_rounds(None)) == 6  # each round its own lanes (apply): 3 each
