"""What every benchmark needs: data, a sandbox in its own process, timing, memory, tables.

Benchmarks run whole commands (`python -m smsops ...`) the way users do, each
in a fresh process, and repeat them interleaved (A B A B ...) because these
machines are noisy; a table shows the median and the min-max.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from against import HERE, PYTHON, ROOT, Build


def arguments(
    description: str,
    runs: int = 3,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
    *,
    against: bool = False,
) -> argparse.Namespace:
    """The options every benchmark takes; `more` adds a benchmark's own.

    `against`: the benchmark can run an older revision beside this tree
    (`--against REV`, bench/against.py).
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one run (CI smoke)")
    parser.add_argument("--runs", type=int, default=runs, help=f"repeats (default {runs})")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench", help="scratch directory")
    if against:
        parser.add_argument(
            "--against",
            metavar="REV",
            nargs="+",
            help="also run git revision(s) REV (installed apart) interleaved; figures side by side",
        )
    if more is not None:
        more(parser)
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    args.work = args.work.resolve()
    # smsops's normalised-number cache goes with the scratch data, not ~/.cache
    os.environ.setdefault("SMSOPS_CACHE_DIR", str(args.work / "cache"))
    args.work.mkdir(parents=True, exist_ok=True)
    return args


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


# --- data ----------------------------------------------------------------------------


def phone(i: int) -> str:
    """A distinct valid UK mobile number per i (07400 000000 upwards)."""
    return f"+4474{i:08d}"


def write_audience(path: Path, rows: int) -> Path:
    if path.exists() and path.stat().st_size > 0 and _rows(path) == rows:
        return path
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["phone", "name", "order"])
        for i in range(rows):
            writer.writerow([phone(i), f"Name{i % 997}", f"A{i:07d}"])
    return path


def _rows(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f) - 1


def write_config(
    root: Path,
    base_url: str,
    audience: str,
    *,
    rate: str | None = None,
    max_in_flight: int | None = None,
) -> Path:
    """One Opentact provider, one two-variable template, one untriggered schedule.

    The audience file is linked into `root` (copied where a hard link is not
    possible): a config reads only files inside its own directory.
    """
    root.mkdir(parents=True, exist_ok=True)
    inside = root / "audience.csv"
    if not (inside.exists() and inside.samefile(audience)):
        inside.unlink(missing_ok=True)
        try:
            os.link(audience, inside)
        except OSError:
            shutil.copyfile(audience, inside)
    extra = ""
    if rate:
        extra += f", rate_limit: '{rate}'"
    if max_in_flight:
        extra += f", max_in_flight: {max_in_flight}"
    (root / "smsops.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{base_url}', token: '${{env:OT}}', "
        f"from: '+12017771234'{extra}}}\n"
        "templates:\n"
        "  t: {category: transactional, body: 'Hi {{ name }}, order {{ order }} has shipped.'}\n"
        "audiences:\n  a: {source: audience.csv}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n",
        encoding="utf-8",
    )
    return root


def schedules_config(
    root: Path, base_url: str, schedules: int, *, provider: str = "", schedule: str = ""
) -> Path:
    """One Opentact provider, a template naming its schedule, `schedules` untriggered schedules.

    `provider` and `schedule` are added to the provider's and each schedule's
    flow mapping (", max_in_flight: 16"). With no schedules there is no
    audience either. The audience file (`audience.csv`) is the caller's to put in `root`.
    """
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "providers:",
        f"  ot: {{type: opentact, base_url: '{base_url}', token: '${{env:OT}}', "
        f"from: '+12017771234'{provider}}}",
        "templates:",
        "  t: {category: transactional, body: 'Hi {{ name }}, {{ schedule }}.'}",
    ]
    if schedules:
        lines += ["audiences:", "  a: {source: audience.csv}", "schedules:"]
        lines += [
            f"  s{n}: {{template: t, audience: a, provider: ot{schedule}}}"
            for n in range(schedules)
        ]
    (root / "smsops.yaml").write_text("\n".join(lines) + "\n")
    return root


# --- processes -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_processes(
    processes: Sequence[subprocess.Popen[Any]], timeout: float, *, kill: bool = False
) -> None:
    """Ask each process to end (SIGTERM; SIGKILL with `kill`), then wait for each in turn.

    One that has not ended `timeout` seconds into its wait is killed.
    """
    for process in processes:
        if process.poll() is None:
            if kill:
                process.kill()
            else:
                process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` every 50 ms; exit the benchmark if it is not true within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


class SandboxProcess:
    """`smsops sandbox` in its own process, so client and server do not share a GIL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [PYTHON, "-m", "smsops", "sandbox", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.call("GET", "/_sandbox/faults")
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.05)

    def call(self, method: str, path: str, body: dict[str, object] | None = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def reset(self, **faults: object) -> None:
        self.call("DELETE", "/_sandbox/messages")
        if faults:
            self.call("PUT", "/_sandbox/faults", dict(faults))

    def received(self) -> dict[str, Any]:
        """What the sandbox accepted: count, busiest_second, messages."""
        found = self.call("GET", "/_sandbox/messages")
        assert isinstance(found, dict)
        return found

    def count(self) -> int:
        """How many messages the sandbox accepted (without the record: cheap to poll)."""
        found = self.call("GET", "/_sandbox/messages/count")
        assert isinstance(found, dict)
        return int(found["count"])

    def messages(self) -> list[dict[str, object]]:
        return list(self.received()["messages"])

    def close(self) -> None:
        stop_processes([self.process], timeout=10)

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_ledger(path: Path) -> None:
    """The ledger file and its -wal/-shm companions."""
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()


def apply_fresh(
    config: Path,
    ledger: Path | str,
    count: int,
    smsops_command: Sequence[str] = (),
    build: Build = HERE,
) -> float:
    """Seconds of `smsops apply --yes` into a new ledger; fails unless all `count` were sent.

    A path is a SQLite file (removed first); a string a URL (an empty database).
    `smsops_command`: how smsops is started, if not `python -m smsops`.
    """
    if isinstance(ledger, Path):
        remove_ledger(ledger)
    args = ("apply", str(config), "--yes", "--ledger", str(ledger))
    started = time.perf_counter()
    done = subprocess.run(
        [*smsops_command, *args] if smsops_command else build.smsops(*args),
        capture_output=True,
        text=True,
        env=build.environ({"OT": "jwt"}),
        cwd=build.cwd,
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    assert f"Applied: {count} sent" in done.stdout, done.stdout + done.stderr
    return seconds


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    stdout: str
    # user + system CPU of the process and every child it waited for: on a shared
    # machine the wall time moves with the neighbours' load, this much less
    cpu_seconds: float = 0.0


def run_measured(
    command: Sequence[str], env: dict[str, str] | None = None, build: Build = HERE
) -> Measured:
    """Wall time and peak RSS summed over the process and all its children; CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = psutil.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=build.environ(env),
        cwd=build.cwd,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(process))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    sampler.join()
    if process.returncode not in (0, 2):  # 2: plan --detailed-exitcode "changes"
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{err[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Measured(seconds, peak[0] / 2**20, out, cpu)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        for p in [process, *process.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
    except psutil.Error:
        pass
    return total


def smsops(*args: str) -> list[str]:
    return [PYTHON, "-m", "smsops", *args]


# --- statistics and tables -----------------------------------------------------------


@dataclass
class Series:
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, digits: int = 2) -> str:
        if len(self.values) == 1:
            return f"{self.values[0]:.{digits}f}"
        low, high = min(self.values), max(self.values)
        return f"{self.median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def interleaved(variants: dict[str, Callable[[], None]], runs: int) -> None:
    """Run every variant once per round, `runs` rounds: A B C A B C ..."""
    for _ in range(runs):
        for run in variants.values():
            run()


def timed_beside(variants: dict[str, Callable[[], object]], runs: int) -> dict[str, Series]:
    """Each variant's wall time over `runs` interleaved rounds, after one untimed run of
    the first (it fills the normalised-number cache: every variant is measured warm)."""
    series = {name: Series() for name in variants}

    def timed(name: str, run: Callable[[], object]) -> Callable[[], None]:
        def once() -> None:
            start = time.perf_counter()
            run()
            series[name].add(time.perf_counter() - start)

        return once

    next(iter(variants.values()))()
    interleaved({name: timed(name, run) for name, run in variants.items()}, runs)
    return series


def ratio_row(label: Sequence[str], series: dict[str, Series]) -> list[str]:
    """`label`, each variant's time, then each later one's median over the first's."""
    first, *rest = series.values()
    shown = [s.show() for s in series.values()]
    return [*label, *shown, *(f"{s.median / first.median:.2f}×" for s in rest)]


def beside(header: str, builds: Sequence[Build]) -> list[str]:
    """A figure's column headers: one per build, then a ratio per older revision."""
    if len(builds) == 1:
        return [header]
    ratios = ["ratio"] if len(builds) == 2 else [f"ratio to {b.name}" for b in builds[1:]]
    return [f"{header}, {b.name}" for b in builds] + ratios


def cells(series: Sequence[Series], digits: int = 2) -> list[str]:
    """A figure per build (as `beside` names them), then this tree's over each REV's median."""
    shown = [s.show(digits) for s in series]
    shown += [f"{series[0].median / other.median:.2f}" for other in series[1:]]
    return shown


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (what docs/benchmarks.md holds)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@contextmanager
def section(title: str, args: argparse.Namespace) -> Iterator[None]:
    print(f"## {title}\n")
    print(f"Machine: {machine()}; runs: {args.runs} (median, min–max); quick: {args.quick}\n")
    before = os.getloadavg()
    yield
    after = os.getloadavg()
    print(f"\nLoad average (1, 5, 15 min): {_load(before)} before, {_load(after)} after.")
    if getattr(args, "against", None):
        print(
            "Ratio: this tree's median over the other revision's (same run, interleaved):"
            " for a time below 1 is faster, for a rate above 1."
        )
    print()


def _load(averages: tuple[float, float, float]) -> str:
    return ", ".join(f"{a:.1f}" for a in averages)
