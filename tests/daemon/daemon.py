"""`smsops run` in the background for a test: a free loopback port, probes, SIGTERM, logs.

The daemon runs in its own session with its logs in a file (a pipe nobody
reads while it runs could fill and block it); leaving the `with` block stops
it with SIGTERM (SIGKILL for the whole group if it does not stop in time),
so no process outlives the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    base: str
    log_file: Path
    code: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=2) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()

    def json(self, path: str) -> Any:
        return json.loads(self.get(path)[1])

    def answers(self) -> bool:
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def logs(self) -> str:
        """What it has logged so far (all of it once stopped)."""
        if self.log_file.exists():
            return self.log_file.read_text(errors="replace")
        return self.stderr

    def log_entries(self) -> list[dict[str, Any]]:
        """The JSON log lines (SMSOPS_LOG_FORMAT=json) logged so far."""
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def metric(self, sample: str) -> float | None:
        """The value of one sample line of /metrics, e.g. 'smsops_x_total{a="b"}'."""
        for line in self.get("/metrics")[1].splitlines():
            name, _, value = line.rpartition(" ")
            if name == sample:
                return float(value)
        return None


@contextlib.contextmanager
def running(
    config: Path,
    ledger: Path | str,
    env: Mapping[str, str],
    *,
    workdir: Path | None = None,
    extra: Sequence[str] = (),
    reload_interval: float = 0.2,
    preexec_fn: Callable[[], None] | None = None,
    grace: float = 15.0,
    prelude: str | None = None,
) -> Iterator[Daemon]:
    """`smsops run CONFIG` on a free loopback port until the block ends; it must answer.

    `prelude`: Python run in the daemon's process before the CLI (to inject a fault).
    `workdir` (its logs, its working directory): the ledger file's folder by default
    (give it with a PostgreSQL URL).
    """
    port = free_port()
    workdir = workdir or Path(ledger).parent
    log_file = workdir / f"run-{port}.log"
    entry = ["-m", "smsops"]
    if prelude is not None:
        entry = [
            "-c",
            f"{prelude}\nimport sys\nfrom smsops.cli import main\nsys.exit(main(sys.argv[1:]))",
        ]
    command = [
        sys.executable,
        *entry,
        "run",
        str(config),
        "--listen",
        f"127.0.0.1:{port}",
        "--ledger",
        str(ledger),
        "--reload-interval",
        str(reload_interval),
        *extra,
    ]
    with log_file.open("wb") as logs:
        process = subprocess.Popen(
            command,
            env=dict(env),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=logs,
            stderr=logs,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    daemon = Daemon(process, f"http://127.0.0.1:{port}", log_file)
    try:
        until(lambda: daemon.answers() or process.poll() is not None)
        assert process.poll() is None, f"smsops run exited {process.returncode}:\n{daemon.logs()}"
        yield daemon
        process.send_signal(signal.SIGTERM)
        daemon.code = process.wait(timeout=grace)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything it left behind
        process.wait()
        daemon.seconds = time.monotonic() - daemon.started
        daemon.stderr = daemon.logs()
        log_file.unlink(missing_ok=True)
