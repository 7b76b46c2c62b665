"""The pool that normalises a big CSV file's numbers: its answers, and what a worker loads.

A cold plan's peak memory is summed over the planner and its workers: a worker imports the
module of the function it runs (`smsops.audience.normalising`), which must stay small.
"""

from __future__ import annotations

import json
import subprocess
import sys

from smsops.audience.numbers import _computed
from smsops.core.phone import normalize

RAW = ["+447400123456", "07400 123457", "not a number", "", "+1 201 555 0123", "+44"] * 700


def test_the_pool_answers_as_one_process_does() -> None:
    rows = [(i, raw) for i, raw in enumerate(RAW)]
    pooled = list(_computed(iter(rows), "GB", parallel=True))
    assert pooled == [(row, normalize(row[1], "GB")) for row in rows]


def test_a_worker_loads_the_phone_rules_and_not_the_planner() -> None:
    probe = "import json, sys, smsops.audience.normalising; print(json.dumps(sorted(sys.modules)))"
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    modules = set(json.loads(found.stdout))
    assert "phonenumbers" in modules
    unneeded = {"dataclasses", "tempfile", "hashlib", "smsops.core.snapshots", "smsops.config"}
    assert modules & unneeded == set()
