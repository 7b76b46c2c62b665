"""Three `smsops run` replicas on one PostgreSQL ledger share one schedule by its units:
every replica sends some of it, every message goes exactly once (the sandbox's messages).

The schedule is enabled by a config change once all three are up (each polls for
changes every 0.2 s), so they start on it together, as replicas do at a fire time.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

import psycopg

from smsops.sandbox.server import Sandbox
from tests.apply.conftest import numbers
from tests.daemon.daemon import running, until
from tests.daemon.test_takeover import replica_env

COUNT = 600
SHARDS = 6


def write(root: Path, sandbox: Sandbox, enabled: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    people = root / "people.csv"
    if not people.exists():
        people.write_text(
            "phone,name\n" + "".join(f"{n},P{i}\n" for i, n in enumerate(numbers(COUNT)))
        )
    (root / "smsops.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT_TOKEN}', from: '+12017771234'}\n"
        "templates:\n"
        "  hello: {category: transactional, body: 'Hello {{ name }}'}\n"
        "audiences:\n"
        "  people: {source: people.csv}\n"
        "schedules:\n"
        f"  greet: {{template: hello, audience: people, provider: ot, shards: {SHARDS}, "
        f"enabled: {str(enabled).lower()}}}\n"
    )
    return root


def senders(url: str) -> Counter[str]:
    """Rows per run that claimed them."""
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT claimed_by, count(*) FROM sends GROUP BY claimed_by")
        return Counter({str(run): int(n) for run, n in found})


def test_three_replicas_share_one_schedule_and_send_each_message_once(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str
) -> None:
    sandbox.state.faults.update({"latency_ms": 100})  # a shard takes a second or so
    root = write(tmp_path / "cfg", sandbox, enabled=False)
    with contextlib.ExitStack() as stack:
        daemons = [
            stack.enter_context(running(root, postgres_db, replica_env(), workdir=tmp_path))
            for _ in range(3)
        ]
        write(root, sandbox, enabled=True)
        until(lambda: len(sandbox.state.snapshot()) >= COUNT, seconds=60)
        until(lambda: sum(senders(postgres_db).values()) == COUNT)
        sent = Counter(message["recipient"] for message in sandbox.state.snapshot())
        assert len(sent) == COUNT
        assert set(sent.values()) == {1}
        by_run = senders(postgres_db)
        pids = {run.split(":")[1] for run in by_run}
        assert pids == {str(d.process.pid) for d in daemons}, by_run  # every replica sent some
