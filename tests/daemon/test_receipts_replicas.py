"""Two `smsops run` replicas on one PostgreSQL ledger: a receipt lands once, whichever gets it.

A load balancer may hand a provider's postback to either replica, and a
provider posts again when unsure: here every message's final postback goes
to both replicas at once, and E202 for some of them to one replica first.
The ledger ends with exactly one final status per message (the first final
word), and the replicas' metrics together count each change once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from smsops.ledger.postgres import PostgresLedger
from smsops.providers.emulation import Sent
from smsops.providers.skycore_hooks import postbacks
from smsops.sandbox.server import Sandbox
from tests.daemon.daemon import Daemon, running, until
from tests.leases import short_lease_env

NUMBERS = [f"+4474001235{i:02d}" for i in range(8)]
TOKEN = "replica-hook-token-0123456789abcdef"


def write(root: Path, sandbox: Sandbox) -> Path:
    contacts = ", ".join(f"{{phone: '{n}'}}" for n in NUMBERS)
    path = root / "c.yaml"
    path.write_text(
        "providers:\n"
        f"  sky: {{type: skycore, base_url: '{sandbox.base_url('skycore')}', "
        "api_key: '${env:SKY_KEY}', from: '12025550100', webhook_token: '${env:SKY_HOOK}'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        f"audiences:\n  a: {{contacts: [{contacts}]}}\n"
        "schedules:\n  s: {template: t, audience: a, provider: sky}\n"
    )
    return path


def post(daemon: Daemon, body: bytes) -> int:
    url = f"{daemon.base}/hooks/sky/receipts?token={TOKEN}"
    headers = {"content-type": "application/xml"}
    with httpx.Client(timeout=10) as client:
        return client.post(url, content=body, headers=headers).status_code


def counted(daemons: list[Daemon], status: str) -> float:
    sample = f'smsops_receipts_total{{provider="sky",status="{status}"}}'
    return sum(daemon.metric(sample) or 0 for daemon in daemons)


def test_a_receipt_posted_to_either_replica_lands_once(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str
) -> None:
    config = write(tmp_path, sandbox)
    env = {**short_lease_env(), "SKY_KEY": "key", "SKY_HOOK": TOKEN}
    with (
        running(config, postgres_db, env, workdir=tmp_path) as first,
        running(config, postgres_db, env, workdir=tmp_path) as second,
    ):
        until(lambda: len(sandbox.state.snapshot()) == len(NUMBERS))
        ledger = PostgresLedger(postgres_db)
        try:
            until(lambda: ledger.stats() == {"s": {"sent": len(NUMBERS)}})
            sent = [
                Sent("skycore", m["message_id"], m["recipient"], "12025550100", url="http://x/")
                for m in sandbox.state.snapshot()
            ]
            failing = sent[:3]
            for message in failing:  # E202 to the first replica only, first
                (e202,) = postbacks(message, delivered=False, interim=False)
                assert post(first, e202.body) == 200
            answers: list[int] = []
            threads = [
                threading.Thread(target=lambda d=daemon, b=body: answers.append(post(d, b)))
                for message in sent
                for body in [postbacks(message, delivered=True, interim=False)[0].body]
                for daemon in (first, second)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert answers == [200] * 2 * len(sent)
            assert ledger.stats() == {"s": {"delivered": 5, "undelivered": 3}}
        finally:
            ledger.close()
        assert counted([first, second], "undelivered") == 3
        assert counted([first, second], "delivered") == 5  # each row moved once
        assert counted([first, second], "duplicate") == 5 + 6  # the rest changed nothing
    assert first.code == second.code == 0
