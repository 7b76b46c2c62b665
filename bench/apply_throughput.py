"""Apply throughput against the sandbox over loopback, side by side with the naive ways.

5,000 messages at 0 ms and 20 ms of injected provider latency, each variant
in the same run, interleaved:
- `smsops apply` (write-ahead ledger on: every send claimed and settled);
- a naive sequential `httpx.Client` loop, what a hand-written script does;
- Apprise sending the same texts to the same sandbox through its `json://` plugin.

The sandbox runs in its own process. Messages/second counts from process
start to exit for smsops (planning included) and over the send loop for the
others (their setup is not charged).

    .venv/bin/python bench/apply_throughput.py           # 5,000 messages, 3 runs
    .venv/bin/python bench/apply_throughput.py --quick   # 100 messages, one run
    .venv/bin/python bench/apply_throughput.py --against c800869  # smsops apply of both
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from against import Build, builds
from common import (
    PYTHON,
    SandboxProcess,
    Series,
    apply_fresh,
    arguments,
    beside,
    cells,
    interleaved,
    section,
    table,
    write_audience,
    write_config,
)

# The provider's max_in_flight. At 20 ms, n in flight cap any client at n x 50/s
# before CPU counts, and a worker's own CPU per send adds to its 20 ms: smsops at
# 20 ms, 5,000 sends, measured: 64 ~1,650/s, 128 ~2,250/s, 256 ~2,400/s, 512 no
# more. 0 ms does not change.
IN_FLIGHT = 256

# The naive loop and Apprise run in their own process too, like smsops: a
# client sharing the benchmark's interpreter would be measured unfairly.
NAIVE = """
import csv, json, sys, time, httpx
url, path = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(path)))
with httpx.Client(headers={"X-Auth-Token": "jwt"}) as client:
    started = time.perf_counter()
    for row in rows:
        text = f"Hi {row['name']}, order {row['order']} has shipped."
        body = {"from": "12017771234", "to": row["phone"].lstrip("+"), "message": text}
        client.post(url, json=body).raise_for_status()
    print(json.dumps({"seconds": time.perf_counter() - started, "sent": len(rows)}))
"""

APPRISE = """
import csv, json, sys, time, apprise
url, path = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(path)))
sent = 0
started = time.perf_counter()
for row in rows:
    text = f"Hi {row['name']}, order {row['order']} has shipped."
    notifier = apprise.Apprise()
    notifier.add(f"{url}?:to={row['phone'].replace('+', '%2B')}")
    sent += bool(notifier.notify(body=text, title=""))
print(json.dumps({"seconds": time.perf_counter() - started, "sent": sent}))
"""


def loop(script: str, url: str, audience: Path) -> tuple[float, int]:
    done = subprocess.run(
        [PYTHON, "-c", script, url, str(audience)],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return float(found["seconds"]), int(found["sent"])


def smsops_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smsops-only",
        action="store_true",
        help="no naive loop or Apprise (with --against: the two revisions alone, faster)",
    )


def main() -> None:
    args = arguments(__doc__ or "", more=smsops_only, against=True)
    count = 100 if args.quick else 5_000
    audience = write_audience(args.work / f"audience-{count}.csv", count)
    rows, against = [], []
    with (
        builds(args.against, args.work) as versions,
        SandboxProcess() as sandbox,
        section("Apply throughput", args),
    ):
        config = write_config(
            args.work / "apply", sandbox.url + "/opentact", str(audience), max_in_flight=IN_FLIGHT
        )
        for latency in (0, 20):
            mine = {b: Series() for b in versions}
            cpu = {b: Series() for b in versions}  # CPU seconds of smsops per 1,000 sends
            rates = {"naive httpx.Client loop": Series(), "Apprise json://": Series()}

            def smsops_apply(build: Build, latency: int = latency) -> None:
                sandbox.reset(latency_ms=latency)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                seconds = apply_fresh(config, args.work / "apply-ledger.sqlite", count, build=build)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                assert len(sandbox.messages()) == count
                mine[build].add(count / seconds)
                used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                cpu[build].add(used * 1000 / count)

            def naive(latency: int = latency) -> None:
                sandbox.reset(latency_ms=latency)
                seconds, sent = loop(NAIVE, sandbox.url + "/opentact/rest/sms", audience)
                assert sent == count == len(sandbox.messages())
                rates["naive httpx.Client loop"].add(count / seconds)

            def apprise_json(latency: int = latency) -> None:
                sandbox.reset(latency_ms=latency)
                url = sandbox.url.replace("http://", "json://") + "/json/notify"
                seconds, sent = loop(APPRISE, url, audience)
                assert sent == count == len(sandbox.messages())
                rates["Apprise json://"].add(count / seconds)

            variants = {f"smsops {b.name}": (lambda b=b: smsops_apply(b)) for b in versions}
            if not args.smsops_only:
                variants |= {"naive": naive, "apprise": apprise_json}
            interleaved(variants, args.runs)
            senders = {f"smsops apply ({b.name})": mine[b] for b in versions}
            for name, series in {**senders, **rates}.items():
                if not series.values:
                    continue
                base = rates["naive httpx.Client loop"]
                ratio = f"{series.median / base.median:.1f}×" if base.values else "—"
                rows.append([f"{latency} ms", name, series.show(0), ratio])
            against.append(
                [
                    f"{latency} ms",
                    *cells([mine[b] for b in versions], 0),
                    *cells([cpu[b] for b in versions], 2),
                ]
            )
            print(f"{latency} ms done", file=sys.stderr)
        print(table(["latency", "sender", "messages/s", "vs naive loop"], rows))
        print()
        headers = ["latency", *beside("smsops apply (messages/s)", versions)]
        headers += beside("CPU s per 1,000 sends", versions)
        print(table(headers, against))


if __name__ == "__main__":
    main()
