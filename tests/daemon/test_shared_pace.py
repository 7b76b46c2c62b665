"""A provider's `rate_limit` is the account's across replicas (issue 24, docs/scale-out.md).

Three `smsops run` replicas on one PostgreSQL ledger, each sending its own
schedule to one provider limited to 50/s (until replicas share units of one
schedule, a replica takes a schedule's whole round: three schedules, held
until all three replicas answer, then released together by a reload). The
sandbox stamps each request as it arrives; its busiest one-second window is
the verdict, as a provider's limiter would count.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from pathlib import Path

from smsops.ledger.open import open_ledger
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import numbers
from tests.daemon.daemon import running, until

LIMIT = 50
EACH = 60  # messages per replica: 180 in all, ~4 s at the shared limit
REPLICAS = 3


def config(root: Path, sandbox: Sandbox, schedule: str, *, enabled: bool) -> Path:
    """One replica's project: the shared provider, and its own schedule (held until `enabled`)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"{n},P{i}" for i, n in enumerate(numbers(EACH)))
    (root / "people.csv").write_text("phone,name\n" + rows + "\n")
    (root / "smsops.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        f"token: '${{env:OT_TOKEN}}', from: '+12017771234', rate_limit: {LIMIT}/s}}\n"
        "templates:\n"
        "  hello: {category: transactional, body: 'Hello {{ name }}'}\n"
        "audiences:\n"
        "  people: {source: people.csv}\n"
        "schedules:\n"
        f"  {schedule}: {{template: hello, audience: people, provider: ot, "
        f"enabled: {str(enabled).lower()}}}\n"
    )
    return root


def claimers(url: str) -> Counter[str]:
    ledger = open_ledger(url, readonly=True)
    try:
        return Counter(str(r.claimed_by) for r in ledger.records())
    finally:
        ledger.close()


def test_three_replicas_never_send_more_than_the_providers_limit_in_any_second(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str
) -> None:
    env = {**os.environ, "OT_TOKEN": "jwt", "SMSOPS_LEDGER_WAIT": "5"}
    names = [f"s{i}" for i in range(REPLICAS)]
    roots = [config(tmp_path / name, sandbox, name, enabled=False) for name in names]
    with contextlib.ExitStack() as stack:
        for root in roots:
            stack.enter_context(running(root, postgres_db, env, workdir=tmp_path))
        for root, name in zip(roots, names, strict=True):  # all three start within a reload
            config(root, sandbox, name, enabled=True)
        until(lambda: len(sandbox.state.snapshot()) == REPLICAS * EACH, seconds=60)
    assert len(claimers(postgres_db)) == REPLICAS  # each replica sent its schedule
    sent = Counter(m["recipient"] for m in sandbox.state.snapshot())
    assert sent == dict.fromkeys(numbers(EACH), REPLICAS)  # each schedule's once, no more
    assert sandbox.state.busiest_second() <= LIMIT
