"""Receipts per second on `smsops run`'s hook endpoint while a schedule sends (issue 21).

`smsops run` (SQLite ledger) sends one untriggered schedule to the sandbox
(its own process, 20 ms a request, 4 in flight, so the sending lasts the
whole measurement). Once the first sends are out, this process posts
delivery receipts for the messages the sandbox accepted, one receipt per
request in the generic JSON form, to `POST /hooks/ot/receipts` from
CLIENTS keep-alive connections for a few seconds, and then, as the same-run
baseline, as many `GET /healthz` requests the same way (the server's own
floor: the front door, routing and an answer, no ledger). The two phases
alternate, `--runs` times each. Reported: requests per second of each, the
receipts applied (a row moved), duplicates (the same receipt again: the
first pass went through every id), and what the receipts did to the sends
(the sends per second during the hook phases against the healthz phases).

    .venv/bin/python bench/hooks_throughput.py           # 20,000 recipients, 10 s phases
    .venv/bin/python bench/hooks_throughput.py --quick   # 2,000 recipients, 2 s phases
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.daemon

from common import SandboxProcess, Series, arguments, remove_ledger, section, table, write_audience
from common import write_config as write_bench_config

from tests.daemon.daemon import running, until

CLIENTS = 8
TOKEN = "bench-hook-token-of-the-length-tokens-need"  # 32+ characters (config/tokens.py)


def hammer(request: Callable[[httpx.Client, int], httpx.Response], seconds: float) -> Counter[str]:
    """CLIENTS threads calling `request(client, n)` back to back for `seconds`: answers."""
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    ends = time.monotonic() + seconds

    def client(index: int) -> None:
        mine: Counter[str] = Counter()
        with httpx.Client(timeout=10) as http:
            n = index
            while time.monotonic() < ends:
                try:
                    response = request(http, n)
                    mine[str(response.status_code)] += 1
                    if response.status_code == 200 and request.__name__ == "receipt":
                        mine["applied"] += int(response.json().get("applied", 0))
                except httpx.HTTPError:
                    mine["error"] += 1
                n += CLIENTS
        with lock:
            answers.update(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def main() -> int:
    args = arguments(__doc__ or "")
    recipients = 2_000 if args.quick else 20_000
    seconds = 2.0 if args.quick else 10.0
    work = args.work / "hooks"
    work.mkdir(parents=True, exist_ok=True)
    audience = write_audience(work / "audience.csv", recipients)
    ledger = work / "ledger.sqlite"
    remove_ledger(ledger)
    env = {**os.environ, "OT": "jwt", "OT_HOOK": TOKEN, "SMSOPS_LOG_FORMAT": "json"}
    hooks, healthz, sends_hooks, sends_healthz = Series(), Series(), Series(), Series()
    totals: Counter[str] = Counter()
    with SandboxProcess() as sandbox:
        sandbox.reset(latency_ms=20)
        root = write_bench_config(work / "config", sandbox.url + "/opentact", str(audience))
        yaml = root / "smsops.yaml"
        more = "from: '+12017771234', max_in_flight: 4, webhook_token: '${env:OT_HOOK}'"
        yaml.write_text(yaml.read_text().replace("from: '+12017771234'", more))
        with running(root, ledger, env, workdir=work, grace=120) as daemon:
            until(lambda: sandbox.count() >= 200, seconds=120)
            url = daemon.base + f"/hooks/ot/receipts?token={TOKEN}"

            def receipt(http: httpx.Client, n: int) -> httpx.Response:
                ids = known[n % len(known)]
                body = json.dumps({"message_id": ids, "status": "delivered"})
                return http.post(url, content=body, headers={"content-type": "application/json"})

            def probe(http: httpx.Client, n: int) -> httpx.Response:
                return http.get(daemon.base + "/healthz")

            for _ in range(args.runs):
                known = [m["message_id"] for m in sandbox.messages() if m["message_id"]]
                phases = ((receipt, hooks, sends_hooks), (probe, healthz, sends_healthz))
                for request, rate, sends in phases:
                    before = sandbox.count()
                    answers = hammer(request, seconds)
                    sends.add((sandbox.count() - before) / seconds)
                    ok = answers["200"]
                    rate.add(ok / seconds)
                    totals.update({f"{request.__name__} {k}": v for k, v in answers.items()})
            still_sending = sandbox.count() < recipients
    applied, posted = totals["receipt applied"], totals["receipt 200"]
    refused = {k: v for k, v in totals.items() if not k.endswith((" 200", " applied"))}
    with section("Receipts on the hook endpoint while sending — `bench/hooks_throughput.py`", args):
        print(
            f"{recipients:,} recipients through the sandbox (20 ms a request, 4 in flight), "
            f"{CLIENTS} keep-alive clients, {seconds:.0f} s per phase, phases alternating.\n"
        )
        rows = [
            ["`POST /hooks/ot/receipts` (one receipt each)", hooks.show(0), sends_hooks.show(0)],
            ["`GET /healthz` (baseline)", healthz.show(0), sends_healthz.show(0)],
        ]
        print(table(["requests", "answered 200 per second", "sends per second meanwhile"], rows))
        print(
            f"\nReceipts answered 200: {posted:,}, of which applied {applied:,} (the rest "
            f"duplicates of a receipt already applied); refused or failed: {refused or 'none'}; "
            f"the schedule was {'still' if still_sending else 'NOT'} sending at the end."
        )
    return 0 if posted > 0 and applied > 0 and not refused and still_sending else 1


if __name__ == "__main__":
    sys.exit(main())
