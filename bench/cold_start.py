"""Cold start: wall and CPU time of `smsops --help` and `smsops validate examples/configs`.

Each a fresh process (the installed entry point's interpreter), repeated
and interleaved; the import profile of each is in docs/benchmarks.md.
Bytecode is written first (smsops's and the venv's, bench/against.py), as
`pip install` does: without it each start would time the compiler.
`validate` runs as a user's shell runs it, with no SMSOPS_* variable, and
again with SMSOPS_CACHE_DIR set (then pydantic-settings is imported to read
it; see `environment`).

    .venv/bin/python bench/cold_start.py            # 10 runs each
    .venv/bin/python bench/cold_start.py --quick    # 3 runs each
    .venv/bin/python bench/cold_start.py --against c800869  # beside that revision
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from against import Build, builds
from common import ROOT, Series, arguments, beside, cells, interleaved, section, table

VALIDATE = ["validate", str(ROOT / "examples" / "configs")]
SET = "smsops validate examples/configs, SMSOPS_CACHE_DIR set"
COMMANDS = {
    "smsops --help": ["--help"],
    "smsops validate examples/configs": VALIDATE,
    SET: VALIDATE,
}
GOALS = {"smsops --help": 120, "smsops validate examples/configs": 300, SET: 300}


def environment(name: str, build: Build, work: Path) -> dict[str, str]:
    """As a user runs it: no SMSOPS_* variable (the cache under XDG_CACHE_HOME, in `work`).

    A command reads pydantic-settings only when one is set (smsops.config.settings):
    the SET row is the same command with one set, as in CI or a container.
    """
    env = {k: v for k, v in build.environ().items() if not k.lower().startswith("smsops_")}
    env["XDG_CACHE_HOME"] = str(work / "xdg-cache")
    if name == SET:
        env["SMSOPS_CACHE_DIR"] = str(work / "cache")
    return env


def main() -> None:
    args = arguments(__doc__ or "", runs=10, against=True)
    if args.quick:
        args.runs = 3
    with builds(args.against, args.work) as versions, section("Cold start", args):
        times = {(name, b): Series() for name in COMMANDS for b in versions}
        cpu = {(name, b): Series() for name in COMMANDS for b in versions}

        def timed(name: str, build: Build) -> None:
            command = build.smsops(*COMMANDS[name])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                command,
                check=True,
                capture_output=True,
                timeout=60,
                env=environment(name, build, args.work),
                cwd=build.cwd,
            )
            times[name, build].add((time.perf_counter() - started) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            cpu[name, build].add(used * 1000)

        variants = {
            f"{name} {b.name}": (lambda name=name, b=b: timed(name, b))
            for name in COMMANDS
            for b in versions
        }
        interleaved(variants, args.runs)
        rows = []
        for name in COMMANDS:
            mine = times[name, versions[0]].median
            rows.append(
                [
                    name,
                    *cells([times[name, b] for b in versions], 0),
                    *cells([cpu[name, b] for b in versions], 0),
                    f"≤ {GOALS[name]}",
                    "yes" if mine <= GOALS[name] else "no",
                ]
            )
        headers = ["command", *beside("wall time (ms)", versions)]
        headers += [*beside("CPU (ms)", versions), "goal (ms)", "met"]
        print(table(headers, rows))


if __name__ == "__main__":
    main()
