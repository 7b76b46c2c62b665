"""Rate-limit accuracy: `smsops apply` with rate_limit 50/s and 500/s for 20 s each.

The sandbox (its own process) stamps each request as it arrives; the table
shows the achieved rate (messages / time from first to last arrival) and the
busiest one-second window, which must never exceed the limit.

    .venv/bin/python bench/rate_limit.py           # 20 s per limit, 3 runs
    .venv/bin/python bench/rate_limit.py --quick   # 3 s per limit, one run
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SandboxProcess,
    Series,
    apply_fresh,
    arguments,
    interleaved,
    section,
    table,
    write_audience,
    write_config,
)


def main() -> None:
    args = arguments(__doc__ or "")
    seconds = 3 if args.quick else 20
    rows = []
    with SandboxProcess() as sandbox, section("Rate-limit accuracy", args):
        results: dict[int, tuple[Series, Series]] = {}
        runs = {}
        for limit in (50, 500):
            count = limit * seconds
            audience = write_audience(args.work / f"audience-{count}.csv", count)
            config = write_config(
                args.work / f"rate-{limit}",
                sandbox.url + "/opentact",
                str(audience),
                rate=f"{limit}/s",
                max_in_flight=64,
            )
            results[limit] = (Series(), Series())

            def run(limit: int = limit, count: int = count, config: Path = config) -> None:
                sandbox.reset()
                apply_fresh(config, args.work / f"rate-{limit}.sqlite", count)
                received = sandbox.received()
                times = sorted(
                    datetime.fromisoformat(str(m["received_at"])).timestamp()
                    for m in received["messages"]
                )
                achieved, busiest = results[limit]
                achieved.add((len(times) - 1) / (times[-1] - times[0]))
                busiest.add(received["busiest_second"])

            runs[str(limit)] = run
        interleaved(runs, args.runs)
        for limit, (achieved, busiest) in results.items():
            error = (achieved.median - limit) / limit * 100
            worst = max(busiest.values)
            rows.append(
                [
                    f"{limit}/s",
                    f"{seconds} s",
                    achieved.show(1),
                    f"{error:+.1f}%",
                    busiest.show(0),
                    "yes" if worst <= limit else f"NO ({worst})",
                ]
            )
        headers = ["limit", "length", "achieved /s", "vs limit", "busiest 1 s window", "held"]
        print(table(headers, rows))


if __name__ == "__main__":
    main()
