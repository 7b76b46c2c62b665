"""Plan at scale: `smsops plan` over CSV audiences of 10k, 100k and 1M rows.

For each size: wall time, CPU time and peak RSS (all processes) of a cold plan (empty
ledger, no cached audience), and of a re-plan when the ledger already holds
90% of the sends (the normalised numbers then come from the cache the cold
run filled, as they would on a second plan). One template with two variables.

    .venv/bin/python bench/plan_scale.py            # 10k, 100k, 1M; 3 runs each
    .venv/bin/python bench/plan_scale.py --quick    # 2k and 20k, one run
    .venv/bin/python bench/plan_scale.py --against c800869 --sizes 1000000

With --against each revision re-plans over a ledger it filled itself (a
ledger written by a newer schema is refused by an older smsops).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from against import HERE, Build, builds
from common import (
    Series,
    arguments,
    beside,
    cells,
    interleaved,
    phone,
    remove_ledger,
    run_measured,
    section,
    table,
    write_audience,
    write_config,
)

from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger


def ledger_with(path: Path, rows: int, share: float, build: Build = HERE) -> Path:
    """A ledger in which the first `share` of the audience is already sent (by `build`)."""
    if path.exists():
        return path
    if build is not HERE:  # written by that revision's own ledger code
        code = (
            "from pathlib import Path; import plan_scale; "
            f"plan_scale.ledger_with(Path({str(path)!r}), {rows}, {share})"
        )
        here = str(Path(__file__).resolve().parent)
        env = build.environ({"PYTHONPATH": os.pathsep.join([here, build.env["PYTHONPATH"]])})
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=build.cwd)
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


def sizes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", help="audience sizes (default 10k 100k 1M)")


def main() -> None:
    args = arguments(__doc__ or "", more=sizes, against=True)
    counts = args.sizes or ([2_000, 20_000] if args.quick else [10_000, 100_000, 1_000_000])
    rows = []
    with builds(args.against, args.work) as versions, section("Plan at scale", args):
        for size in counts:
            rows.append(one_size(args, versions, size))
            print(f"{size:,} rows done", file=sys.stderr)
        headers = [
            "recipients",
            *beside("cold plan (s)", versions),
            *beside("cold CPU (s)", versions),
            *beside("cold peak RSS (MB)", versions),
            *beside("re-plan, 90% in ledger (s)", versions),
            *beside("re-plan CPU (s)", versions),
            *beside("re-plan peak RSS (MB)", versions),
        ]
        print(table(headers, rows))


def one_size(args: argparse.Namespace, versions: list[Build], size: int) -> list[str]:
    root = args.work / f"plan-{size}"
    audience = write_audience(args.work / f"audience-{size}.csv", size)
    config = write_config(root, "http://127.0.0.1:9/opentact", str(audience))
    empty = root / "missing.sqlite"  # plan never creates it: an empty ledger
    plan = ["plan", str(config), "--format", "json"]
    # per build: cold time, cold RSS, re-plan time, re-plan RSS, cold CPU, re-plan CPU
    figures = {b: tuple(Series() for _ in range(6)) for b in versions}
    variants = {}
    for build in versions:
        apart = "" if build is HERE else f"-{build.name}"
        ninety = args.work / f"ledger-{size}-90{apart}.sqlite"
        ledger_with(ninety, size, 0.9, build)
        cache = args.work / f"cache-{size}{apart}"
        env = {"SMSOPS_CACHE_DIR": str(cache)}

        def cold(build: Build = build, cache: Path = cache, env: dict[str, str] = env) -> None:
            shutil.rmtree(cache, ignore_errors=True)  # cold: no normalised numbers
            command = build.smsops(*plan, "--ledger", str(empty))
            measured = run_measured(command, env, build)
            assert json.loads(measured.stdout)["to_send"] == size
            figures[build][0].add(measured.seconds)
            figures[build][1].add(measured.peak_rss_mb)
            figures[build][4].add(measured.cpu_seconds)

        def replan(build: Build = build, ninety: Path = ninety, env: dict[str, str] = env) -> None:
            measured = run_measured(build.smsops(*plan, "--ledger", str(ninety)), env, build)
            assert json.loads(measured.stdout)["summary"]["sent"] == int(size * 0.9)
            figures[build][2].add(measured.seconds)
            figures[build][3].add(measured.peak_rss_mb)
            figures[build][5].add(measured.cpu_seconds)

        variants[f"cold {build.name}"] = cold
        variants[f"replan {build.name}"] = replan
    # cold A, cold B, re-plan A, re-plan B: each re-plan reads the cache its cold run wrote
    order = sorted(variants, key=lambda name: name.startswith("replan"))
    interleaved({name: variants[name] for name in order}, args.runs)
    return [
        f"{size:,}",
        *(
            cell
            for i, digits in ((0, 2), (4, 2), (1, 0), (2, 2), (5, 2), (3, 0))
            for cell in cells([figures[b][i] for b in versions], digits)
        ),
    ]


if __name__ == "__main__":
    main()
