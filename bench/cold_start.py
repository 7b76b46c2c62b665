"""Cold start: wall time of `smsops --help` and `smsops validate examples/configs`.

Each a fresh process (the installed entry point's interpreter), repeated
and interleaved; the import profile of each is in docs/benchmarks.md.

    .venv/bin/python bench/cold_start.py            # 10 runs each
    .venv/bin/python bench/cold_start.py --quick    # 3 runs each
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Series, arguments, interleaved, section, smsops, table

COMMANDS = {
    "smsops --help": smsops("--help"),
    "smsops validate examples/configs": smsops("validate", str(ROOT / "examples" / "configs")),
}
GOALS = {"smsops --help": 120, "smsops validate examples/configs": 300}


def main() -> None:
    args = arguments(__doc__ or "", runs=10)
    if args.quick:
        args.runs = 3
    times = {name: Series() for name in COMMANDS}

    def timed(name: str) -> None:
        started = time.perf_counter()
        subprocess.run(COMMANDS[name], check=True, capture_output=True, timeout=60)
        times[name].add((time.perf_counter() - started) * 1000)

    with section("Cold start", args):
        interleaved({name: (lambda name=name: timed(name)) for name in COMMANDS}, args.runs)
        rows = [
            [
                name,
                series.show(0),
                f"≤ {GOALS[name]}",
                "yes" if series.median <= GOALS[name] else "no",
            ]
            for name, series in times.items()
        ]
        print(table(["command", "wall time (ms)", "goal (ms)", "met"], rows))


if __name__ == "__main__":
    main()
