"""Plan at scale: `smsops plan` over CSV audiences of 10k, 100k and 1M rows.

For each size: wall time and peak RSS (all processes) of a cold plan (empty
ledger, no cached audience), and of a re-plan when the ledger already holds
90% of the sends (the normalised numbers then come from the cache the cold
run filled, as they would on a second plan). One template with two variables.

    .venv/bin/python bench/plan_scale.py            # 10k, 100k, 1M; 3 runs each
    .venv/bin/python bench/plan_scale.py --quick    # 2k and 20k, one run
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Series,
    arguments,
    interleaved,
    phone,
    remove_ledger,
    run_measured,
    section,
    smsops,
    table,
    write_audience,
    write_config,
)

from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger


def ledger_with(path: Path, rows: int, share: float) -> Path:
    """A ledger in which the first `share` of the audience is already sent."""
    if path.exists():
        return path
    building = path.with_suffix(".building")
    remove_ledger(building)
    ledger = SqliteLedger(building)
    fill(ledger, rows, share)
    ledger.close()
    building.rename(path)
    return path


def fill(ledger: Ledger, rows: int, share: float, occurrence: str = "once") -> None:
    """The first `share` of the audience (bench.common.phone numbering) sent, into `ledger`.

    As schedule `s`'s `occurrence` (a fire time's label for a triggered schedule).
    """
    now = datetime.now(UTC)
    done = int(rows * share)
    for start in range(0, done, 20_000):
        claimed = [
            SendRecord.claim(
                "s",
                occurrence,
                phone(i),
                provider="ot",
                template="t",
                text_hash="bench",
                segments=1,
                now=now,
                claimed_by="bench",
            )
            for i in range(start, min(done, start + 20_000))
        ]
        ledger.claim(claimed)
        ledger.settle([r.settled(Status.SENT, now, message_id="m") for r in claimed])


def main() -> None:
    args = arguments(__doc__ or "")
    sizes = [2_000, 20_000] if args.quick else [10_000, 100_000, 1_000_000]
    rows = []
    with section("Plan at scale", args):
        for size in sizes:
            root = args.work / f"plan-{size}"
            audience = write_audience(args.work / f"audience-{size}.csv", size)
            config = write_config(root, "http://127.0.0.1:9/opentact", str(audience))
            ninety = ledger_with(args.work / f"ledger-{size}-90.sqlite", size, 0.9)
            empty = root / "missing.sqlite"  # plan never creates it: an empty ledger
            plan = ["plan", str(config), "--format", "json"]
            cache = args.work / f"cache-{size}"
            env = {"SMSOPS_CACHE_DIR": str(cache)}
            cold_time, cold_rss, warm_time, warm_rss = Series(), Series(), Series(), Series()

            def cold() -> None:
                shutil.rmtree(cache, ignore_errors=True)  # cold: no normalised numbers
                measured = run_measured(smsops(*plan, "--ledger", str(empty)), env)
                assert json.loads(measured.stdout)["to_send"] == size
                cold_time.add(measured.seconds)
                cold_rss.add(measured.peak_rss_mb)

            def replan() -> None:
                measured = run_measured(smsops(*plan, "--ledger", str(ninety)), env)
                assert json.loads(measured.stdout)["summary"]["sent"] == int(size * 0.9)
                warm_time.add(measured.seconds)
                warm_rss.add(measured.peak_rss_mb)

            interleaved({"cold": cold, "replan": replan}, args.runs)
            rows.append(
                [
                    f"{size:,}",
                    cold_time.show(),
                    cold_rss.show(0),
                    warm_time.show(),
                    warm_rss.show(0),
                ]
            )
            print(f"{size:,} rows done", file=sys.stderr)
        headers = [
            "recipients",
            "cold plan (s)",
            "cold peak RSS (MB)",
            "re-plan, 90% in ledger (s)",
            "re-plan peak RSS (MB)",
        ]
        print(table(headers, rows))


if __name__ == "__main__":
    main()
