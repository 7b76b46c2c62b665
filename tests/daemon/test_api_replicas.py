"""Two `smsops run` replicas on one PostgreSQL ledger: one idempotency key sends once (issue 22).

A client that times out retries, and a load balancer may send the retry to
the other replica: here every key goes to both replicas at once, in threads,
several times. The sandbox receives one message per key, and both replicas
answer each key with the same message id.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from smsops.core.reserved import API_MESSAGES
from smsops.ledger.postgres import PostgresLedger
from smsops.sandbox.server import Sandbox
from tests.daemon.apiserver import BEARER, TOKEN
from tests.daemon.daemon import Daemon, running
from tests.leases import short_lease_env

KEYS = [f"order-{i}" for i in range(20)]


def test_a_key_sent_to_both_replicas_sends_once(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "api:\n  token: ${env:SMSOPS_API_TOKEN}\n"
        "providers:\n"
        f"  sky: {{type: skycore, base_url: '{sandbox.base_url('skycore')}', "
        "api_key: '${env:SKY_KEY}', from: '12025550100'}\n"
        "templates:\n  t: {category: transactional, body: 'Your code is ready'}\n"
    )
    env = {**short_lease_env(), "SKY_KEY": "key", "SMSOPS_API_TOKEN": TOKEN}
    with (
        running(config, postgres_db, env, workdir=tmp_path) as first,
        running(config, postgres_db, env, workdir=tmp_path) as second,
    ):

        def post(job: tuple[Daemon, str]) -> tuple[str, str, str]:
            daemon, key = job
            body = {"template": "t", "to": "+447400123456", "idempotency_key": key}
            with httpx.Client(base_url=daemon.base, headers=BEARER, timeout=30) as client:
                answer = client.post("/v1/messages", json=body)
            assert answer.status_code == 200, answer.text
            found = answer.json()
            return key, found["status"], found.get("message_id", "")

        jobs = [(daemon, key) for _ in range(3) for key in KEYS for daemon in (first, second)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(post, jobs))
        assert len(sandbox.state.snapshot()) == len(KEYS)
        ids: dict[str, set[str]] = {}
        for key, status, message_id in answers:
            if status == "sent":  # a repeat on the other replica mid-send says pending
                ids.setdefault(key, set()).add(message_id)
            else:
                assert status == "pending"
        assert all(len(found) == 1 for found in ids.values())
        ledger = PostgresLedger(postgres_db)
        try:
            assert ledger.stats()[API_MESSAGES] == {"sent": len(KEYS)}
        finally:
            ledger.close()
